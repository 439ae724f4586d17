// A selector is BLAKE2b-256(key = K_epoch, msg = "mamori/v1/" + type + "\0" + normalized).
// Domain separation by type keeps a PAN digest from ever matching a merchant digest.
import { sodium } from './sodium';
import type { SelectorType__Output } from '../gen/mamori/v1/SelectorType';

export const DIGEST_BYTES = 32;
export const HASHING_KEY_BYTES = 32;

export type SelectorTypeName = Exclude<SelectorType__Output, 'SELECTOR_TYPE_UNSPECIFIED'>;

export const SELECTOR_DOMAINS: Readonly<Record<SelectorTypeName, string>> = Object.freeze({
  SELECTOR_TYPE_PAN: 'pan',
  SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER: 'merchant.corporate_number',
  SELECTOR_TYPE_MERCHANT_DOMAIN: 'merchant.domain',
  SELECTOR_TYPE_MERCHANT_PHONE: 'merchant.phone',
  SELECTOR_TYPE_MERCHANT_NAME_ADDRESS: 'merchant.name_address',
  SELECTOR_TYPE_MERCHANT_REPRESENTATIVE: 'merchant.representative',
  SELECTOR_TYPE_MERCHANT_ACQUIRER_MID: 'merchant.acquirer_mid',
  SELECTOR_TYPE_BIN: 'bin',
});

const prefixes = new Map<SelectorTypeName, Buffer>(
  (Object.keys(SELECTOR_DOMAINS) as SelectorTypeName[]).map((t) => [t, Buffer.from(`mamori/v1/${SELECTOR_DOMAINS[t]}\0`, 'utf8')]),
);

/** Hashes an already-normalized value. Hashing a Buffer is about twice as fast as a string in libsodium-wrappers. */
export function hashSelector(key: Uint8Array, type: SelectorTypeName, normalized: string): Buffer {
  const prefix = prefixes.get(type);
  if (!prefix) throw new Error(`unknown selector type ${String(type)}`);
  const valueLength = Buffer.byteLength(normalized, 'utf8');
  const message = Buffer.allocUnsafe(prefix.length + valueLength);
  prefix.copy(message, 0);
  message.write(normalized, prefix.length, 'utf8');
  const digest = sodium().crypto_generichash(DIGEST_BYTES, message, key);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength); // a view, not a copy
}

const PAN_PREFIX = prefixes.get('SELECTOR_TYPE_PAN') as Buffer;
/** The message buffer of panSelector, reused: hashing is synchronous, one message at a time. */
const panMessage = Buffer.alloc(PAN_PREFIX.length + 19);
PAN_PREFIX.copy(panMessage, 0);

/** Selector of a normalized PAN (12-19 ASCII digits): the check hot path, no allocation for the message. */
export function panSelector(key: Uint8Array, digits: string): Buffer {
  if (digits.length > 19) return hashSelector(key, 'SELECTOR_TYPE_PAN', digits);
  const written = panMessage.write(digits, PAN_PREFIX.length, 'latin1');
  const digest = sodium().crypto_generichash(DIGEST_BYTES, panMessage.subarray(0, PAN_PREFIX.length + written), key);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}
