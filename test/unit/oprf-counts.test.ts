// Evaluation counts on the ledger (docs/oprf.md): coarsening into bands with a floor, the
// entry's validation (every bad field named), the evaluator-only rule at acceptance, and the
// publisher's restart safety (a closed bucket published once, nothing below the floor).
import { expect } from 'chai';
import Database from 'better-sqlite3';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { acceptEntry, type AcceptanceContext } from '../../node/src/ledger/acceptance';
import { signNextEntry, ZERO_HASH, type FeedHead } from '../../node/src/ledger/entry';
import { MamoriError } from '../../node/src/ledger/errors';
import { LIMITS } from '../../node/src/ledger/limits';
import { coarsenCounts, countBand, validateOprfEvaluationCounts, type ValidOprfEvaluationCounts } from '../../node/src/ledger/oprf-counts';
import { consortiumDocumentSchema } from '../../node/src/config/schemas';
import { migrate } from '../../node/src/store/migrations';
import { OprfCountStore } from '../../node/src/store/oprf-count-store';
import { EvaluationCountPublisher } from '../../node/src/evaluation/count-publisher';
import { EventEmitter } from 'node:events';
import { AlertFeed } from '../../node/src/detection/alert-feed';
import { OprfEnumerationDetector } from '../../node/src/detection/oprf-enumeration';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { expectMamoriError, makeMember, type TestMember } from '../helpers/unit';

const HOUR = 3_600_000;
const BUCKET = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

type Row = { member: string; bin: string; band: number };

function entryInput(change: Record<string, number> = {}, rows?: Row[]) {
  return {
    bucketStartMs: BUCKET,
    bucketSeconds: 3600,
    floor: 64,
    counts: rows ?? [
      { member: 'acquirer-b', bin: '411111', band: 64 },
      { member: 'psp-c', bin: '41111122', band: 4096 },
    ],
    ...change,
  };
}

