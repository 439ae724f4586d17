// Every domain tag of the Mamori protocol and every byte string that is signed or hashed.
// Each structure has its own tag, "mamori/v1/<name>\0", so that a signature or a digest made for
// one structure can never be taken for another. Changing any byte here breaks every stored
// signature, selector and audit chain: test/unit/trust.test.ts pins known outputs.
//
//   signed (Ed25519)     entry              tag || entry body, exactly as stored and forwarded
//                        consortium         tag || canonical JSON of the consortium document
//                        operator-key-check tag (a probe: does a secret key match its public key)
//                        audit-anchor       tag || u32be-length-prefixed member || u64be last_id || last hash (32 bytes)
//                                           || u64be last_at_ms || u64be pruned_at_ms || u32be retention_days || u64be created_at_ms
//                                           (signed by the member: the link the first kept audit row chains to)
//                        audit-key          tag || u32be-length-prefixed member || audit public key (32 bytes)
//                                           (signed by the member: the key a read replica signs its audit anchors with)
//                        join-request       tag || canonical JSON of a join request without its signature (the member's key)
//   keyed hash           selector <type>    BLAKE2b-256(key = K_epoch, "mamori/v1/<type>\0" || normalized value);
//                                           a later normalization version N: "mamori/v1/<type>.v<N>\0" (SELECTOR_VERSIONS)
//                        selector-cache     BLAKE2b-256(key = the member's SDK cache key, tag || normalized PAN): a cache handle
//   hashed               entry hash         BLAKE2b-256(entry body), no tag: the chain link (prev) and the entry's id
//                        audit              SHA-256(tag || prev hash || u64be id || u64be at_ms || u32be-length-prefixed actor, action, details)
//                        node-config        SHA-256(tag || canonical JSON of the effective node config)
//                        client-token       BLAKE2b-256(tag || token), no key: what a node config stores instead of a token
//                        derived-selectors  SHA-256(tag || the selector rows an entry produced, sorted: digest (32) || u8 type, each)
//   MAC (HMAC-SHA-256)   derived-rows       key = the node-local key (never leaves its node): tag || u64be entry row id
//                                           || entry hash (32) || u64be selector rows || derived-selectors hash (32)
//                                           || u32be-length-prefixed publication row (JSON array, or empty)
//                                           || u64be retraction rows || each, sorted by digest: digest (32) || u64be origin row id
//                                           || u32be-length-prefixed reason
//                        filter-snapshot    key = the node-local key: tag || u32be header length || header JSON || filter bits
//                        verification-      key = the node-local key: tag || u64be last entry row id verified
//                        checkpoint         || u32be-length-prefixed heads JSON ([[origin, seq, hash hex], ...] sorted by origin)
//   TPRF (oblivious PAN  context            "mamori-tprf-v1-ristretto255-SHA512" (proto/ts/oprf/threshold.ts TPRF_CONTEXT)
//   selectors; tags in   hash-to-group      RFC 9380 expand_message_xmd SHA-512, DST "HashToGroup-" || context
//   threshold.ts, as     bin-key            BLAKE2b-512(key = seed r_S, context || "/bin-key\0" || lp(set id) || lp(label) || lp(BIN)) mod L
//   RFC 9497 names them) seed-commitment    BLAKE2b-256(context || "/seed-commitment\0" || lp(set id) || lp(label) || seed)
//                        selector           SHA-512(lp(PAN) || lp(BIN) || lp(k_b·HashToGroup(PAN)) || "Finalize")[0..32)
//                                           (lp(x) = u16be length || x; RFC 9497 POPRF Finalize with info = BIN)
//   issuer notices       issuer-notice-key  BLAKE2b-256(key = X25519(sender box sk, recipient box pk), tag || sender box pk || recipient box pk)
//                        issuer-notice-tag  BLAKE2b-128(key = issuer-notice-key, tag || the sealed box's ephemeral public key)
//
// The MACs authenticate state a node derives for itself (its SQLite rows of publications,
// selectors and retractions; its Bloom filter snapshot; how far its stored entries were last
// verified) against the signed entries they come from: nothing else trusts them, and no other
// node can check them. The filter snapshot's
// SHA-256 checksum (node/src/filter/snapshot.ts) only detects damage; its MAC detects tampering.
import { createHash, createHmac } from 'node:crypto';
import { sodium } from '../sodium';
import { KeyedDigitsDigest } from '../keyed-digest';
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
const AUDIT_ANCHOR_TAG = tag('audit-anchor');
const AUDIT_KEY_TAG = tag('audit-key');
const NODE_CONFIG_TAG = tag('node-config');
const CLIENT_TOKEN_TAG = tag('client-token');
const DERIVED_SELECTORS_TAG = tag('derived-selectors');
const DERIVED_ROWS_TAG = tag('derived-rows');
const FILTER_SNAPSHOT_TAG = tag('filter-snapshot');
const VERIFICATION_CHECKPOINT_TAG = tag('verification-checkpoint');
const ISSUER_NOTICE_KEY_TAG = tag('issuer-notice-key');
const ISSUER_NOTICE_TAG_TAG = tag('issuer-notice-tag');

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

