// Retention of detection data on a real SQLite file, with the clock passed in: old derived
// rows go, recent ones and every ledger entry stay, common-point analysis over the look-back
// is unchanged, a pruned fraud report is never opened again, and an alert subscriber's cursor
// stays correct (ids never reused).
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { generateSigningKeyPair, type SigningKeyPair } from '../../node/src/crypto/signing';
import { signNextEntry, ZERO_HASH, type FeedHead } from '../../node/src/ledger/entry';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { CommonPointAnalyser } from '../../node/src/detection/common-point';
import { AlertStore, type StoredAlert } from '../../node/src/store/alert-store';
import { CommonPointStore, type OpenedFraudReport } from '../../node/src/store/common-point-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { AuditLog } from '../../node/src/housekeeping/audit-log';
import { DetectionRetention } from '../../node/src/housekeeping/detection-retention';
import { tempDir } from '../helpers/node-harness';

const DAY = 24 * 60 * 60_000;
const NOW = 1_760_000_000_000;
const DOMAIN = 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const;
const silent = pino({ level: 'silent' });

describe('unit: retention of detection data', () => {
  let ledger: LedgerStore;
  let audit: AuditLog;
  const signers = new Map<string, { keys: SigningKeyPair; head: FeedHead }>();

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    ledger = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
    const auditKeys = generateSigningKeyPair();
    audit = new AuditLog(ledger.db, silent, { member: 'issuer-a', publicKey: auditKeys.publicKey, secretKey: auditKeys.secretKey, retentionDays: 365 });
    signers.clear();
  });
  afterEach(() => {
    audit.close();
    ledger.close();
  });

  /** Appends a real signed entry of an origin's feed; returns its entry id. */
  function append(origin: string, operation: Pick<AcceptedEntry, 'operation' | 'fraudReport' | 'cardTestingReport'>, createdAtMs: number): number {
    const signer = signers.get(origin) ?? { keys: generateSigningKeyPair(), head: { seq: 0, hash: ZERO_HASH } };
    signers.set(origin, signer);
    const op = operation.fraudReport ? { fraudReport: operation.fraudReport } : { cardTestingReport: operation.cardTestingReport! };
    const signed = signNextEntry(origin, signer.head, 1, op, signer.keys.secretKey, createdAtMs);
    const seq = signer.head.seq + 1;
    ledger.append({ origin, seq, createdAtMs, keyEpoch: 1, ...operation, ...signed } as AcceptedEntry);
    signer.head = { seq, hash: signed.hash };
    return ledger.db.prepare('SELECT MAX(id) FROM entries').pluck(true).get() as number;
  }

  const count = (table: string): number => ledger.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck(true).get() as number;
  const auditRows = (action: string) => {
    audit.flush();
    return audit.store.rowsAfter(0).filter((r) => r.action === action).map((r) => JSON.parse(r.details) as Record<string, unknown>);
  };

  describe('at the common-point aggregator', () => {
    const planted = randomBytes(32);
    const stale = randomBytes(32);

    /** A fraud-report entry in the ledger, opened into the aggregator's tables as the analyser would. */
    function report(store: CommonPointStore, origin: string, windowEndMs: number, merchants: Buffer[][]): number {
      const entryId = append(origin, { operation: 'fraudReport', fraudReport: { aggregator: 'psp-c', sealed: randomBytes(120) } }, NOW - DAY);
      const opened: OpenedFraudReport = {
        entryId,
        origin,
        windowStartMs: windowEndMs - 30 * DAY,
        windowEndMs,
        activeCards: 100_000,
        cards: merchants.map((m) => ({ card: randomBytes(32), merchants: m.map((digest) => ({ digest })) })),
        volumes: [...new Set(merchants.flat())].map((digest) => ({ merchant: { type: DOMAIN, digest }, cards: 100 })),
      };
      store.recordOpened(opened, NOW - DAY);
      return entryId;
    }

    it('deletes decrypted rows past the look-back, keeps the analysis, the entries and the cursor', () => {
      const store = new CommonPointStore(ledger.db);
      const analyser = new CommonPointAnalyser(
        store,
        { k: 2, lookBackDays: 90, minCards: 3, maxPValue: 1e-6, intervalMs: 60_000 },
        { open: () => undefined, publish: async () => undefined },
        silent,
      );
      const cards = (merchant: Buffer, n: number) => Array.from({ length: n }, () => [merchant, randomBytes(32)]);
      // Inside the look-back: two issuers name the planted merchant.
      report(store, 'issuer-a', NOW - 2 * DAY, cards(planted, 5));
      report(store, 'issuer-d', NOW - 3 * DAY, cards(planted, 5));
      // Past it: reports of a window that ended 100 days ago; the newest entry is one of them,
      // so pruning deletes the fraud_reports row that held the largest entry id.
      report(store, 'issuer-a', NOW - 100 * DAY, cards(stale, 6));
      const newest = report(store, 'issuer-d', NOW - 100 * DAY, cards(stale, 6));
      store.recordRefused(append('issuer-a', { operation: 'fraudReport', fraudReport: { aggregator: 'psp-c', sealed: randomBytes(80) } }, NOW - 95 * DAY), 'issuer-a', 'unopenable', NOW - 95 * DAY);
      const refusedId = store.lastRecordedEntry();
      expect(refusedId).to.be.above(newest);

      const before = analyser.analyse(NOW);
      const candidatesBefore = store.candidates(NOW - 90 * DAY, 2, 3);
      const baselineBefore = store.baseline(NOW - 90 * DAY);
      expect(before.flags.map((f) => f.merchant.digest.toString('hex'))).to.deep.equal([planted.toString('hex')]);
      const entriesBefore = count('entries');

      const retention = new DetectionRetention(
        { alerts: new AlertStore(ledger.db), commonPoint: store, audit, log: silent },
        { alertRetentionDays: 365, cardTestingWindowMinutes: 60, commonPointLookBackDays: 90 },
      );
      const pruned = retention.prune(NOW);
      // 12 stale cards, each naming the stale merchant and one of its own; per report 7 merchants' volumes; 2 opened reports and the refused one.
      expect(pruned).to.include({ fraudCards: 12, fraudCardMerchants: 24, fraudVolumes: 14, fraudReports: 3, alerts: 0, cardTestingReports: 0 });
      expect(count('fraud_cards')).to.equal(10);
      expect(count('fraud_reports')).to.equal(2);
      expect(ledger.db.prepare('SELECT COUNT(*) FROM fraud_card_merchants WHERE merchant = ?').pluck(true).get(stale)).to.equal(0);

      const after = analyser.analyse(NOW);
      expect(after.flags).to.deep.equal(before.flags);
      expect(after.candidates).to.equal(before.candidates);
      expect(store.candidates(NOW - 90 * DAY, 2, 3)).to.deep.equal(candidatesBefore);
      expect(store.baseline(NOW - 90 * DAY)).to.deep.equal(baselineBefore);

      // The sealed entries stay; the pruned ones are not pending again.
      expect(count('entries')).to.equal(entriesBefore);
      expect(store.lastRecordedEntry()).to.equal(refusedId);
      expect(store.pendingEntries(store.lastRecordedEntry(), 10)).to.deep.equal([]);
      expect(new CommonPointStore(ledger.db).lastRecordedEntry(), 'the cursor as read after a restart').to.equal(refusedId);

      // One audit row of counts; a second prune deletes nothing and writes nothing.
      expect(auditRows('detection.pruned')).to.have.length(1);
      expect(auditRows('detection.pruned')[0]).to.include({ fraudCards: 12, fraudReports: 3, commonPointLookBackDays: 90 });
      expect(Object.values(retention.prune(NOW)).every((n) => n === 0)).to.equal(true);
      expect(auditRows('detection.pruned')).to.have.length(1);
    });
  });

  describe('alerts and card-testing reports', () => {
    it('prunes alerts past retention; a subscriber resuming before the pruned range gets the rest once; ids are never reused', () => {
      const alerts = new AlertStore(ledger.db);
      const insert = (key: string, createdAtMs: number) => alerts.insertAlert('issuer-a', 'card-testing', key, createdAtMs, { key }) as StoredAlert;
      const old = [400, 390, 380].map((days, i) => insert(`old-${i}`, NOW - days * DAY));
      const recent = [10, 5, 1].map((days, i) => insert(`recent-${i}`, NOW - days * DAY));
      const retention = new DetectionRetention({ alerts, audit, log: silent }, { alertRetentionDays: 365, cardTestingWindowMinutes: 60 });

      expect(retention.prune(NOW)).to.include({ alerts: 3 });
      // A subscriber that last saw the first old alert pages through what remains, one at a time.
      const seen: number[] = [];
      let cursor = old[0]!.id;
      for (let page = alerts.alertsAfter('issuer-a', cursor, 1); page.length > 0; page = alerts.alertsAfter('issuer-a', cursor, 1)) {
        seen.push(...page.map((a) => a.id));
        cursor = page[page.length - 1]!.id;
      }
      expect(seen).to.deep.equal(recent.map((a) => a.id));

      // Everything pruned, the newest included: the next alert still gets a new, larger id.
      expect(retention.prune(NOW + 400 * DAY)).to.include({ alerts: 3 });
      const next = insert('after-prune', NOW + 400 * DAY);
      expect(next.id).to.be.above(recent[2]!.id);
      expect(alerts.alertsAfter('issuer-a', recent[2]!.id, 10).map((a) => a.id)).to.deep.equal([next.id]);
      expect(auditRows('detection.pruned').map((d) => d.alerts)).to.deep.equal([3, 3]);
    });

    it('prunes card-testing report rows older than max(2 windows, 7 days), never their entries', () => {
      const alerts = new AlertStore(ledger.db);
      const reportAt = (origin: string, bucketStartMs: number) =>
        append(origin, { operation: 'cardTestingReport', cardTestingReport: { bin: '454545', bucketStartMs, bucketMinutes: 5, attempts: 50, declines: 45, merchant: null } }, bucketStartMs);
      const hour = 60 * 60_000;
      for (const ageDays of [30, 8]) reportAt('psp-c', NOW - ageDays * DAY);
      for (const ageDays of [6, 1]) reportAt('acquirer-b', NOW - ageDays * DAY);
      const entries = count('entries');

      // A 60-minute window: kept 7 days.
      const weekly = new DetectionRetention({ alerts, audit, log: silent }, { alertRetentionDays: 365, cardTestingWindowMinutes: 60 });
      expect(weekly.prune(NOW)).to.include({ cardTestingReports: 2 });
      expect(count('card_testing_reports')).to.equal(2);
      expect(alerts.binWindowCounts('454545', NOW - 7 * DAY, NOW)).to.deep.equal({ members: 1, merchants: 0 });
      // A 1,440-minute window would keep 7 days as well; a 6-day-old row goes only past 7 days.
      const daily = new DetectionRetention({ alerts, audit, log: silent }, { alertRetentionDays: 365, cardTestingWindowMinutes: 1440 });
      expect(daily.prune(NOW + 12 * hour)).to.include({ cardTestingReports: 0 });
      expect(daily.prune(NOW + DAY + hour)).to.include({ cardTestingReports: 1 });
      expect(count('entries')).to.equal(entries);
      expect(auditRows('detection.pruned').map((d) => [d.cardTestingReports, d.cardTestingRetentionDays])).to.deep.equal([[2, 7], [1, 7]]);
    });
  });
});
