// Every domain tag of the Mamori protocol and every byte string that is signed or hashed.
// Each structure has its own tag, "mamori/v1/<name>\0", so that a signature or a digest made for
// one structure can never be taken for another. Changing any byte here breaks every stored
// signature, selector and audit chain: test/unit/trust.test.ts pins known outputs.
//
//   signed (Ed25519)     entry              tag || entry body, exactly as stored and forwarded
//                        consortium         tag || canonical JSON of the consortium document
//                        operator-key-check tag (a probe: does a secret key match its public key)
//                        join-request       tag || canonical JSON of a join request without its signature (the member's key)
//   keyed hash           selector <type>    BLAKE2b-256(key = K_epoch, "mamori/v1/<type>\0" || normalized value)
//   hashed               entry hash         BLAKE2b-256(entry body), no tag: the chain link (prev) and the entry's id
//                        audit              SHA-256(tag || prev hash || u64be id || u64be at_ms || u32be-length-prefixed actor, action, details)
//                        node-config        SHA-256(tag || canonical JSON of the effective node config)
//                        client-token       BLAKE2b-256(tag || token), no key: what a node config stores instead of a token
//
// Not here: the SHA-256 checksum of the Bloom filter snapshot (node/src/index/snapshot.ts), which
// only detects damage to a local file and is trusted by nothing.
import { createHash } from 'node:crypto';
import { sodium } from '../sodium';
import type { SelectorType__Output } from '../../gen/mamori/v1/SelectorType';

const NAMESPACE = 'mamori/v1/';

function tag(name: string): Buffer {
  return Buffer.from(`${NAMESPACE}${name}\0`, 'utf8');
}

const ENTRY_TAG = tag('entry');
const CONSORTIUM_TAG = tag('consortium');
const OPERATOR_KEY_CHECK_TAG = tag('operator-key-check');
const JOIN_REQUEST_TAG = tag('join-request');
const AUDIT_TAG = tag('audit');
const NODE_CONFIG_TAG = tag('node-config');
const CLIENT_TOKEN_TAG = tag('client-token');

// ---- signed ----

/** Bytes an origin signs for a ledger entry: tag || body (the body exactly as stored). */
export function entrySigningBytes(body: Uint8Array): Buffer {
  return Buffer.concat([ENTRY_TAG, body]);
}

/** Bytes the operator signs for a consortium document: tag || canonical JSON. */
export function consortiumSigningBytes(canonicalDocument: string): Buffer {
  return Buffer.concat([CONSORTIUM_TAG, Buffer.from(canonicalDocument, 'utf8')]);
}

/** Bytes a joining member signs with its Ed25519 key: tag || canonical JSON of its join request (signature left out). */
export function joinRequestSigningBytes(canonicalRequest: string): Buffer {
  return Buffer.concat([JOIN_REQUEST_TAG, Buffer.from(canonicalRequest, 'utf8')]);
}

/** Signed and verified once to check that an operator's secret key belongs to its public key; never stored. */
export function operatorKeyCheckBytes(): Buffer {
  return Buffer.from(OPERATOR_KEY_CHECK_TAG);
}

/** JSON with object keys sorted at every level, so the signed bytes do not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

// ---- selectors: keyed hashes of normalized values ----

export const DIGEST_BYTES = 32;
export const HASHING_KEY_BYTES = 32;

export type SelectorTypeName = Exclude<SelectorType__Output, 'SELECTOR_TYPE_UNSPECIFIED'>;

/** The tag name of each selector type; domain separation keeps a PAN digest from ever matching a merchant digest. */
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

const selectorTags = new Map<SelectorTypeName, Buffer>((Object.keys(SELECTOR_DOMAINS) as SelectorTypeName[]).map((t) => [t, tag(SELECTOR_DOMAINS[t])]));

/** A selector: BLAKE2b-256(key = K_epoch, msg = "mamori/v1/" + type + "\0" + normalized). Hashing a Buffer is about twice as fast as a string in libsodium-wrappers. */
export function hashSelector(key: Uint8Array, type: SelectorTypeName, normalized: string): Buffer {
  const prefix = selectorTags.get(type);
  if (!prefix) throw new Error(`unknown selector type ${String(type)}`);
  const valueLength = Buffer.byteLength(normalized, 'utf8');
  const message = Buffer.allocUnsafe(prefix.length + valueLength);
  prefix.copy(message, 0);
  message.write(normalized, prefix.length, 'utf8');
  const digest = sodium().crypto_generichash(DIGEST_BYTES, message, key);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength); // a view, not a copy
}

const PAN_TAG = selectorTags.get('SELECTOR_TYPE_PAN') as Buffer;
/** The message buffer of panSelector, reused: hashing is synchronous, one message at a time. */
const panMessage = Buffer.alloc(PAN_TAG.length + 19);
PAN_TAG.copy(panMessage, 0);

/** hashSelector for a normalized PAN (12-19 ASCII digits): the check hot path, no allocation for the message. */
export function panSelector(key: Uint8Array, digits: string): Buffer {
  if (digits.length > 19) return hashSelector(key, 'SELECTOR_TYPE_PAN', digits);
  const written = panMessage.write(digits, PAN_TAG.length, 'latin1');
  const digest = sodium().crypto_generichash(DIGEST_BYTES, panMessage.subarray(0, PAN_TAG.length + written), key);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength);
}

// ---- hashed ----

/** BLAKE2b-256 of an entry body: the chain link (prev) and the entry's identity. */
export function entryHash(body: Uint8Array): Buffer {
  return Buffer.from(sodium().crypto_generichash(32, body, null));
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function lengthPrefixed(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/**
 * The hash of one audit row, chained to the previous row's: SHA-256(tag || prev_hash (32 bytes)
 * || u64be(id) || u64be(at_ms) || u32be(len) actor || u32be(len) action || u32be(len) details),
 * strings in UTF-8. SHA-256 from node:crypto (not libsodium): verification needs no async
 * initialisation and any tool can recompute a row's hash.
 */
export function auditRowHash(prevHash: Buffer, id: number, atMs: number, actor: string, action: string, details: string): Buffer {
  return createHash('sha256')
    .update(AUDIT_TAG)
    .update(prevHash)
    .update(u64(id))
    .update(u64(atMs))
    .update(lengthPrefixed(actor))
    .update(lengthPrefixed(action))
    .update(lengthPrefixed(details))
    .digest();
}

/** SHA-256 (hex) of a node's effective configuration, recorded in the audit log: a changed setting shows as a new digest. */
export function nodeConfigDigest(config: unknown): string {
  return createHash('sha256').update(NODE_CONFIG_TAG).update(canonicalJson(config)).digest('hex');
}

/** BLAKE2b-256 (hex) of a client token: stored instead of the token, so a node config never holds it. */
export function clientTokenDigest(token: string): string {
  return Buffer.from(sodium().crypto_generichash(32, Buffer.concat([CLIENT_TOKEN_TAG, Buffer.from(token, 'utf8')]), null)).toString('hex');
}
