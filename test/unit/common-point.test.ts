// Common-point analysis on a real SQLite file: which merchants are flagged (k issuers,
// minCards, beyond what volume explains), the coarsened values published, the republication
// rule, the Poisson tail, the bounds on opened reports, and acceptance across aggregators.
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { CommonPointAnalyser } from '../../node/src/detection/common-point';
import { logGamma, poissonUpperTail } from '../../node/src/detection/poisson';
import { CommonPointStore, type OpenedFraudReport } from '../../node/src/store/common-point-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { tempDir } from '../helpers/node-harness';
import { EventEmitter } from 'node:events';
import { sodiumReady } from '../../proto/ts/sodium';
import { generateBoxKeyPair } from '../../node/src/crypto/epochs';
import { generateSigningKeyPair } from '../../node/src/crypto/signing';
import { openSealed, sealTo } from '../../node/src/crypto/sealed-box';
import { signNextEntry, ZERO_HASH } from '../../node/src/ledger/entry';
import { encodeFraudReportContents, MAX_ACTIVE_CARDS, validateFraudReportContents } from '../../node/src/ledger/common-point';
import { fraudCardBand, oneSignificantDigit, pValueBound } from '../../node/src/detection/common-point-bands';
import type { FraudReportContents__Output } from '../../proto/gen/mamori/v1/FraudReportContents';
import { sealFraudReport } from '../../node/src/exchange/fraud-report';
import { acceptEntry, type AcceptedEntry } from '../../node/src/ledger/acceptance';
import { MamoriError } from '../../node/src/ledger/errors';
import type { Role } from '../../node/src/ledger/roles';
import { waitFor } from '../helpers/wait';

const DAY = 24 * 60 * 60_000;
const NOW = 1_760_000_000_000;
const DOMAIN = 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const;

/** Direct summation, for small n: 1 - sum_{i<n} e^-m m^i / i!. */
function naiveUpperTail(n: number, m: number): number {
  let term = Math.exp(-m);
  let lower = 0;
  for (let i = 0; i < n; i++) {
    lower += term;
    term *= m / (i + 1);
  }
  return 1 - lower;
}

interface Card {
  merchants: Buffer[];
}

function report(entryId: number, origin: string, cards: Card[], volumes: [Buffer, number][], activeCards: number, windowEndMs = NOW - DAY): OpenedFraudReport {
  return {
    entryId,
    origin,
    windowStartMs: NOW - 30 * DAY,
    windowEndMs,
    activeCards,
    cards: cards.map((c) => ({ card: randomBytes(32), merchants: c.merchants.map((digest) => ({ digest })) })),
    volumes: volumes.map(([digest, cards]) => ({ merchant: { type: DOMAIN, digest }, cards })),
  };
}

