import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { corroborationScore, countSightings, NO_SIGHTINGS, type SightingCounts, type SightingRow } from '../../node/src/verdict/corroboration';
import { signNextEntry } from '../../node/src/ledger/entry';
import { LIMITS } from '../../node/src/ledger/limits';
import { binInRanges, sightingsForEntry, validateSightingInputs, validateSightings } from '../../node/src/ledger/sightings';
import { LedgerStore } from '../../node/src/store/ledger-store';
import type { Sighting } from '../../proto/gen/mamori/v1/Sighting';
import { digest, expectMamoriError, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';
import { tempDir } from '../helpers/node-harness';

const CREATED_AT = 1_750_000_000_000;
const score = (confidences: number[], sightings: Partial<SightingCounts> = {}) =>
  corroborationScore({ confidences, listingMembers: confidences.length, sightings: { ...NO_SIGHTINGS, ...sightings } });

describe('unit: corroboration score', () => {
  it('is the listing confidence alone when nobody reported a sighting, and 0 when nothing is listed', () => {
    expect(score([80])).to.equal(80);
    expect(score([40])).to.equal(40);
    expect(score([])).to.equal(0);
    // Confidence is clamped to 1..99: 0 and 100 have no log-odds.
    expect(score([0])).to.equal(1);
    expect(score([100])).to.equal(99);
  });

  it('takes the most confident listing and rises with each further listing member', () => {
    expect(score([30, 80])).to.equal(88);
    expect(score([80, 80, 80])).to.be.above(score([80, 80]));
  });

  it('rises with true positives, falls with false positives, barely moves with seen', () => {
    const base = score([80, 80]);
    expect(score([80, 80], { truePositive: 1 })).to.equal(94);
    expect(score([80, 80], { falsePositive: 1 })).to.equal(77);
    expect(score([80, 80], { truePositive: 1, falsePositive: 1 })).to.equal(base);
    expect(score([80, 80], { seen: 1 })).to.equal(89);
    expect(score([80, 80], { seen: 3 })).to.be.below(score([80, 80], { truePositive: 1 }));
  });

  it("weighs the card issuer's false positive like five others' together, never more than once", () => {
    const othersOnly = score([80, 80], { truePositive: 1, falsePositive: 1 });
    const withIssuer = score([80, 80], { truePositive: 1, falsePositive: 2, issuerFalsePositive: true });
    expect(othersOnly).to.equal(88);
    expect(withIssuer).to.equal(12);
    expect(score([80], { falsePositive: 1, issuerFalsePositive: true })).to.equal(score([80], { falsePositive: 5 }));
    // The issuer's report is counted as the issuer's, not again among the others.
    expect(score([80], { falsePositive: 1, issuerFalsePositive: true })).to.equal(7);
  });

  it('stays within 0..100 under any pile of evidence', () => {
    expect(score([99, 99, 99, 99], { truePositive: 50 })).to.be.at.most(100);
    expect(score([1], { falsePositive: 50, issuerFalsePositive: true })).to.be.at.least(0);
  });

  const row = (origin: string, outcome: 'TRUE_POSITIVE' | 'FALSE_POSITIVE' | 'SEEN', seenAtMs = CREATED_AT, byCardIssuer = false, entryId = 1): SightingRow => ({
    origin,
    outcome: `SIGHTING_OUTCOME_${outcome}`,
    byCardIssuer,
    seenAtMs,
    entryId,
  });
  const nobodyLists = new Set<string>();

  it('counts distinct members per outcome and whether the issuer said false positive', () => {
    const counts = countSightings(
      [row('psp-c', 'TRUE_POSITIVE'), row('acquirer-b', 'TRUE_POSITIVE'), row('psp-c', 'SEEN'), row('issuer-a', 'FALSE_POSITIVE', CREATED_AT, true)],
      nobodyLists,
    );
    expect(counts).to.deep.equal({ seen: 1, truePositive: 2, falsePositive: 1, issuerFalsePositive: true });
    expect(countSightings([row('issuer-a', 'FALSE_POSITIVE')], nobodyLists).issuerFalsePositive).to.equal(false);
  });

  it("ignores a listing member's own true positives and seen, but counts its false positive", () => {
    const rows = [row('issuer-a', 'TRUE_POSITIVE'), row('issuer-a', 'SEEN'), row('psp-c', 'TRUE_POSITIVE'), row('psp-c', 'SEEN')];
    expect(countSightings(rows, new Set(['issuer-a']))).to.deep.equal({ seen: 1, truePositive: 1, falsePositive: 0, issuerFalsePositive: false });
    expect(countSightings([row('issuer-a', 'TRUE_POSITIVE')], new Set(['issuer-a'])), 'a listing cannot confirm itself').to.deep.equal(NO_SIGHTINGS);
    // Speaking against its own listing gains a member nothing: that still lowers the score.
    expect(countSightings([row('issuer-a', 'FALSE_POSITIVE', CREATED_AT, true)], new Set(['issuer-a']))).to.deep.equal({ seen: 0, truePositive: 0, falsePositive: 1, issuerFalsePositive: true });
  });

  it('counts a member once across true and false positive: its latest report, by observation time then feed order', () => {
    const laterFalse = [row('psp-c', 'TRUE_POSITIVE', CREATED_AT - 5000), row('psp-c', 'FALSE_POSITIVE', CREATED_AT - 1000, false, 2)];
    expect(countSightings(laterFalse, nobodyLists)).to.deep.equal({ seen: 0, truePositive: 0, falsePositive: 1, issuerFalsePositive: false });
    const laterTrue = [row('issuer-a', 'FALSE_POSITIVE', CREATED_AT - 5000, true, 9), row('issuer-a', 'TRUE_POSITIVE', CREATED_AT - 1000, false, 3)];
    expect(countSightings(laterTrue, nobodyLists), "the issuer's withdrawn false positive no longer weighs").to.deep.equal({ seen: 0, truePositive: 1, falsePositive: 0, issuerFalsePositive: false });
    const sameTime = [row('psp-c', 'FALSE_POSITIVE', CREATED_AT, false, 4), row('psp-c', 'TRUE_POSITIVE', CREATED_AT, false, 7)];
    expect(countSightings(sameTime, nobodyLists)).to.deep.equal({ seen: 0, truePositive: 1, falsePositive: 0, issuerFalsePositive: false });
    expect(countSightings([...laterFalse, row('psp-c', 'SEEN')], nobodyLists).seen, 'seen is counted apart').to.equal(1);
  });
});

const pan = (d = digest()) => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: d });
const sighting = (overrides: Partial<Sighting> = {}): Sighting => ({ selector: pan(), outcome: 'SIGHTING_OUTCOME_TRUE_POSITIVE', seenAtMs: CREATED_AT - 1000, ...overrides });

