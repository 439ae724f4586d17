// Acceptance vectors (docs/protocol.md#acceptance): an entry, the feed heads and members a node
// holds, and the verdict — accepted, or refused with its code. The code is normative; the
// message is this implementation's wording.
import { acceptEntry, type AcceptanceContext, type MemberKeys } from '../../node/src/ledger/acceptance';
import { ZERO_HASH, type FeedHead } from '../../node/src/ledger/entry';
import { MamoriError } from '../../node/src/ledger/errors';
import type { EntryBody } from '../../proto/gen/mamori/v1/EntryBody';
import { entrySigningBytes } from '../../proto/ts/trust/domains';
import { signDetached } from '../../proto/ts/trust/verify';
import { fixedBytes, fromHex, hex, vectorFile, type VectorFile } from './common';
import { bodyJson, CREATED_AT_MS, memberFixture, panDigest, signBody, testEntries, testMembers, writer, type SignedTestEntry, type TestMember } from './entries';

export interface AcceptanceCase {
  id: string;
  description: string;
  /** Feed heads before the entry (origins not listed: seq 0, prev 32 zero bytes). */
  heads: Record<string, { seq: number; hash: string }>;
  entry: { body: string; signature: string };
  /** The body's fields when it is an encoder's output (absent for hand-made bytes). */
  bodyFields?: unknown;
  expected: { accepted: true; operation: string; hash: string } | { accepted: false; code: string; message: string };
}

export interface AcceptanceFixtureMember {
  id: string;
  roles: string[];
  oprfEvaluator?: boolean;
  signingPublicKey: string;
}

/** The acceptance context of a case: the fixture's members and the case's heads. */
export function acceptanceContext(members: readonly AcceptanceFixtureMember[], heads: AcceptanceCase['heads']): AcceptanceContext {
  return {
    member(origin: string): MemberKeys | undefined {
      const m = members.find((x) => x.id === origin);
      return m ? { roles: m.roles as MemberKeys['roles'], signingPublicKey: fromHex(m.signingPublicKey), ...(m.oprfEvaluator ? { oprfEvaluator: true } : {}) } : undefined;
    },
    head(origin: string): FeedHead {
      const h = heads[origin];
      return h ? { seq: h.seq, hash: fromHex(h.hash) } : { seq: 0, hash: ZERO_HASH };
    },
  };
}

/** The verdict the code gives a case. */
export function verdictOf(members: readonly AcceptanceFixtureMember[], c: Pick<AcceptanceCase, 'heads' | 'entry'>): AcceptanceCase['expected'] {
  try {
    const accepted = acceptEntry({ body: fromHex(c.entry.body), signature: fromHex(c.entry.signature) }, acceptanceContext(members, c.heads));
    return { accepted: true, operation: accepted.operation, hash: hex(accepted.hash) };
  } catch (error) {
    if (error instanceof MamoriError) return { accepted: false, code: error.code, message: error.message };
    throw error;
  }
}

