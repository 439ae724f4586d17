// Ledger entries and the consortium document (docs/protocol.md#signed-bytes): bodies as
// fields, their canonical protobuf encoding, the bytes signed, the Ed25519 signature under a
// fixed key (Ed25519 is deterministic), the entry hash; and an issuer notice sealed with a
// fixed ephemeral key, its tag and its plaintext.
import * as protobuf from 'protobufjs';
import { encodeEntryBody, ZERO_HASH } from '../../node/src/ledger/entry';
import { encodeNoticeIndexes, noticeSlots } from '../../node/src/ledger/issuer-notices';
import type { EntryBody } from '../../proto/gen/mamori/v1/EntryBody';
import { sodium } from '../../proto/ts/sodium';
import { canonicalJson, consortiumSigningBytes, entryHash, entrySigningBytes, hashSelector, issuerNoticeTag, issuerNoticeTagKey } from '../../proto/ts/trust/domains';
import { signDetached } from '../../proto/ts/trust/verify';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { fixedBytes, hex, TEST_SELECTOR_KEY, vectorFile, type VectorFile } from './common';

export type Role = 'issuer' | 'acquirer' | 'psp';

export interface TestMember {
  id: string;
  roles: Role[];
  oprfEvaluator?: boolean;
  signing: { publicKey: Buffer; secretKey: Buffer; seed: Buffer };
  box: { publicKey: Buffer; secretKey: Buffer };
}

/** Members with keys from fixed seeds: crypto_sign_seed_keypair and crypto_box_seed_keypair. */
export function testMembers(): TestMember[] {
  const make = (id: string, roles: Role[], oprfEvaluator?: boolean): TestMember => {
    const seed = fixedBytes(`ed25519 ${id}`);
    const signing = sodium().crypto_sign_seed_keypair(seed);
    const box = sodium().crypto_box_seed_keypair(fixedBytes(`x25519 ${id}`));
    return {
      id,
      roles,
      ...(oprfEvaluator ? { oprfEvaluator } : {}),
      signing: { publicKey: Buffer.from(signing.publicKey), secretKey: Buffer.from(signing.privateKey), seed },
      box: { publicKey: Buffer.from(box.publicKey), secretKey: Buffer.from(box.privateKey) },
    };
  };
  return [make('issuer-a', ['issuer']), make('acquirer-b', ['acquirer']), make('psp-c', ['psp']), make('evaluator-d', ['issuer'], true)];
}

export function memberFixture(m: TestMember): Record<string, unknown> {
  return {
    id: m.id,
    roles: m.roles,
    ...(m.oprfEvaluator ? { oprfEvaluator: true } : {}),
    signingSeed: hex(m.signing.seed),
    signingPublicKey: hex(m.signing.publicKey),
    boxSecretKey: hex(m.box.secretKey),
    boxPublicKey: hex(m.box.publicKey),
  };
}

/** JSON of a body: Buffers as hex strings. */
export function bodyJson(body: EntryBody): unknown {
  return JSON.parse(JSON.stringify(body, (_key, value: unknown) => (isBufferJson(value) ? Buffer.from(value.data).toString('hex') : value)));
}

function isBufferJson(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data);
}

/**
 * A sealed box made as crypto_box_seal makes one, with a fixed ephemeral key pair instead of a
 * fresh one: ephemeral pk || crypto_box_easy(m, nonce = BLAKE2b-192(ephemeral pk || recipient pk)).
 */
export function sealWithFixedEphemeral(plaintext: Uint8Array, recipientPublicKey: Uint8Array, label: string): { sealed: Buffer; ephemeralPublicKey: Buffer } {
  const s = sodium();
  const eph = s.crypto_box_seed_keypair(fixedBytes(`ephemeral ${label}`));
  const nonce = s.crypto_generichash(24, Buffer.concat([eph.publicKey, recipientPublicKey]), null);
  const box = s.crypto_box_easy(plaintext, nonce, recipientPublicKey, eph.privateKey);
  return { sealed: Buffer.concat([eph.publicKey, box]), ephemeralPublicKey: Buffer.from(eph.publicKey) };
}

export const CREATED_AT_MS = 1_760_000_000_000;
const DAY_MS = 86_400_000;

const pan = (n: number): string => withLuhnDigit(`0012345678${String(n).padStart(5, '0')}`);
export const panDigest = (n: number): Buffer => hashSelector(TEST_SELECTOR_KEY, 'SELECTOR_TYPE_PAN', pan(n));