describe('unit: sighting validation', () => {
  const valid = (list: Sighting[]) => validateSightings({ sightings: list as never }, CREATED_AT, 'sightings');

  it('accepts well-formed sightings', () => {
    const [s] = valid([sighting({ outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', byCardIssuer: true })]);
    expect(s).to.include({ outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', byCardIssuer: true, seenAtMs: CREATED_AT - 1000 });
  });

  it('refuses a missing or unknown outcome, naming the field', () => {
    expect(expectMamoriError(() => valid([sighting(), sighting({ outcome: 'SIGHTING_OUTCOME_UNSPECIFIED' })]), 'INVALID_ARGUMENT').message).to.match(/^sightings\.sightings\[1\]\.outcome: is required/);
    expect(expectMamoriError(() => valid([sighting({ outcome: 7 as never })]), 'INVALID_ARGUMENT').message).to.match(/^sightings\.sightings\[0\]\.outcome: unknown value/);
  });

  it('refuses a bad selector: wrong digest length, unspecified type', () => {
    expect(expectMamoriError(() => valid([sighting({ selector: pan(digest(31)) })]), 'INVALID_ARGUMENT').message).to.match(/^sightings\.sightings\[0\]\.selector\.digest: must be 32 bytes, got 31/);
    expect(expectMamoriError(() => valid([sighting({ selector: { type: 'SELECTOR_TYPE_UNSPECIFIED', digest: digest() } })]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings[0].selector.type');
    expect(expectMamoriError(() => valid([sighting({ selector: null })]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings[0].selector');
  });

  it('refuses seenAtMs in seconds, or after the entry was made (beyond clock skew)', () => {
    expect(expectMamoriError(() => valid([sighting({ seenAtMs: 1_750_000_000 })]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings[0].seenAtMs');
    expect(valid([sighting({ seenAtMs: CREATED_AT + LIMITS.maxSightingClockSkewMs })])).to.have.length(1);
    expect(expectMamoriError(() => valid([sighting({ seenAtMs: CREATED_AT + LIMITS.maxSightingClockSkewMs + 1 })]), 'INVALID_ARGUMENT').message).to.match(/in the future/);
  });

  it('refuses an empty batch, one over the limit, a selector twice, an issuer flag on a merchant selector', () => {
    expect(expectMamoriError(() => valid([]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings');
    const many = Array.from({ length: LIMITS.maxSightingsPerEntry + 1 }, () => sighting());
    expect(expectMamoriError(() => valid(many), 'INVALID_ARGUMENT').message).to.match(/the limit is 10000/);
    const d = digest();
    expect(expectMamoriError(() => valid([sighting({ selector: pan(d) }), sighting({ selector: pan(d), outcome: 'SIGHTING_OUTCOME_SEEN' })]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings[1]');
    const merchant = { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const, digest: digest() };
    expect(valid([sighting({ selector: merchant })])).to.have.length(1);
    expect(expectMamoriError(() => valid([sighting({ selector: merchant, byCardIssuer: true })]), 'INVALID_ARGUMENT').field).to.equal('sightings.sightings[0].byCardIssuer');
  });

  it("a client's input: seenAtMs 0 is now, a BIN only of 6-8 digits and only on a PAN", () => {
    const now = Date.now();
    const [s] = validateSightingInputs([{ selector: pan(), outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: 0, bin: '45454512' }], now, 'sightings');
    expect(s).to.include({ seenAtMs: now, bin: '45454512' });
    expect(expectMamoriError(() => validateSightingInputs([{ selector: pan(), outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: 0, bin: '4545' }], now, 'sightings'), 'INVALID_ARGUMENT').field).to.equal('sightings[0].bin');
    const merchant = { type: 'SELECTOR_TYPE_MERCHANT_PHONE' as const, digest: digest() };
    expect(expectMamoriError(() => validateSightingInputs([{ selector: merchant, outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: 0, bin: '454545' }], now, 'sightings'), 'INVALID_ARGUMENT').field).to.equal('sightings[0].bin');
    expect(expectMamoriError(() => validateSightingInputs([{ selector: pan(), outcome: 'SIGHTING_OUTCOME_SEEN', seenAtMs: now + 3_600_000, bin: '' }], now, 'sightings'), 'INVALID_ARGUMENT').field).to.equal('sightings[0].seenAtMs');
  });

  it("marks a sighting the card issuer's only when the card's BIN is in the member's ranges, and drops the BIN", () => {
    expect(binInRanges('45454512', ['454545', '356900'])).to.equal(true);
    expect(binInRanges('45454612', ['454545'])).to.equal(false);
    expect(binInRanges('454545', ['45454512'])).to.equal(false);
    expect(binInRanges('', ['454545'])).to.equal(false);
    const inputs = validateSightingInputs(
      [
        { selector: pan(), outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', seenAtMs: 0, bin: '45454512' },
        { selector: pan(), outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', seenAtMs: 0, bin: '41111111' },
      ],
      Date.now(),
      'sightings',
    );
    const signed = sightingsForEntry(inputs, ['454545']);
    expect(signed.map((s) => s.byCardIssuer)).to.deep.equal([true, false]);
    expect(JSON.stringify(signed)).to.not.match(/45454512|bin/);
    expect(sightingsForEntry(inputs, []).every((s) => !s.byCardIssuer)).to.equal(true);
  });
});

describe('unit: sightings entries at acceptance and in the store', () => {
  let issuer: TestMember;
  let psp: TestMember;
  let ledger: MemoryLedger;

  before(async () => {
    await sodiumReady();
    issuer = makeMember('issuer-a', ['issuer']);
    psp = makeMember('psp-c', ['psp']);
  });
  beforeEach(() => {
    ledger = new MemoryLedger([issuer, psp]);
  });

  const next = (m: TestMember, sightings: Sighting[]) => signNextEntry(m.id, ledger.head(m.id), 1, { sightings: { sightings } }, m.keys.secretKey, CREATED_AT);

  it('accepts sightings from any role, and the card-issuer flag from an issuer', () => {
    expect(ledger.accept(next(psp, [sighting(), sighting({ outcome: 'SIGHTING_OUTCOME_SEEN' })])).sightings).to.have.length(2);
    const accepted = ledger.accept(next(issuer, [sighting({ outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', byCardIssuer: true })]));
    expect(accepted.operation).to.equal('sightings');
    expect(accepted.sightings?.[0]?.byCardIssuer).to.equal(true);
  });

  it("refuses the card-issuer flag from a member that is not an issuer, with the reason; the head does not move", () => {
    const error = expectMamoriError(() => ledger.accept(next(psp, [sighting({ outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', byCardIssuer: true })])), 'ROLE_FORBIDS');
    expect(error.message).to.match(/psp-c.*card issuer.*only issuers/);
    expect(ledger.head('psp-c').seq).to.equal(0);
  });

  it('refuses a malformed sightings entry as MALFORMED_ENTRY naming the field', () => {
    expect(expectMamoriError(() => ledger.accept(next(psp, [sighting({ outcome: 'SIGHTING_OUTCOME_UNSPECIFIED' })])), 'MALFORMED_ENTRY').message).to.match(/sightings\.sightings\[0\]\.outcome/);
    expect(expectMamoriError(() => ledger.accept(next(psp, [])), 'MALFORMED_ENTRY').message).to.match(/sightings\.sightings: must contain/);
    expect(expectMamoriError(() => ledger.accept(next(psp, [sighting({ selector: pan(digest(16)) })])), 'MALFORMED_ENTRY').message).to.match(/selector\.digest/);
  });

  it('stores one row per (selector, member, outcome) with the latest time, in the entry\'s transaction', () => {
    const dir = tempDir();
    const store = LedgerStore.open(path.join(dir, 'mamori.db'));
    try {
      const d = digest();
      store.append(ledger.accept(next(psp, [sighting({ selector: pan(d), seenAtMs: CREATED_AT - 5000 })])));
      store.append(ledger.accept(next(psp, [sighting({ selector: pan(d), seenAtMs: CREATED_AT - 9000 })])));
      store.append(ledger.accept(next(psp, [sighting({ selector: pan(d), outcome: 'SIGHTING_OUTCOME_SEEN' })])));
      store.append(ledger.accept(next(issuer, [sighting({ selector: pan(d), outcome: 'SIGHTING_OUTCOME_FALSE_POSITIVE', byCardIssuer: true })])));
      const rows = store.sightingsOf(d);
      expect(rows.map((r) => `${r.origin} ${r.outcome} ${r.byCardIssuer}`).sort()).to.deep.equal([
        'issuer-a SIGHTING_OUTCOME_FALSE_POSITIVE true',
        'psp-c SIGHTING_OUTCOME_SEEN false',
        'psp-c SIGHTING_OUTCOME_TRUE_POSITIVE false',
      ]);
      const seenAt = store.db.prepare('SELECT seen_at_ms AS t FROM sightings WHERE digest = ? AND outcome = 2').pluck(true).get(d);
      expect(seenAt, 'the latest observation is kept').to.equal(CREATED_AT - 5000);
      expect(store.sightingsOf(digest())).to.deep.equal([]);
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