describe('unit: common point of purchase', () => {
  describe('Poisson upper tail', () => {
    it('matches direct summation where that is exact enough', () => {
      for (const [n, m] of [[1, 0.5], [3, 1.2], [4, 1.2], [10, 3], [20, 25], [50, 60], [8, 0.3]] as const) {
        expect(poissonUpperTail(n, m), `P(X >= ${n} | ${m})`).to.be.closeTo(naiveUpperTail(n, m), 1e-12);
      }
    });

    it('keeps tiny tails (no underflow to a wrong 0) and handles the edges', () => {
      const tiny = poissonUpperTail(12, 0.12);
      expect(tiny).to.be.above(0).and.below(1e-19);
      // The leading term dominates: e^-m m^n / n!.
      expect(tiny).to.be.closeTo(Math.exp(-0.12 + 12 * Math.log(0.12) - logGamma(13)), tiny * 0.02);
      expect(poissonUpperTail(0, 5)).to.equal(1);
      expect(poissonUpperTail(3, 0)).to.equal(0);
      expect(poissonUpperTail(2000, 2000)).to.be.within(0.49, 0.51);
      expect(logGamma(11)).to.be.closeTo(Math.log(3_628_800), 1e-10);
    });
  });

  describe('coarsening of published aggregates', () => {
    it('rounds fraud cards down to a band, expected to one significant digit, the p-value up to a power of ten', () => {
      const bands = [[1, 1], [2, 2], [3, 3], [4, 3], [5, 5], [9, 5], [10, 10], [12, 10], [19, 10], [20, 20], [49, 20], [50, 50], [99, 50], [100, 100], [499, 200], [500, 500], [1000, 1000], [1999, 1000], [25_000, 20_000]];
      for (const [count, band] of bands) expect(fraudCardBand(count as number), `band of ${count}`).to.equal(band);
      expect(fraudCardBand(0)).to.equal(0);
      expect(oneSignificantDigit(0.0834)).to.equal(0.08);
      expect(oneSignificantDigit(12.6)).to.equal(10);
      expect(oneSignificantDigit(0.12)).to.equal(0.1);
      expect(oneSignificantDigit(0)).to.equal(0);
      for (const [p, bound] of [[3.2e-8, 1e-7], [1e-7, 1e-7], [1.0000001e-7, 1e-6], [9.9e-13, 1e-12], [0.5, 1], [1, 1], [0, 0]] as const) {
        expect(pValueBound(p), `bound of ${p}`).to.equal(bound);
      }
      for (let e = -300; e <= 0; e++) expect(pValueBound(Number(`1e${e}`))).to.equal(Number(`1e${e}`));
    });
  });

  describe('bounds on a report\'s contents', () => {
    const merchant = { type: DOMAIN, digest: randomBytes(32) };
    const contents = (change: Partial<FraudReportContents__Output> = {}): FraudReportContents__Output =>
      ({ windowStartMs: NOW - 30 * DAY, windowEndMs: NOW, activeCards: 1_000, cards: [{ card: randomBytes(32), merchants: [merchant] }], volumes: [{ merchant, cards: 10 }], ...change }) as FraudReportContents__Output;
    const refusedField = (c: FraudReportContents__Output, bounds = { notAfterMs: NOW, lookBackDays: 90 }): string => {
      try {
        validateFraudReportContents(c, 'contents', bounds);
      } catch (error) {
        expect(error).to.be.instanceOf(MamoriError);
        expect((error as MamoriError).code).to.equal('INVALID_ARGUMENT');
        return (error as MamoriError).message;
      }
      throw new Error('expected a refusal');
    };

    it('refuses a window ending after the entry was signed, longer than the look-back, absurd active cards or volumes, naming the field', () => {
      expect(validateFraudReportContents(contents({ windowEndMs: NOW + 4 * 60_000 }), 'contents', { notAfterMs: NOW, lookBackDays: 90 }).windowEndMs).to.equal(NOW + 4 * 60_000);
      expect(refusedField(contents({ windowEndMs: NOW + 6 * 60_000 }))).to.match(/^contents\.windowEndMs: is in the future/);
      expect(refusedField(contents({ windowEndMs: NOW + 365 * DAY }))).to.match(/^contents\.windowEndMs: /);
      expect(refusedField(contents({ windowStartMs: NOW - 91 * DAY }))).to.match(/^contents\.windowStartMs: must be at most 90 days/);
      expect(validateFraudReportContents(contents({ windowStartMs: NOW - 90 * DAY }), 'contents', { notAfterMs: NOW, lookBackDays: 90 }).windowStartMs).to.equal(NOW - 90 * DAY);
      expect(refusedField(contents({ activeCards: MAX_ACTIVE_CARDS + 1, volumes: [{ merchant, cards: 10 }] }))).to.match(/^contents\.activeCards: must be at most 1000000000/);
      expect(validateFraudReportContents(contents({ activeCards: MAX_ACTIVE_CARDS }), 'contents').activeCards).to.equal(MAX_ACTIVE_CARDS);
      expect(refusedField(contents({ volumes: [{ merchant, cards: 1_001 }] }))).to.match(/^contents\.volumes\[0\]\.cards: must not exceed activeCards/);
    });
  });

  describe('analysis', () => {
    let ledger: LedgerStore;
    let store: CommonPointStore;
    const planted = randomBytes(32);
    const popular = randomBytes(32);
    const lonely = randomBytes(32);

    const analyser = (overrides: Partial<{ k: number; minCards: number; maxPValue: number }> = {}) =>
      new CommonPointAnalyser(
        store,
        { k: 2, lookBackDays: 90, minCards: 3, maxPValue: 1e-6, intervalMs: 60_000, ...overrides },
        { open: () => undefined, publish: async () => undefined },
        pino({ level: 'silent' }),
      );
    const flagged = (a: CommonPointAnalyser) => a.analyse(NOW).flags;

    beforeEach(() => {
      ledger = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
      store = new CommonPointStore(ledger.db);
      // Two issuers, 100,000 active cards each, 40 fraud cards each. 5 of each issuer's fraud
      // cards used the planted merchant (volume 100); 16 the popular one (volume 40,000: 40%
      // of cards, as expected of anyone); 10 of issuer-a's the lonely one (volume 50).
      for (const [entryId, origin] of [[1, 'issuer-a'], [2, 'issuer-d']] as const) {
        const cards: Card[] = Array.from({ length: 40 }, (_, j) => ({
          merchants: [...(j < 5 ? [planted] : []), ...(j % 5 < 2 ? [popular] : []), ...(origin === 'issuer-a' && j >= 30 ? [lonely] : []), randomBytes(32)],
        }));
        const volumes: [Buffer, number][] = [[planted, 100], [popular, 40_000], [lonely, 50], ...cards.map((c) => [c.merchants.at(-1) as Buffer, 500] as [Buffer, number])];
        store.recordOpened(report(entryId, origin, cards, volumes, 100_000));
      }
    });
    afterEach(() => ledger.close());

    it('flags the merchant k issuers share beyond its volume, not the popular one nor one issuer\'s', () => {
      const flags = flagged(analyser());
      expect(flags.map((f) => f.merchant.digest.toString('hex'))).to.deep.equal([planted.toString('hex')]);
      const [flag] = flags;
      expect(flag).to.include({ issuers: 2, fraudCards: 10 });
      expect(flag?.merchant.type).to.equal(DOMAIN);
      // 200 × 80 / 200,000 = 0.08 to one significant digit; the p-value as a power of ten.
      expect(flag?.expectedFraudCards).to.equal(0.08);
      const exactP = poissonUpperTail(10, 200 * (80 / 200_000));
      expect(flag?.pValue).to.equal(pValueBound(exactP)).and.to.be.at.least(exactP);
      expect(flag?.windowEndMs).to.equal(NOW - DAY);
      // The popular merchant has more fraud cards (32) than the planted one, but its volume explains them.
      const popularCandidate = store.candidates(NOW - 90 * DAY, 2, 3).find((c) => c.merchant.equals(popular));
      expect(popularCandidate).to.include({ issuers: 2, fraudCards: 32, volume: 80_000 });
    });

    it('controls: the popular merchant is flagged once its volume is small; the lonely one with k = 1', () => {
      // A newer window's volume replaces an issuer's older one: 50 cards each instead of 40,000.
      store.recordOpened(report(3, 'issuer-a', [{ merchants: [popular] }], [[popular, 50]], 100_000, NOW));
      store.recordOpened(report(4, 'issuer-d', [{ merchants: [popular] }], [[popular, 50]], 100_000, NOW));
      const hex = (a: CommonPointAnalyser) => flagged(a).map((f) => f.merchant.digest.toString('hex')).sort();
      expect(hex(analyser())).to.deep.equal([planted, popular].map((d) => d.toString('hex')).sort());
      expect(hex(analyser({ k: 1 }))).to.include(lonely.toString('hex'));
    });

    it('republishes a merchant only when its fraud-card band or its issuers grow', () => {
      const a = analyser();
      const publish = (entryId: number, f: { issuers: number; fraudCards: number } | undefined) =>
        ledger.db
          .prepare(
            `INSERT INTO common_point_flags (entry_id, idx, merchant, merchant_type, issuers, fraud_cards, expected_fraud_cards, p_value, window_start_ms, window_end_ms)
             VALUES (?, 0, ?, 3, ?, ?, 0.1, 1e-12, 0, 1)`,
          )
          .run(entryId, planted, f?.issuers, f?.fraudCards);
      publish(99, flagged(a)[0]);
      expect(flagged(a)).to.deep.equal([]);
      // 12 fraud cards: still the band of 10, and one issuer's 2 new cards stay hidden.
      store.recordOpened(report(5, 'issuer-d', [{ merchants: [planted] }, { merchants: [planted] }], [[planted, 100]], 100_000));
      expect(flagged(a)).to.deep.equal([]);
      // 20 fraud cards: the next band.
      store.recordOpened(report(6, 'issuer-d', Array.from({ length: 8 }, () => ({ merchants: [planted] })), [[planted, 100]], 100_000));
      const grown = flagged(a);
      expect(grown.map((f) => [f.merchant.digest.equals(planted), f.issuers, f.fraudCards])).to.deep.equal([[true, 2, 20]]);
      publish(100, grown[0]);
      // A third issuer with one card: the band stays at 20, the issuers grow.
      store.recordOpened(report(7, 'issuer-f', [{ merchants: [planted] }], [[planted, 100]], 100_000));
      expect(flagged(a).map((f) => [f.issuers, f.fraudCards])).to.deep.equal([[3, 20]]);
    });

    it('respects minCards and maxPValue, and forgets reports older than the look-back', () => {
      expect(flagged(analyser({ minCards: 11 }))).to.deep.equal([]);
      expect(flagged(analyser({ maxPValue: 1e-30 }))).to.deep.equal([]);
      expect(analyser().analyse(NOW + 100 * DAY).flags).to.deep.equal([]);
    });
  });

  describe('at the aggregator', () => {
    before(async () => {
      await sodiumReady();
    });

    it('opens reports sealed to it, counts and ignores what it cannot open or what is invalid, and analyses', async () => {
      const ledger = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
      try {
        const box = generateBoxKeyPair();
        const issuer = generateSigningKeyPair();
        const merchant = { type: DOMAIN, digest: randomBytes(32) };
        // Analysis runs at the wall clock: the window ends now.
        const end = Date.now();
        const valid = { windowStartMs: end - DAY, windowEndMs: end, activeCards: 100, cards: [{ card: randomBytes(32), merchants: [merchant] }], volumes: [{ merchant, cards: 5 }] };
        const sealedReports = [
          ...sealFraudReport(valid, 'psp-c', box.publicKey),
          // Sealed to someone else: cannot be opened here.
          ...sealFraudReport(valid, 'psp-c', generateBoxKeyPair().publicKey),
          // Addressed to a former aggregator: not opened, not counted as refused.
          ...sealFraudReport(valid, 'psp-old', box.publicKey),
          // Sealed by a hostile issuer node: a window ending long after the entry was signed (it
          // would never leave the look-back), absurd active cards, a window longer than the look-back.
          ...sealFraudReport({ ...valid, windowEndMs: end + 365 * DAY }, 'psp-c', box.publicKey),
          ...sealFraudReport({ ...valid, activeCards: 10 ** 12 }, 'psp-c', box.publicKey),
          ...sealFraudReport({ ...valid, windowStartMs: end - 91 * DAY }, 'psp-c', box.publicKey),
          // Opens, but a card names a merchant without a volume.
          { aggregator: 'psp-c', sealed: sealTo(encodeFraudReportContents({ ...valid, volumes: [] }), box.publicKey) },
          // Opens, but is not a FraudReportContents at all.
          { aggregator: 'psp-c', sealed: sealTo(Buffer.from([0xff, 0xff, 0xff, 0xff]), box.publicKey) },
        ];
        let head = { seq: 0, hash: ZERO_HASH };
        for (const report of sealedReports) {
          const createdAtMs = Date.now();
          const signed = signNextEntry('issuer-a', head, 1, { fraudReport: report }, issuer.secretKey, createdAtMs);
          const entry: AcceptedEntry = { origin: 'issuer-a', seq: head.seq + 1, createdAtMs, keyEpoch: 1, operation: 'fraudReport', fraudReport: report, ...signed };
          ledger.append(entry);
          head = { seq: entry.seq, hash: signed.hash };
        }
        const published: unknown[] = [];
        const store = new CommonPointStore(ledger.db);
        const analyser = new CommonPointAnalyser(
          store,
          { k: 1, lookBackDays: 90, minCards: 1, maxPValue: 0.5, intervalMs: 200, aggregator: 'psp-c' },
          { open: (sealed) => openSealed(sealed, box), publish: async (flags) => void published.push(flags) },
          pino({ level: 'silent' }),
        );
        const source = new EventEmitter();
        const detach = analyser.attach(source as never);
        try {
          await waitFor(() => store.lastRecordedEntry() === sealedReports.length, 'every pending report examined', 30_000);
          expect(analyser.reportCounts()).to.deep.equal({ opened: 1, refused: 6 });
          await waitFor(() => published.length > 0, 'a scheduled analysis publishing the flag', 30_000);
          const [flags] = published as { flags: { merchant: { digest: Buffer }; issuers: number; fraudCards: number }[] }[];
          expect(flags?.flags.map((f) => [f.merchant.digest.equals(merchant.digest), f.issuers, f.fraudCards])).to.deep.equal([[true, 1, 1]]);
          // Later scheduled analyses with nothing new publish nothing more (the table the node
          // fills from its own flags entry stands in for the ledger here).
          ledger.db
            .prepare(
              `INSERT INTO common_point_flags (entry_id, idx, merchant, merchant_type, issuers, fraud_cards, expected_fraud_cards, p_value, window_start_ms, window_end_ms)
               VALUES (999, 0, ?, 3, 1, 1, 0.1, 0.1, 0, 1)`,
            )
            .run(merchant.digest);
          const after = analyser.analyses;
          await waitFor(() => analyser.analyses >= after + 2, 'two more scheduled analyses', 30_000);
          expect(published).to.have.length(1);
        } finally {
          detach();
        }
      } finally {
        ledger.close();
      }
    });
  });

  describe('acceptance at every node', () => {
    const keys = new Map<string, { roles: Role[]; pair: ReturnType<typeof generateSigningKeyPair> }>();
    const context = {
      member: (origin: string) => {
        const m = keys.get(origin);
        // acquirer-b was the aggregator until FORMER_UNTIL, psp-c is now.
        return m && { roles: m.roles, signingPublicKey: m.pair.publicKey, commonPointAggregator: 'psp-c', formerAggregatorUntilMs: origin === 'acquirer-b' ? FORMER_UNTIL : undefined };
      },
      head: () => ({ seq: 0, hash: ZERO_HASH }),
    };
    const FORMER_UNTIL = NOW - 10 * DAY;
    const entry = (origin: string, operation: Parameters<typeof signNextEntry>[3], createdAtMs = NOW) =>
      signNextEntry(origin, { seq: 0, hash: ZERO_HASH }, 1, operation, keys.get(origin)!.pair.secretKey, createdAtMs);
    const refusal = (fn: () => unknown): MamoriError => {
      try {
        fn();
      } catch (error) {
        expect(error).to.be.instanceOf(MamoriError);
        return error as MamoriError;
      }
      throw new Error('expected a refusal');
    };
    const flag = (issuers: number) => ({
      merchant: { type: DOMAIN, digest: randomBytes(32) },
      issuers,
      fraudCards: 5,
      expectedFraudCards: 0.1,
      pValue: 1e-9,
      windowStartMs: 1,
      windowEndMs: 2,
    });

    before(async () => {
      await sodiumReady();
      keys.set('issuer-a', { roles: ['issuer'], pair: generateSigningKeyPair() });
      keys.set('psp-c', { roles: ['psp'], pair: generateSigningKeyPair() });
      keys.set('acquirer-b', { roles: ['acquirer'], pair: generateSigningKeyPair() });
    });

    it('takes a fraud report addressed to any member id (today\'s or a former aggregator), with a plausible sealed size', () => {
      const sealed = randomBytes(200);
      expect(acceptEntry(entry('issuer-a', { fraudReport: { aggregator: 'psp-c', sealed } }), context).fraudReport?.sealed.equals(sealed)).to.equal(true);
      // Sealed to the aggregator of its day: history verifies under a later consortium file.
      expect(acceptEntry(entry('issuer-a', { fraudReport: { aggregator: 'acquirer-b', sealed } }), context).fraudReport?.aggregator).to.equal('acquirer-b');
      const misaddressed = refusal(() => acceptEntry(entry('issuer-a', { fraudReport: { aggregator: 'Not A Member!', sealed } }), context));
      expect(misaddressed.code).to.equal('MALFORMED_ENTRY');
      expect(misaddressed.message).to.match(/fraudReport\.aggregator: must be a member id/);
      const tooSmall = refusal(() => acceptEntry(entry('issuer-a', { fraudReport: { aggregator: 'psp-c', sealed: randomBytes(48) } }), context));
      expect(tooSmall.message).to.match(/fraudReport\.sealed: /);
      expect(refusal(() => acceptEntry(entry('psp-c', { fraudReport: { aggregator: 'psp-c', sealed } }), context)).code).to.equal('ROLE_FORBIDS');
    });

    it('takes common-point flags only from the aggregator, and only aggregates of at least two issuers', () => {
      expect(acceptEntry(entry('psp-c', { commonPointFlags: { analysedAtMs: 5, flags: [flag(2)] } }), context).commonPointFlags?.flags).to.have.length(1);
      expect(refusal(() => acceptEntry(entry('issuer-a', { commonPointFlags: { analysedAtMs: 5, flags: [flag(2)] } }), context)).code).to.equal('ROLE_FORBIDS');
      const one = refusal(() => acceptEntry(entry('psp-c', { commonPointFlags: { analysedAtMs: 5, flags: [flag(1)] } }), context));
      expect(one.code).to.equal('MALFORMED_ENTRY');
      expect(one.message).to.match(/commonPointFlags\.flags\[0\]\.issuers: /);
    });

    it('takes flags from a former aggregator the consortium file lists, for entries of its term only', () => {
      const flags = { commonPointFlags: { analysedAtMs: 5, flags: [flag(2)] } };
      expect(acceptEntry(entry('acquirer-b', flags, FORMER_UNTIL - DAY), context).commonPointFlags?.flags).to.have.length(1);
      expect(acceptEntry(entry('acquirer-b', flags, FORMER_UNTIL), context).commonPointFlags?.flags).to.have.length(1);
      expect(refusal(() => acceptEntry(entry('acquirer-b', flags, FORMER_UNTIL + 1), context)).code).to.equal('ROLE_FORBIDS');
      // Backdating does not help a member that was never the aggregator.
      expect(refusal(() => acceptEntry(entry('issuer-a', flags, 1), context)).code).to.equal('ROLE_FORBIDS');
      // Today's aggregator at any time.
      expect(acceptEntry(entry('psp-c', flags, 1), context).commonPointFlags?.flags).to.have.length(1);
    });
  });
});