/**
 * The keyed selector types. SELECTOR_TYPE_PAN_OBLIVIOUS is not one: the consortium's threshold
 * PRF computes it (docs/oprf.md), so there is no domain for it here and hashSelector refuses it.
 */
export type SelectorTypeName = Exclude<SelectorType__Output, 'SELECTOR_TYPE_UNSPECIFIED' | 'SELECTOR_TYPE_PAN_OBLIVIOUS'>;

/** The tag name of each keyed selector type; domain separation keeps a PAN digest from ever matching a merchant digest. */
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

/**
 * Normalization versions of a selector type. A change of normalization is a new version with its
 * own tag, "<type tag>.v<N>" (version 1 is the plain tag), under the same SelectorType on the
 * wire: members publish under the newest version and look up every version whose listings can
 * still be valid (dual lookup). Version 2 of the name+address selector reads Japanese address
 * forms as one (proto/ts/jp-address.ts).
 */
export const SELECTOR_VERSIONS: Readonly<Partial<Record<SelectorTypeName, readonly number[]>>> = Object.freeze({
  SELECTOR_TYPE_MERCHANT_NAME_ADDRESS: Object.freeze([1, 2]),
});

/** The tag name of a selector type at a normalization version: "merchant.name_address", "merchant.name_address.v2". */
export function selectorTagName(type: SelectorTypeName, version = 1): string {
  const base = SELECTOR_DOMAINS[type];
  if (base === undefined) throw new Error(`unknown selector type ${String(type)}`);
  if (version === 1) return base;
  if (!(SELECTOR_VERSIONS[type] ?? [1]).includes(version)) throw new Error(`selector type ${type} has no version ${version}`);
  return `${base}.v${version}`;
}

const versionedTags = new Map<string, Buffer>();

/**
 * A selector: BLAKE2b-256(key = K_epoch, msg = "mamori/v1/" + tag + "\0" + normalized), tag the
 * type's tag at the given normalization version. Hashing a Buffer is about twice as fast as a
 * string in libsodium-wrappers.
 */
export function hashSelector(key: Uint8Array, type: SelectorTypeName, normalized: string, version = 1): Buffer {
  let prefix = version === 1 ? selectorTags.get(type) : versionedTags.get(`${type}#${version}`);
  if (!prefix && version !== 1) {
    prefix = tag(selectorTagName(type, version));
    versionedTags.set(`${type}#${version}`, prefix);
  }
  if (!prefix) throw new Error(`unknown selector type ${String(type)}`);
  const valueLength = Buffer.byteLength(normalized, 'utf8');
  const message = Buffer.allocUnsafe(prefix.length + valueLength);
  prefix.copy(message, 0);
  message.write(normalized, prefix.length, 'utf8');
  const digest = sodium().crypto_generichash(DIGEST_BYTES, message, key);
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength); // a view, not a copy
}

const PAN_TAG = selectorTags.get('SELECTOR_TYPE_PAN') as Buffer;
/** Normalized PANs are 12-19 digits. */
const PAN_DIGITS_MAX = 19;
/** Hashed in libsodium's memory without per-call copies: hashing is synchronous, one message at a time. */
const panDigest = new KeyedDigitsDigest(PAN_TAG, PAN_DIGITS_MAX, DIGEST_BYTES);