export function acceptanceVectors(): VectorFile<AcceptanceCase> {
  const members = testMembers();
  const [issuer, acquirer, psp, evaluator] = members as [TestMember, TestMember, TestMember, TestMember];
  const fixtureMembers: AcceptanceFixtureMember[] = members.map((m) => ({ id: m.id, roles: m.roles, ...(m.oprfEvaluator ? { oprfEvaluator: true } : {}), signingPublicKey: hex(m.signing.publicKey) }));
  const { entries } = testEntries(members);
  const cases: AcceptanceCase[] = [];
  const heads: Record<string, { seq: number; hash: string }> = {};
  const add = (id: string, description: string, h: AcceptanceCase['heads'], body: Buffer, signature: Buffer, fields?: EntryBody, expectedCode?: string): void => {
    const c: AcceptanceCase = { id, description, heads: h, entry: { body: hex(body), signature: hex(signature) }, ...(fields ? { bodyFields: bodyJson(fields) } : {}), expected: { accepted: true, operation: '', hash: '' } };
    c.expected = verdictOf(fixtureMembers, c);
    const got = c.expected.accepted ? 'accepted' : c.expected.code;
    if (got !== (expectedCode ?? 'accepted')) throw new Error(`acceptance vector ${id}: expected ${expectedCode ?? 'accepted'}, the code says ${got}`);
    cases.push(c);
  };
  const headOf = (origin: string): { seq: number; hash: Buffer } => {
    const h = heads[origin];
    return h ? { seq: h.seq, hash: fromHex(h.hash) } : { seq: 0, hash: ZERO_HASH };
  };

  // Every entry of entries.json, in order, each onto the heads the previous ones left.
  for (const e of entries) {
    add(`accepts/${e.id}`, 'a well-formed entry that chains onto its origin\'s head', { ...heads }, e.bytes, e.signature, e.body);
    heads[e.origin] = { seq: Number(e.body.seq), hash: hex(e.hash) };
  }

  const first = entries[0] as SignedTestEntry; // psp-c seq 1
  const second = entries[1] as SignedTestEntry; // psp-c seq 2
  const h0 = {};
  const h1 = { 'psp-c': { seq: 1, hash: hex(first.hash) } };
  const flipped = Buffer.from(first.signature);
  flipped[0] = (flipped[0] as number) ^ 1;
  add('refuses/bad-signature', 'one bit of the signature flipped', h0, first.bytes, flipped, undefined, 'BAD_SIGNATURE');
  add('refuses/signed-by-another-member', 'the body signed with acquirer-b\'s key', h0, first.bytes, signDetached(entrySigningBytes(first.bytes), acquirer.signing.secretKey), undefined, 'BAD_SIGNATURE');
  add('refuses/signature-without-tag', 'Ed25519 over the body alone, without "mamori/v1/entry\\0"', h0, first.bytes, signDetached(first.bytes, psp.signing.secretKey), undefined, 'BAD_SIGNATURE');
  add('refuses/seq-replay', 'seq 1 again when the head is 1', h1, first.bytes, first.signature, undefined, 'SEQ_REPLAY');
  add('refuses/seq-gap', 'seq 2 when the head is 0', h0, second.bytes, second.signature, undefined, 'SEQ_GAP');
  add('refuses/prev-mismatch', 'seq 2 whose prev is not the hash of the held seq 1', { 'psp-c': { seq: 1, hash: hex(fixedBytes('another entry')) } }, second.bytes, second.signature, undefined, 'PREV_MISMATCH');
  add('refuses/empty-body', 'no body', h0, Buffer.alloc(0), Buffer.alloc(64), undefined, 'MALFORMED_ENTRY');
  add('refuses/garbage-body', 'bytes that are not an EntryBody', h0, Buffer.from('ffffffffffffffffffff', 'hex'), Buffer.alloc(64), undefined, 'MALFORMED_ENTRY');

  const signed = (id: string, description: string, m: TestMember, body: EntryBody, code?: string, h: AcceptanceCase['heads'] = {}): void => {
    const e = signBody(id, m, body);
    add(id, description, h, e.bytes, e.signature, body, code);
  };
  const base = (m: TestMember, keyEpoch = 1): EntryBody => ({ origin: m.id, seq: headOf(m.id).seq + 1, prev: headOf(m.id).hash, createdAtMs: CREATED_AT_MS, keyEpoch });
  const fresh = (m: TestMember, keyEpoch = 1): EntryBody => ({ origin: m.id, seq: 1, prev: Buffer.alloc(32), createdAtMs: CREATED_AT_MS, keyEpoch });
  const validity = { validFromMs: CREATED_AT_MS, validUntilMs: CREATED_AT_MS + 30 * 86_400_000 };
  const cards = (extra: Record<string, unknown> = {}, indicators: unknown[] = [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }] }]): EntryBody => ({
    ...fresh(psp),
    publishIndicators: { kind: 'INDICATOR_KIND_COMPROMISED_CARD', reason: 'REASON_CODE_PHISHING', confidence: 50, ...validity, indicators, ...extra } as EntryBody['publishIndicators'],
  });
  const merchant = (m: TestMember, extra: Record<string, unknown> = {}): EntryBody => ({
    ...fresh(m),
    publishIndicators: { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_LAUNDERING', confidence: 50, ...validity, indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: fixedBytes('merchant') }] }], ...extra } as EntryBody['publishIndicators'],
  });

  const outsider = { ...psp, id: 'unknown-x' };
  signed('refuses/not-a-member', 'an origin the consortium file does not list', outsider, { ...fresh(outsider), keyEpochAck: { epoch: 1 } }, 'NOT_A_MEMBER');
  signed('refuses/origin-not-a-member-id', 'an origin that is not [a-z0-9-]{3,32}', { ...psp, id: 'PSP C' }, { ...fresh({ ...psp, id: 'PSP C' }), keyEpochAck: { epoch: 1 } }, 'MALFORMED_ENTRY');
  signed('refuses/seq-zero', 'seq 0', psp, { ...fresh(psp), seq: 0, keyEpochAck: { epoch: 1 } }, 'MALFORMED_ENTRY');
  signed('refuses/no-operation', 'a header and no operation', psp, fresh(psp), 'MALFORMED_ENTRY');

  // Non-canonical encodings of a valid key-epoch ack, signed as they are.
  const ackFields = fresh(psp);
  const canonical = signBody('ack', psp, { ...ackFields, keyEpochAck: { epoch: 1 } });
  const withUnknownField = Buffer.concat([canonical.bytes, writer().uint32((99 << 3) | 2).string('free text').finish()]);
  add('refuses/unknown-field', 'a canonical body with an unknown field 99 appended, signed', {}, withUnknownField, signDetached(entrySigningBytes(withUnknownField), psp.signing.secretKey), undefined, 'MALFORMED_ENTRY');
  const reordered = Buffer.from(
    writer()
      .uint32((5 << 3) | 0).uint32(1)
      .uint32((1 << 3) | 2).string(psp.id)
      .uint32((2 << 3) | 0).uint64(1)
      .uint32((3 << 3) | 2).bytes(Buffer.alloc(32))
      .uint32((4 << 3) | 0).int64(CREATED_AT_MS)
      .uint32((15 << 3) | 2).fork().uint32((1 << 3) | 0).uint32(1).ldelim()
      .finish(),
  );
  add('refuses/fields-out-of-order', 'the same fields with key_epoch written first, signed', {}, reordered, signDetached(entrySigningBytes(reordered), psp.signing.secretKey), undefined, 'MALFORMED_ENTRY');
  const defaultWritten = Buffer.from(
    writer()
      .uint32((1 << 3) | 2).string(psp.id)
      .uint32((2 << 3) | 0).uint64(1)
      .uint32((3 << 3) | 2).bytes(Buffer.alloc(32))
      .uint32((4 << 3) | 0).int64(CREATED_AT_MS)
      .uint32((5 << 3) | 0).uint32(0)
      .uint32((15 << 3) | 2).fork().uint32((1 << 3) | 0).uint32(1).ldelim()
      .finish(),
  );
  // Canonical encoding keeps a singular field written with its default value (it decodes as
  // present and re-encodes): an entry may carry key_epoch = 0 written out, as oblivious entries do.
  add('accepts/explicit-default-value', 'key_epoch = 0 written out: a field present with its default value is canonical', {}, defaultWritten, signDetached(entrySigningBytes(defaultWritten), psp.signing.secretKey));
  const unpacked = Buffer.from(
    writer()
      .uint32((1 << 3) | 2).string(psp.id)
      .uint32((2 << 3) | 0).uint64(1)
      .uint32((3 << 3) | 2).bytes(Buffer.alloc(32))
      .uint32((4 << 3) | 0).int64(CREATED_AT_MS)
      .uint32((5 << 3) | 0).uint32(1)
      .uint32((10 << 3) | 2).fork()
      .uint32((1 << 3) | 0).uint32(1)
      .uint32((2 << 3) | 0).uint32(2)
      .uint32((3 << 3) | 0).uint32(1)
      .uint32((4 << 3) | 0).uint32(50)
      .uint32((5 << 3) | 0).int64(validity.validFromMs)
      .uint32((6 << 3) | 0).int64(validity.validUntilMs)
      .uint32((8 << 3) | 2).fork().uint32((1 << 3) | 2).fork().uint32((1 << 3) | 0).uint32(1).uint32((2 << 3) | 2).bytes(panDigest(7)).ldelim().ldelim()
      .ldelim()
      .finish(),
  );
  add('refuses/repeated-enum-unpacked', 'exposed written as an unpacked repeated varint (canonical is packed), signed', {}, unpacked, signDetached(entrySigningBytes(unpacked), psp.signing.secretKey), undefined, 'MALFORMED_ENTRY');
  const longVarint = Buffer.concat([writer().uint32((1 << 3) | 2).string(psp.id).finish(), Buffer.from([0x10, 0x81, 0x00]), canonical.bytes.subarray(2 + psp.id.length + 2)]);
  add('refuses/varint-not-minimal', 'seq 1 written as the two-byte varint 81 00, signed', {}, longVarint, signDetached(entrySigningBytes(longVarint), psp.signing.secretKey), undefined, 'MALFORMED_ENTRY');

  signed('refuses/psp-lists-a-merchant', 'only acquirers list fraudulent merchants', psp, merchant(psp), 'ROLE_FORBIDS');
  signed('accepts/acquirer-lists-a-merchant', 'an acquirer lists a merchant', acquirer, merchant(acquirer));
  signed('refuses/issuer-reports-card-testing', 'only acquirers and PSPs report card testing', issuer, { ...fresh(issuer), cardTestingReport: { bin: '001234', bucketStartMs: 1_700_000_100_000 - (1_700_000_100_000 % 900_000), bucketMinutes: 15, attempts: 10, declines: 9 } }, 'ROLE_FORBIDS');
  signed('refuses/psp-reports-fraud', 'only issuers report fraud for common-point analysis', psp, { ...fresh(psp), fraudReport: { aggregator: 'issuer-a', sealed: fixedBytes('sealed', 96) } }, 'ROLE_FORBIDS');
  signed('accepts/issuer-reports-fraud', 'an issuer\'s sealed fraud report (only its envelope is checked)', issuer, { ...fresh(issuer), fraudReport: { aggregator: 'issuer-a', sealed: fixedBytes('sealed', 96) } });
  signed('refuses/counts-from-a-non-evaluator', 'evaluation counts from a member the oprf section does not name', psp, { ...fresh(psp, 0), oprfEvaluationCounts: { bucketStartMs: 1_759_996_800_000, bucketSeconds: 3600, floor: 64, counts: [{ member: 'psp-c', bin: '001234', band: 64 }] } }, 'ROLE_FORBIDS');
  signed('refuses/card-issuer-sighting-from-a-psp', 'by_card_issuer from a member without the issuer role', psp, { ...fresh(psp), sightings: { sightings: [{ selector: { type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }, outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', seenAtMs: CREATED_AT_MS, byCardIssuer: true }] } }, 'ROLE_FORBIDS');
  signed('refuses/common-point-flags-from-a-non-aggregator', 'common-point flags from a member that is not the aggregator', issuer, { ...fresh(issuer), commonPointFlags: { analysedAtMs: CREATED_AT_MS, flags: [] } }, 'ROLE_FORBIDS');

  signed('refuses/bin-in-signed-publication', 'a BIN next to a PAN selector in a signed entry', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }], bin: '001234' }]), 'MALFORMED_ENTRY');
  signed('refuses/selector-twice', 'one selector in two indicators of one entry', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }] }, { selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }] }]), 'MALFORMED_ENTRY');
  signed('refuses/merchant-selector-on-a-card', 'a compromised card with a merchant selector', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: panDigest(7) }] }]), 'MALFORMED_ENTRY');
  signed('refuses/bin-selector-type', 'SELECTOR_TYPE_BIN is reserved', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_BIN', digest: panDigest(7) }] }]), 'MALFORMED_ENTRY');
  signed('refuses/two-pan-selectors', 'a compromised card with two PAN selectors', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }, { type: 'SELECTOR_TYPE_PAN_OBLIVIOUS', digest: panDigest(8) }] }]), 'MALFORMED_ENTRY');
  signed('refuses/short-digest', 'a digest of 31 bytes', psp, cards({}, [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: panDigest(7).subarray(0, 31) }] }]), 'MALFORMED_ENTRY');
  signed('refuses/merchant-reason-on-a-card', 'a card with a merchant reason code', psp, cards({ reason: 'REASON_CODE_LAUNDERING' }), 'MALFORMED_ENTRY');
  signed('refuses/card-reason-on-a-merchant', 'a merchant with a card reason code', acquirer, merchant(acquirer, { reason: 'REASON_CODE_SKIMMING' }), 'MALFORMED_ENTRY');
  signed('refuses/confidence-over-100', 'confidence 101', psp, cards({ confidence: 101 }), 'MALFORMED_ENTRY');
  signed('refuses/validity-reversed', 'valid_until before valid_from', psp, cards({ validFromMs: CREATED_AT_MS, validUntilMs: CREATED_AT_MS - 1 }), 'MALFORMED_ENTRY');
  signed('refuses/validity-starts-late', 'valid_from more than 5 minutes after created_at_ms', psp, cards({ validFromMs: CREATED_AT_MS + 300_001, validUntilMs: CREATED_AT_MS + 86_400_000 }), 'MALFORMED_ENTRY');
  signed('accepts/validity-starts-5-minutes-later', 'valid_from exactly 5 minutes after created_at_ms', psp, cards({ validFromMs: CREATED_AT_MS + 300_000, validUntilMs: CREATED_AT_MS + 86_400_000 }));
  signed('refuses/validity-over-10-years', 'valid_until more than 3,653 days after created_at_ms', psp, cards({ validFromMs: CREATED_AT_MS, validUntilMs: CREATED_AT_MS + 3653 * 86_400_000 + 1 }), 'MALFORMED_ENTRY');
  signed('accepts/expired-listing', 'a listing already expired by the receiving node\'s clock is stored (bounds are against the entry, never the clock)', psp, cards({ validFromMs: 1_600_000_000_000, validUntilMs: 1_600_000_000_001 }));
  signed('refuses/event-id-looks-like-a-card', 'an event id holding 16 digits that pass Luhn', psp, cards({ eventId: `evt-${withLuhn('001234567890123')}` }), 'MALFORMED_ENTRY');
  signed('refuses/event-id-free-text', 'an event id with a space', psp, cards({ eventId: 'skimmer at gas station' }), 'MALFORMED_ENTRY');
  signed('refuses/notices-on-a-merchant', 'issuer notices on a merchant publication', acquirer, merchant(acquirer, { issuerNotices: [{ tag: fixedBytes('tag', 16), sealed: fixedBytes('sealed', 64) }] }), 'MALFORMED_ENTRY');
  signed('refuses/notice-tag-length', 'a notice tag of 15 bytes', psp, cards({ issuerNotices: [{ tag: fixedBytes('tag', 15), sealed: fixedBytes('sealed', 64) }] }), 'MALFORMED_ENTRY');
  signed('refuses/notice-size', 'a tagged notice whose sealed size is not 48 + 4 × a power-of-two bucket', psp, cards({ issuerNotices: [{ tag: fixedBytes('tag', 16), sealed: fixedBytes('sealed', 60) }] }), 'MALFORMED_ENTRY');
  signed('refuses/notice-mixed-forms', 'a named and a tagged notice in one entry', psp, cards({ issuerNotices: [{ issuer: 'issuer-a', sealed: fixedBytes('sealed', 52) }, { tag: fixedBytes('tag', 16), sealed: fixedBytes('sealed', 64) }] }), 'MALFORMED_ENTRY');
  signed('accepts/named-notice', 'the older named form: issuer id, no tag, 48 + 4·n bytes', psp, cards({ issuerNotices: [{ issuer: 'issuer-a', sealed: fixedBytes('sealed', 52) }] }));
  const bucket = CREATED_AT_MS - (CREATED_AT_MS % 900_000);
  signed('accepts/card-testing', 'an aligned 15-minute bucket', acquirer, { ...fresh(acquirer), cardTestingReport: { bin: '00123456', bucketStartMs: bucket, bucketMinutes: 15, attempts: 10, declines: 10 } });
  signed('refuses/card-testing-misaligned', 'bucket_start_ms not a multiple of bucket_minutes', acquirer, { ...fresh(acquirer), cardTestingReport: { bin: '001234', bucketStartMs: bucket + 60_000, bucketMinutes: 15, attempts: 10, declines: 9 } }, 'MALFORMED_ENTRY');
  signed('refuses/card-testing-declines', 'more declines than attempts', acquirer, { ...fresh(acquirer), cardTestingReport: { bin: '001234', bucketStartMs: bucket, bucketMinutes: 15, attempts: 10, declines: 11 } }, 'MALFORMED_ENTRY');
  signed('refuses/card-testing-bin', 'a BIN of 5 digits', acquirer, { ...fresh(acquirer), cardTestingReport: { bin: '00123', bucketStartMs: bucket, bucketMinutes: 15, attempts: 10, declines: 9 } }, 'MALFORMED_ENTRY');
  signed('refuses/card-testing-bucket-too-long', 'a bucket of 1,441 minutes', acquirer, { ...fresh(acquirer), cardTestingReport: { bin: '001234', bucketStartMs: 0, bucketMinutes: 1441, attempts: 10, declines: 9 } }, 'MALFORMED_ENTRY');
  signed('refuses/sighting-from-the-future', 'seen more than 5 minutes after created_at_ms', issuer, { ...fresh(issuer), sightings: { sightings: [{ selector: { type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }, outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: CREATED_AT_MS + 300_001 }] } }, 'MALFORMED_ENTRY');
  signed('refuses/sighting-before-2020', 'seen_at_ms before 2020-01-01 (seconds taken for milliseconds)', issuer, { ...fresh(issuer), sightings: { sightings: [{ selector: { type: 'SELECTOR_TYPE_PAN', digest: panDigest(7) }, outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: 1_700_000_000 }] } }, 'MALFORMED_ENTRY');
  signed('refuses/merchant-sighting-by-card-issuer', 'by_card_issuer on a merchant selector', issuer, { ...fresh(issuer), sightings: { sightings: [{ selector: { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: panDigest(7) }, outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: CREATED_AT_MS, byCardIssuer: true }] } }, 'MALFORMED_ENTRY');
  signed('refuses/key-epoch-ack-zero', 'a key-epoch ack of epoch 0', issuer, { ...fresh(issuer), keyEpochAck: { epoch: 0 } }, 'MALFORMED_ENTRY');
  signed('refuses/key-epoch-ack-too-high', 'a key-epoch ack of epoch 1,000,001', issuer, { ...fresh(issuer), keyEpochAck: { epoch: 1_000_001 } }, 'MALFORMED_ENTRY');
  signed('accepts/key-epoch-ack-any-epoch', 'an epoch the file may not list: only the form is checked', issuer, { ...fresh(issuer), keyEpochAck: { epoch: 1_000_000 } });
  const counts = (c: Record<string, unknown>): EntryBody => ({ ...fresh(evaluator, 0), oprfEvaluationCounts: { bucketStartMs: 1_759_996_800_000, bucketSeconds: 3600, floor: 64, counts: [{ member: 'psp-c', bin: '001234', band: 64 }], ...c } as EntryBody['oprfEvaluationCounts'] });
  signed('refuses/counts-band-not-power-of-two', 'a band of 100', evaluator, counts({ counts: [{ member: 'psp-c', bin: '001234', band: 100 }] }), 'MALFORMED_ENTRY');
  signed('refuses/counts-band-below-floor', 'a band of 32 under a floor of 64', evaluator, counts({ counts: [{ member: 'psp-c', bin: '001234', band: 32 }] }), 'MALFORMED_ENTRY');
  signed('refuses/counts-floor-not-power-of-two', 'a floor of 48', evaluator, counts({ floor: 48 }), 'MALFORMED_ENTRY');
  signed('refuses/counts-misaligned', 'a bucket start that is not a multiple of bucket_seconds', evaluator, counts({ bucketStartMs: 1_759_996_800_001 }), 'MALFORMED_ENTRY');
  signed('refuses/counts-bin-7-digits', 'a BIN of 7 digits (the public input is 6 or 8)', evaluator, counts({ counts: [{ member: 'psp-c', bin: '0012345', band: 64 }] }), 'MALFORMED_ENTRY');
  signed('refuses/counts-repeated-row', 'one (member, BIN) twice', evaluator, counts({ counts: [{ member: 'psp-c', bin: '001234', band: 64 }, { member: 'psp-c', bin: '001234', band: 128 }] }), 'MALFORMED_ENTRY');

  return vectorFile({
    name: 'acceptance.json',
    version: 1,
    spec: 'docs/protocol.md#acceptance',
    description:
      'Entry acceptance. A node holding the fixture\'s members and the case\'s heads gives the entry the expected verdict: accepted (with the operation and the entry hash) or refused with code. Codes are normative; messages are this implementation\'s wording. Members\' keys are those of entries.json. The "accepts/" cases first replay entries.json in order.',
    fixtures: { members: fixtureMembers, entrySigners: members.map(memberFixture).map((m) => ({ id: m.id, signingSeed: m.signingSeed })) },
    cases,
  });
}

function withLuhn(partial: string): string {
  for (let d = 0; d <= 9; d++) {
    const candidate = partial + d;
    let sum = 0;
    for (let i = 0; i < candidate.length; i++) {
      let v = Number(candidate[candidate.length - 1 - i]);
      if (i % 2 === 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return candidate;
  }
  throw new Error('unreachable');
}