export interface EntryCase {
  id: string;
  origin: string;
  /** EntryBody fields (proto field names in lowerCamelCase; bytes as hex; enums by name). */
  body: unknown;
  /** The canonical protobuf encoding of body: what is signed, stored and forwarded. */
  bodyBytes: string;
  /** "mamori/v1/entry" || 0x00 || bodyBytes. */
  signingBytes: string;
  /** Ed25519 of signingBytes under the origin's key. */
  signature: string;
  /** BLAKE2b-256(bodyBytes), unkeyed: the entry's id and the next entry's prev. */
  hash: string;
}

export interface SignedTestEntry {
  id: string;
  origin: string;
  body: EntryBody;
  bytes: Buffer;
  signature: Buffer;
  hash: Buffer;
}

export function signBody(id: string, member: TestMember, body: EntryBody): SignedTestEntry {
  const bytes = encodeEntryBody(body);
  return { id, origin: member.id, body, bytes, signature: signDetached(entrySigningBytes(bytes), member.signing.secretKey), hash: entryHash(bytes) };
}

/** The fixed entries, each chained onto its origin's previous one. */
export function testEntries(members: TestMember[]): { entries: SignedTestEntry[]; notice: Record<string, string> } {
  const [issuer, acquirer, psp, evaluator] = members as [TestMember, TestMember, TestMember, TestMember];
  const heads = new Map<string, { seq: number; hash: Buffer }>();
  const entries: SignedTestEntry[] = [];
  const next = (id: string, m: TestMember, keyEpoch: number, operation: Partial<EntryBody>, createdAtMs = CREATED_AT_MS): SignedTestEntry => {
    const head = heads.get(m.id) ?? { seq: 0, hash: ZERO_HASH };
    const e = signBody(id, m, { origin: m.id, seq: head.seq + 1, prev: head.hash, createdAtMs, keyEpoch, ...operation });
    heads.set(m.id, { seq: head.seq + 1, hash: e.hash });
    entries.push(e);
    return e;
  };

  // Issuer notice: psp-c lists three cards; issuer-a owns the BIN range of cards 0 and 2.
  const plaintext = encodeNoticeIndexes([0, 2], noticeSlots(2));
  const { sealed, ephemeralPublicKey } = sealWithFixedEphemeral(plaintext, issuer.box.publicKey, 'notice psp-c issuer-a');
  const shared = Buffer.from(sodium().crypto_scalarmult(psp.box.secretKey, issuer.box.publicKey));
  const tagKey = issuerNoticeTagKey(shared, psp.box.publicKey, issuer.box.publicKey);
  const tag = issuerNoticeTag(tagKey, ephemeralPublicKey);
  const notice = { sender: psp.id, recipient: issuer.id, indexes: '0,2', plaintext: hex(plaintext), ephemeralPublicKey: hex(ephemeralPublicKey), sharedSecret: hex(shared), tagKey: hex(tagKey), tag: hex(tag), sealed: hex(sealed) };

  const validity = { validFromMs: CREATED_AT_MS, validUntilMs: CREATED_AT_MS + 365 * DAY_MS };
  next('psp-c-1-publish-cards', psp, 1, {
    publishIndicators: {
      kind: 'INDICATOR_KIND_COMPROMISED_CARD',
      reason: 'REASON_CODE_SKIMMING',
      exposed: ['DATA_ELEMENT_PAN', 'DATA_ELEMENT_EXPIRY'],
      confidence: 90,
      ...validity,
      eventId: 'evt-2025-10-skim-01',
      indicators: [0, 1, 2].map((n) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(n) }] })),
      issuerNotices: [{ tag, sealed }],
    },
  });
  next('psp-c-2-retract', psp, 1, { retract: { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(1) }], reason: 'RETRACT_REASON_REISSUED' } });
  next('psp-c-3-publish-oblivious', psp, 0, {
    publishIndicators: {
      kind: 'INDICATOR_KIND_COMPROMISED_CARD',
      reason: 'REASON_CODE_PHISHING',
      exposed: ['DATA_ELEMENT_PAN'],
      confidence: 70,
      ...validity,
      indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_PAN_OBLIVIOUS', digest: fixedBytes('an oblivious selector') }] }],
    },
  });
  next('acquirer-b-1-publish-merchant', acquirer, 1, {
    publishIndicators: {
      kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
      reason: 'REASON_CODE_ACCOUNT_DATA_COMPROMISE',
      confidence: 80,
      ...validity,
      indicators: [
        {
          selectors: [
            { type: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', digest: hashSelector(TEST_SELECTOR_KEY, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'スマイル\n千代田区丸の内1-1-1', 2) },
            { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: hashSelector(TEST_SELECTOR_KEY, 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'example.com') },
          ],
        },
      ],
    },
  });
  next('acquirer-b-2-card-testing', acquirer, 1, {
    cardTestingReport: { bin: '001234', bucketStartMs: CREATED_AT_MS - (CREATED_AT_MS % 900_000) - 900_000, bucketMinutes: 15, attempts: 420, declines: 401, merchant: { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: hashSelector(TEST_SELECTOR_KEY, 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'example.com') } },
  });
  next('issuer-a-1-sightings', issuer, 1, {
    sightings: {
      sightings: [
        { selector: { type: 'SELECTOR_TYPE_PAN', digest: panDigest(0) }, outcome: 'SIGHTING_OUTCOME_TRUE_POSITIVE', seenAtMs: CREATED_AT_MS - 60_000, byCardIssuer: true },
        { selector: { type: 'SELECTOR_TYPE_PAN', digest: panDigest(2) }, outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', seenAtMs: CREATED_AT_MS - 30_000, byCardIssuer: true },
      ],
    },
  });
  next('issuer-a-2-key-epoch-ack', issuer, 1, { keyEpochAck: { epoch: 2 } });
  next('evaluator-d-1-evaluation-counts', evaluator, 0, {
    oprfEvaluationCounts: { bucketStartMs: CREATED_AT_MS - (CREATED_AT_MS % 3_600_000) - 3_600_000, bucketSeconds: 3600, floor: 64, counts: [{ member: 'acquirer-b', bin: '00123456', band: 64 }, { member: 'psp-c', bin: '001234', band: 1024 }] },
  });
  return { entries, notice };
}

export function entryCase(e: SignedTestEntry): EntryCase {
  return { id: e.id, origin: e.origin, body: bodyJson(e.body), bodyBytes: hex(e.bytes), signingBytes: hex(entrySigningBytes(e.bytes)), signature: hex(e.signature), hash: hex(e.hash) };
}

/** A small consortium document, its canonical JSON and the operator's signature. */
export function consortiumDocumentVector(members: TestMember[]): Record<string, unknown> {
  const operator = sodium().crypto_sign_seed_keypair(fixedBytes('ed25519 operator'));
  const document = {
    format: 'mamori-consortium/1',
    name: 'test consortium — テスト',
    version: 3,
    operatorPublicKey: Buffer.from(operator.publicKey).toString('base64'),
    members: members.map((m) => ({
      id: m.id,
      roles: m.roles,
      signingPublicKey: m.signing.publicKey.toString('base64'),
      boxPublicKey: m.box.publicKey.toString('base64'),
      peerEndpoint: `${m.id}.example:7443`,
      ...(m.roles.includes('issuer') ? { binRanges: ['001234'] } : {}),
    })),
    keyEpochs: [{ epoch: 1, activeFromMs: 1_750_000_000_000, sealedKeys: {} }],
    note: 'keys sort by UTF-16 code units: "Z" < "a" < "é"; \u0001 and "\\" are escaped',
    Z: 1.5,
    é: [true, false, null, -0, 1e21, 0.1],
  };
  const canonical = canonicalJson(document);
  const signingBytes = consortiumSigningBytes(canonical);
  return {
    operatorSigningSeed: hex(fixedBytes('ed25519 operator')),
    operatorPublicKey: hex(Buffer.from(operator.publicKey)),
    document,
    canonicalJson: canonical,
    signingBytes: hex(signingBytes),
    signature: signDetached(signingBytes, Buffer.from(operator.privateKey)).toString('base64'),
  };
}

export function entryVectors(): VectorFile<EntryCase> {
  const members = testMembers();
  const { entries, notice } = testEntries(members);
  return vectorFile({
    name: 'entries.json',
    version: 1,
    spec: 'docs/protocol.md#signed-bytes',
    description:
      'Entry bodies, their canonical encoding, the bytes an origin signs, its Ed25519 signature under a fixed test key and the entry hash; entries of one origin chain (prev = hash of the previous). Test keys: Ed25519 from crypto_sign_seed_keypair(signingSeed), X25519 from crypto_box_seed_keypair. issuerNotice: a tagged notice sealed with a fixed ephemeral key (crypto_box_seal draws a fresh one), in the first entry. consortiumDocument: a document, its canonical JSON and the operator signature (base64) over "mamori/v1/consortium" || 0x00 || canonical JSON. Selector digests are under the test key of keyed-selectors.json over synthetic card numbers.',
    fixtures: { members: members.map(memberFixture), issuerNotice: notice, consortiumDocument: consortiumDocumentVector(members) },
    cases: entries.map(entryCase),
  });
}

/** A protobuf writer, for bodies the encoder would never produce (field order, unknown fields). */
export function writer(): protobuf.Writer {
  return protobuf.Writer.create();
}