/** hashSelector for a normalized PAN (12-19 ASCII digits): the check hot path. */
export function panSelector(key: Uint8Array, digits: string): Buffer {
  if (digits.length > PAN_DIGITS_MAX) return hashSelector(key, 'SELECTOR_TYPE_PAN', digits);
  return panDigest.copy(key, digits);
}

/**
 * panSelector as a view of libsodium's memory, valid until the next panSelectorView or
 * panSelector call: for a lookup that reads the digest at once (a Bloom filter's has()).
 */
export function panSelectorView(key: Uint8Array, digits: string): Uint8Array {
  if (digits.length > PAN_DIGITS_MAX) return hashSelector(key, 'SELECTOR_TYPE_PAN', digits);
  return panDigest.view(key, digits);
}

const SELECTOR_CACHE_TAG = tag('selector-cache');
const cacheDigest = new KeyedDigitsDigest(SELECTOR_CACHE_TAG, PAN_DIGITS_MAX, DIGEST_BYTES);

/**
 * The handle the SDK files a card's oblivious selector under in its member-local cache:
 * BLAKE2b-256(key = the member's cache key, tag || normalized PAN). Keyed, so no card number is
 * a map key and an exported cache cannot be tested without the key; the cached check's hot path.
 */
export function selectorCacheHandle(key: Uint8Array, digits: string): Buffer {
  if (digits.length > PAN_DIGITS_MAX) throw new Error('a cache handle takes a normalized PAN of at most 19 digits');
  return cacheDigest.copy(key, digits);
}