describe('unit: evaluation counts on the ledger', () => {
  describe('coarsening', () => {
    it('a count below the floor is absent; at or above it, rounded down to a power of two', () => {
      expect(countBand(0, 64)).to.equal(undefined);
      expect(countBand(63, 64)).to.equal(undefined);
      expect(countBand(64, 64)).to.equal(64);
      expect(countBand(65, 64)).to.equal(64);
      expect(countBand(127, 64)).to.equal(64);
      expect(countBand(128, 64)).to.equal(128);
      expect(countBand(4095, 64)).to.equal(2048);
      expect(countBand(4096, 64)).to.equal(4096);
      expect(countBand(1_000_000, 64)).to.equal(524_288);
      expect(countBand(5, 1)).to.equal(4);
    });

    it('keeps only rows at the floor, sorted, in chunks of at most the per-entry limit; nothing when nothing reaches it', () => {
      const counts = [
        { member: 'psp-c', bin: '411111', count: 70 },
        { member: 'acquirer-b', bin: '422222', count: 63 },
        { member: 'acquirer-b', bin: '411111', count: 5000 },
      ];
      expect(coarsenCounts(counts, 64)).to.deep.equal([
        [
          { member: 'acquirer-b', bin: '411111', band: 4096 },
          { member: 'psp-c', bin: '411111', band: 64 },
        ],
      ]);
      expect(coarsenCounts(counts.slice(1, 2), 64)).to.deep.equal([]);
      const many = Array.from({ length: 2_500 }, (_, i) => ({ member: 'acquirer-b', bin: String(400_000 + i), count: 64 }));
      expect(coarsenCounts(many, 64).map((c) => c.length)).to.deep.equal([1_000, 1_000, 500]);
    });

    it('the oprf section has safe defaults (floor 64, threshold 4,096, hour buckets) and refuses a floor not a power of two', () => {
      const shape = consortiumDocumentSchema.shape.oprf.unwrap().shape.counts;
      expect(shape.parse(undefined)).to.deep.equal({ floor: 64, alertThreshold: 4096, bucketSeconds: 3600 });
      expect(shape.safeParse({ floor: 48 }).success).to.equal(false);
      expect(shape.safeParse({ bucketSeconds: 0 }).success).to.equal(false);
    });
  });

  describe('validation', () => {
    it('accepts a well-formed entry', () => {
      const v = validateOprfEvaluationCounts(entryInput() as never, 'oprfEvaluationCounts');
      expect(v.counts).to.have.length(2);
      expect(v.bucketSeconds).to.equal(3600);
    });

    const cases: [string, Record<string, number>, Row[] | undefined][] = [
      ['oprfEvaluationCounts.bucketSeconds', { bucketSeconds: 0 }, undefined],
      ['oprfEvaluationCounts.bucketSeconds', { bucketSeconds: 86_401 }, undefined],
      ['oprfEvaluationCounts.bucketStartMs', { bucketStartMs: BUCKET + 1 }, undefined],
      ['oprfEvaluationCounts.bucketStartMs', { bucketStartMs: 0 }, undefined],
      ['oprfEvaluationCounts.floor', { floor: 0 }, undefined],
      ['oprfEvaluationCounts.floor', { floor: 48 }, undefined],
      ['oprfEvaluationCounts.counts', {}, []],
      ['oprfEvaluationCounts.counts', {}, Array.from({ length: LIMITS.maxOprfCountsPerEntry + 1 }, (_, i) => ({ member: 'acquirer-b', bin: String(400_000 + i), band: 64 }))],
      ['oprfEvaluationCounts.counts[1].member', {}, [{ member: 'acquirer-b', bin: '411111', band: 64 }, { member: 'Not A Member', bin: '411111', band: 64 }]],
      ['oprfEvaluationCounts.counts[0].bin', {}, [{ member: 'acquirer-b', bin: '4111111', band: 64 }]],
      ['oprfEvaluationCounts.counts[0].bin', {}, [{ member: 'acquirer-b', bin: '41111a', band: 64 }]],
      ['oprfEvaluationCounts.counts[0].band', {}, [{ member: 'acquirer-b', bin: '411111', band: 32 }]],
      ['oprfEvaluationCounts.counts[0].band', {}, [{ member: 'acquirer-b', bin: '411111', band: 100 }]],
      ['oprfEvaluationCounts.counts[1]', {}, [{ member: 'acquirer-b', bin: '411111', band: 64 }, { member: 'acquirer-b', bin: '411111', band: 128 }]],
    ];
    for (const [field, change, rows] of cases) {
      it(`refuses a bad ${field} (${JSON.stringify(change)}${rows ? `, ${rows.length} rows` : ''}), naming it`, () => {
        const error = expectMamoriError(() => validateOprfEvaluationCounts(entryInput(change, rows) as never, 'oprfEvaluationCounts'), 'INVALID_ARGUMENT');
        expect(error.message).to.match(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `));
      });
    }
  });

  describe('acceptance', () => {
    let evaluator: TestMember;
    let outsider: TestMember;
    before(async () => {
      await sodiumReady();
      evaluator = makeMember('acquirer-b', ['acquirer']);
      outsider = makeMember('issuer-d', ['issuer']);
    });

    const context = (members: TestMember[], evaluators: string[]): AcceptanceContext => ({
      member: (origin) => {
        const m = members.find((x) => x.id === origin);
        return m ? { roles: m.roles, signingPublicKey: m.keys.publicKey, oprfEvaluator: evaluators.includes(m.id) } : undefined;
      },
      head: (): FeedHead => ({ seq: 0, hash: ZERO_HASH }),
    });

    it('an evaluator\'s count entry is accepted with its rows', () => {
      const entry = signNextEntry(evaluator.id, { seq: 0, hash: ZERO_HASH }, 1, { oprfEvaluationCounts: entryInput() }, evaluator.keys.secretKey);
      const accepted = acceptEntry(entry, context([evaluator], [evaluator.id]));
      expect(accepted.operation).to.equal('oprfEvaluationCounts');
      expect(accepted.oprfEvaluationCounts?.counts.map((c) => c.band)).to.deep.equal([64, 4096]);
    });

    it('a count entry from a member that is not an evaluator is refused (ROLE_FORBIDS), whatever its roles', () => {
      const entry = signNextEntry(outsider.id, { seq: 0, hash: ZERO_HASH }, 1, { oprfEvaluationCounts: entryInput() }, outsider.keys.secretKey);
      const error = expectMamoriError(() => acceptEntry(entry, context([evaluator, outsider], [evaluator.id])), 'ROLE_FORBIDS');
      expect(error.message).to.match(/oprfEvaluationCounts/);
    });

    it('a malformed count entry from an evaluator is MALFORMED_ENTRY naming the field', () => {
      const entry = signNextEntry(evaluator.id, { seq: 0, hash: ZERO_HASH }, 1, { oprfEvaluationCounts: entryInput({ floor: 3 }) }, evaluator.keys.secretKey);
      const error = expectMamoriError(() => acceptEntry(entry, context([evaluator], [evaluator.id])), 'MALFORMED_ENTRY');
      expect(error.message).to.match(/oprfEvaluationCounts\.floor: /);
    });
  });

  describe('the publisher', () => {
    const settings = { floor: 4, alertThreshold: 16, bucketSeconds: 10 };

    function setUp(db: Database.Database, now: { ms: number }, published: ValidOprfEvaluationCounts[][], fail = false) {
      const store = new OprfCountStore(db);
      const insert = db.prepare('INSERT INTO oprf_counts (entry_id, idx, evaluator, member, bin, bucket_start_ms, bucket_seconds, band) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      let entryId = (db.prepare('SELECT COALESCE(MAX(entry_id), 0) FROM oprf_counts').pluck().get() as number) + 1;
      const publisher = new EvaluationCountPublisher({
        member: 'issuer-a',
        store,
        settings: () => settings,
        // As the node's store does: the entry's rows are written in the transaction that stores it.
        publish: async (entries) => {
          if (fail) throw new MamoriError('UNAVAILABLE', 'own writes are held');
          for (const e of entries) {
            const id = entryId++;
            e.counts.forEach((c, i) => insert.run(id, i, 'issuer-a', c.member, c.bin, e.bucketStartMs, e.bucketSeconds, c.band));
          }
          published.push([...entries]);
        },
        binRangesOf: (m) => (m === 'issuer-x' ? ['454545'] : []),
        log: pino({ level: 'silent' }),
        clock: () => now.ms,
      });
      return { store, publisher };
    }

    it('publishes a closed bucket once, with bands; nothing for a bucket below the floor; none lost or doubled across a restart', async () => {
      const db = new Database(':memory:');
      migrate(db);
      const now = { ms: 1_700_000_000_000 };
      const published: ValidOprfEvaluationCounts[][] = [];
      let { publisher } = setUp(db, now, published);
      publisher.add('acquirer-b', Array.from({ length: 12 }, () => '411111')); // below the alert threshold: no early report
      publisher.add('psp-c', ['422222', '422222', '422222']); // below the floor
      await publisher.publishClosed();
      expect(published, 'the bucket is still open').to.deep.equal([]);

      // The bucket closes while publishing fails (own writes held): nothing is lost.
      now.ms += 10_000;
      ({ publisher } = setUp(db, now, published, true));
      let failed = false;
      await publisher.publishClosed().catch(() => {
        failed = true;
      });
      expect(failed).to.equal(true);

      // After a restart the bucket is published once, as a band.
      ({ publisher } = setUp(db, now, published));
      await publisher.publishClosed();
      expect(published).to.have.length(1);
      expect(published[0]?.[0]?.counts).to.deep.equal([{ member: 'acquirer-b', bin: '411111', band: 8 }]);
      expect(published[0]?.[0]?.floor).to.equal(4);

      // A crash after the entry committed but before the bucket was marked: its own rows say it was published.
      db.exec('DELETE FROM oprf_count_decided');
      db.prepare('INSERT INTO oprf_count_tally (bucket_start_ms, bucket_seconds, member, bin, count) VALUES (?, 10, ?, ?, ?)').run(published[0]?.[0]?.bucketStartMs, 'acquirer-b', '411111', 12);
      ({ publisher } = setUp(db, now, published));
      await publisher.publishClosed();
      await publisher.publishClosed();
      expect(published, 'no double publication').to.have.length(1);

      // A bucket where nothing reaches the floor publishes nothing and is decided.
      publisher.add('psp-c', ['433333']);
      now.ms += 10_000;
      await publisher.publishClosed();
      expect(published).to.have.length(1);
      expect(db.prepare('SELECT COUNT(*) FROM oprf_count_tally').pluck().get()).to.equal(0);
      db.close();
    });
    it('reports a count past the alert threshold before its bucket closes, again at each doubling, never for the member\'s own ranges; the close completes it', async () => {
      const db = new Database(':memory:');
      migrate(db);
      const now = { ms: 1_700_000_000_000 - (1_700_000_000_000 % 10_000) + 1_000 };
      const published: ValidOprfEvaluationCounts[][] = [];
      let { publisher } = setUp(db, now, published);
      const evaluate = async (member: string, bin: string, times: number) => {
        publisher.add(member, Array.from({ length: times }, () => bin));
        publisher.flush();
        await publisher.publishClosed();
      };
      await evaluate('acquirer-b', '411111', 15);
      expect(published, 'band 8: below the threshold of 16').to.deep.equal([]);
      await evaluate('acquirer-b', '411111', 1);
      expect(published).to.have.length(1);
      expect(published[0]?.[0]).to.deep.include({ bucketStartMs: now.ms - 1_000, bucketSeconds: 10, floor: 4 });
      expect(published[0]?.[0]?.counts).to.deep.equal([{ member: 'acquirer-b', bin: '411111', band: 16 }]);
      await evaluate('acquirer-b', '411111', 10);
      expect(published, 'still band 16: nothing new').to.have.length(1);
      await evaluate('issuer-x', '454545', 40);
      expect(published, 'an issuer in its own range raises no alert: it waits for the close').to.have.length(1);

      // After a restart the reported band is known from the stored rows: no repeat; a doubling is reported.
      ({ publisher } = setUp(db, now, published));
      await evaluate('acquirer-b', '411111', 1);
      expect(published).to.have.length(1);
      await evaluate('acquirer-b', '411111', 5);
      expect(published).to.have.length(2);
      expect(published[1]?.[0]?.counts).to.deep.equal([{ member: 'acquirer-b', bin: '411111', band: 32 }]);

      // The close publishes the whole bucket: the early row at its final band, and the rest.
      now.ms += 10_000;
      await publisher.publishClosed();
      expect(published).to.have.length(3);
      expect(published[2]?.[0]?.counts).to.deep.equal([
        { member: 'acquirer-b', bin: '411111', band: 32 },
        { member: 'issuer-x', bin: '454545', band: 32 },
      ]);

      // A bucket whose early report already says everything is decided without another entry.
      await evaluate('psp-c', '422222', 20);
      expect(published).to.have.length(4);
      now.ms += 10_000;
      await publisher.publishClosed();
      expect(published).to.have.length(4);
      expect(db.prepare('SELECT COUNT(*) FROM oprf_count_tally').pluck().get()).to.equal(0);
      expect(new OprfCountStore(db).published(0, 100).filter((r) => r.member === 'acquirer-b'), 'status shows one row per (evaluator, member, BIN, bucket), its highest band').to.deep.equal([
        { evaluator: 'issuer-a', member: 'acquirer-b', bin: '411111', bucketStartMs: 1_700_000_000_000 - (1_700_000_000_000 % 10_000), bucketSeconds: 10, band: 32 },
      ]);
      db.close();
    });
  });

  describe('the enumeration alert', () => {
    it('one alert per (member, BIN, bucket) at or above the threshold; none below it, none for a BIN in the member\'s own ranges', () => {
      const db = new Database(':memory:');
      migrate(db);
      const alerts = new AlertFeed(db, 'psp-c');
      const ranges: Record<string, string[]> = { 'issuer-a': ['454545'] };
      const detector = new OprfEnumerationDetector(alerts, new OprfCountStore(db), 'psp-c', () => ({ floor: 64, alertThreshold: 4096, bucketSeconds: 3600 }), (m) => ranges[m] ?? [], pino({ level: 'silent' }));
      const source = new EventEmitter<{ committed: [entries: AcceptedEntry[]] }>();
      detector.attach(source as never, BUCKET);
      const raised: string[] = [];
      alerts.on('alert', (a) => raised.push(JSON.stringify(a)));
      const entry = (origin: string, rows: Row[]) => ({ origin, oprfEvaluationCounts: { ...entryInput({}, rows) } }) as unknown as AcceptedEntry;
      source.emit('committed', [
        entry('acquirer-b', [
          { member: 'issuer-a', bin: '454545', band: 8192 }, // its own range: expected pre-evaluation
          { member: 'issuer-a', bin: '498765', band: 4096 },
          { member: 'psp-c', bin: '498765', band: 2048 }, // below the threshold
        ]),
      ]);
      source.emit('committed', [entry('psp-c', [{ member: 'issuer-a', bin: '498765', band: 8192 }])]); // the same (member, BIN, bucket)
      expect(raised).to.have.length(1);
      expect(raised[0]).to.include('498765').and.include('issuer-a').and.not.include('454545');
      db.close();
    });
  });
});