/** selectorCacheHandle as a view of libsodium's memory, valid until the next handle is computed: a cached check reads it at once. */
export function selectorCacheHandleView(key: Uint8Array, digits: string): Uint8Array {
  if (digits.length > PAN_DIGITS_MAX) throw new Error('a cache handle takes a normalized PAN of at most 19 digits');
  return cacheDigest.view(key, digits);
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

/** What an audit anchor states: rows up to lastId (the last dated lastAtMs, hash `hash`) were pruned at prunedAtMs. */
export interface AuditAnchorFields {
  member: string;
  lastId: number;
  hash: Buffer;
  lastAtMs: number;
  prunedAtMs: number;
  retentionDays: number;
  /** When this audit log began (its first anchor was signed): nothing in it can be older. */
  createdAtMs: number;
}

/**
 * Bytes a member signs (Ed25519, its ledger signing key) for the anchor of its audit log:
 * tag || u32be(len) member || u64be(last_id) || hash (32 bytes) || u64be(last_at_ms)
 * || u64be(pruned_at_ms) || u32be(retention_days) || u64be(created_at_ms). Without the key,
 * nobody can move the anchor forward to cut rows from the front of the log.
 */
export function auditAnchorSigningBytes(a: AuditAnchorFields): Buffer {
  if (a.hash.length !== 32) throw new Error('an audit anchor hash is 32 bytes');
  const retention = Buffer.alloc(4);
  retention.writeUInt32BE(a.retentionDays);
  return Buffer.concat([AUDIT_ANCHOR_TAG, lengthPrefixed(a.member), u64(a.lastId), a.hash, u64(a.lastAtMs), u64(a.prunedAtMs), retention, u64(a.createdAtMs)]);
}

/**
 * Bytes a member signs (its ledger signing key) to endorse the key a node without that key (a
 * read replica) signs its audit anchors with: tag || u32be(len) member || the Ed25519 public key.
 */
export function auditKeyEndorsementBytes(member: string, auditPublicKey: Uint8Array): Buffer {
  if (auditPublicKey.length !== 32) throw new Error('an audit public key is 32 bytes');
  return Buffer.concat([AUDIT_KEY_TAG, lengthPrefixed(member), Buffer.from(auditPublicKey)]);
}

/** SHA-256 (hex) of a node's effective configuration, recorded in the audit log: a changed setting shows as a new digest. */
export function nodeConfigDigest(config: unknown): string {
  return createHash('sha256').update(NODE_CONFIG_TAG).update(canonicalJson(config)).digest('hex');
}

/** BLAKE2b-256 (hex) of a client token: stored instead of the token, so a node config never holds it. */
export function clientTokenDigest(token: string): string {
  return Buffer.from(sodium().crypto_generichash(32, Buffer.concat([CLIENT_TOKEN_TAG, Buffer.from(token, 'utf8')]), null)).toString('hex');
}

// ---- MACs under the node-local key: derived state a node checks against its own signed entries ----

/** Bytes of one selector row in a derived-selectors hash: digest (32) || u8 selector type number. */
export const DERIVED_SELECTOR_RECORD_BYTES = DIGEST_BYTES + 1;

/**
 * SHA-256 (no key) of the selector rows one entry produced: tag || records, each digest (32) ||
 * u8 type, sorted by digest. Stored per entry and itself covered by derivedRowsMac.
 */
export function derivedSelectorsHash(sortedRecords: Uint8Array): Buffer {
  return createHash('sha256').update(DERIVED_SELECTORS_TAG).update(sortedRecords).digest();
}

export interface DerivedRowsMacInput {
  entryId: number;
  entryHash: Uint8Array;
  selectorRows: number;
  selectorsHash: Uint8Array;
  /** The publication row's fields as a JSON array (derived-state.ts), or '' for an entry with none. */
  publication: string;
  /** Retraction rows sorted by digest. */
  retractions: readonly { digest: Uint8Array; originId: number; reason: string }[];
}

/** HMAC-SHA-256 under the node-local key of the rows a node derived from one entry (layout above). */
export function derivedRowsMac(key: Uint8Array, input: DerivedRowsMacInput): Buffer {
  const mac = createHmac('sha256', key)
    .update(DERIVED_ROWS_TAG)
    .update(u64(input.entryId))
    .update(input.entryHash)
    .update(u64(input.selectorRows))
    .update(input.selectorsHash)
    .update(lengthPrefixed(input.publication))
    .update(u64(input.retractions.length));
  for (const r of input.retractions) mac.update(r.digest).update(u64(r.originId)).update(lengthPrefixed(r.reason));
  return mac.digest();
}

/** HMAC-SHA-256 under the node-local key of a filter snapshot: its header JSON (without the MAC) and its bits. */
export function filterSnapshotMac(key: Uint8Array, header: Uint8Array, bits: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  return createHmac('sha256', key).update(FILTER_SNAPSHOT_TAG).update(length).update(header).update(bits).digest();
}

/**
 * HMAC-SHA-256 under the node-local key of a verification checkpoint: the last entry row id a
 * completed verification walked and each origin's head there, as canonical JSON (layout above).
 */
export function verificationCheckpointMac(key: Uint8Array, coveredRowId: number, headsJson: string): Buffer {
  return createHmac('sha256', key).update(VERIFICATION_CHECKPOINT_TAG).update(u64(coveredRowId)).update(lengthPrefixed(headsJson)).digest();
}

// ---- issuer notices: recognised by the issuer, anonymous to everyone else ----

export const ISSUER_NOTICE_TAG_BYTES = 16;

/**
 * The key a sender tags its notices to one recipient with: BLAKE2b-256(key = X25519 shared
 * secret of the sender's and the recipient's box keys, msg = tag || sender box pk || recipient
 * box pk). Only those two members can derive it; the direction is part of the input.
 */
export function issuerNoticeTagKey(sharedSecret: Uint8Array, senderBoxPublicKey: Uint8Array, recipientBoxPublicKey: Uint8Array): Buffer {
  const message = Buffer.concat([ISSUER_NOTICE_KEY_TAG, senderBoxPublicKey, recipientBoxPublicKey]);
  return Buffer.from(sodium().crypto_generichash(32, message, sharedSecret));
}

/**
 * A notice's tag: BLAKE2b-128(key = issuerNoticeTagKey, msg = tag || the sealed box's ephemeral
 * public key, its first 32 bytes). Fresh for every notice, so tags link neither to an issuer nor
 * to each other across entries.
 */
export function issuerNoticeTag(tagKey: Uint8Array, ephemeralPublicKey: Uint8Array): Buffer {
  const message = Buffer.concat([ISSUER_NOTICE_TAG_TAG, ephemeralPublicKey]);
  return Buffer.from(sodium().crypto_generichash(ISSUER_NOTICE_TAG_BYTES, message, tagKey));
}
