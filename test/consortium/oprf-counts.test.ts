// Evaluation counts on the ledger, on three real node processes (every member an evaluator,
// t = 2 of n = 3): a member evaluates more than the alert threshold for one BIN in one bucket
// (counts.bucketSeconds = 20 in the signed consortium file); each evaluator it asked reports the
// row at once, before the bucket closes, every node shows it, and every member receives the
// enumeration alert naming the requesting member, the BIN and the band while the bucket is still
// open. Counts below the threshold are published when their bucket closes; a count below the
// floor never is. An evaluator killed and restarted publishes no bucket twice.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import type * as grpc from '@grpc/grpc-js';
import { oprfReady } from '../../proto/ts/oprf/group';
import { blindPan } from '../../proto/ts/oprf/threshold';
import { sodiumReady } from '../../proto/ts/sodium';
import type { EvaluatePanSelectorsResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { databaseFile } from '../../node/src/store/database';
import { resignConsortium } from '../helpers/resign-consortium';
import { startConsortium, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { bearer, memberOf, rawExchange } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { replay } from '../helpers/alerts';
import { waitFor } from '../helpers/wait';

const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'];
const COUNTS = { floor: 4, alertThreshold: 32, bucketSeconds: 20 };
const BUCKET_MS = COUNTS.bucketSeconds * 1000;

function evaluate(c: ConsortiumProcesses, member: string, bin: string, n: number): Promise<EvaluatePanSelectorsResponse__Output> {
  const m = memberOf(c.layout, member);
  const { token } = JSON.parse(fs.readFileSync(m.clientConfig, 'utf8')) as { token: string };
  const stub = rawExchange(m.listen);
  const items = randomPans(n, bin).map((p) => ({ bin, blinded: Buffer.from(blindPan(p, bin).blindedElement) }));
  return new Promise((resolve, reject) => {
    stub.EvaluatePanSelectors({ items, verify: false, exclude: [] }, bearer(token), { deadline: Date.now() + 30_000 }, (error: grpc.ServiceError | null, response?: EvaluatePanSelectorsResponse__Output) => {
      stub.close();
      if (error) reject(error);
      else resolve(response as EvaluatePanSelectorsResponse__Output);
    });
  });
}

function status(c: ConsortiumProcesses, member: string): Promise<StatusResponse__Output> {
  return c.client(member).status() as unknown as Promise<StatusResponse__Output>;
}

/** Count-entry rows an evaluator has signed into its own feed, from its database. */
function ownCountEntries(c: ConsortiumProcesses, evaluator: string, member: string, bin: string): number {
  const db = new Database(databaseFile(path.join(c.layout.dir, evaluator, 'data')), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT COUNT(*) FROM oprf_counts WHERE evaluator = ? AND member = ? AND bin = ?').pluck().get(evaluator, member, bin) as number;
  } finally {
    db.close();
  }
}

describe('consortium: evaluation counts on the ledger and the enumeration alert', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses;

  before(async () => {
    await sodiumReady();
    await oprfReady();
    c = await startConsortium({
      configure: (layout) => resignConsortium<{ oprf: { counts: object } }>(layout, (document) => (document.oprf.counts = COUNTS)),
    });
  });

  after(async () => {
    await c?.stopAll();
  });

  it('a member past the threshold for one BIN: every node shows the counts and every member gets the alert before the bucket closes', async () => {
    const cursors = new Map<string, number>();
    for (const m of MEMBERS) cursors.set(m, (await replay(c.client(m))).at(-1)?.id ?? 0);
    // Start early in a bucket, so that "before the bucket closes" has room to be shown.
    await waitFor(() => BUCKET_MS - (Date.now() % BUCKET_MS) > 14_000, 'at least 14 s left in the count bucket', 30_000);

    // Below the floor (3 < 4): never published (checked in the next test, once this bucket has closed).
    await evaluate(c, 'psp-c', '466666', 3);
    // 40 evaluations of one BIN: each evaluator asked counts 40, published as band 32 = the threshold.
    const response = await evaluate(c, 'acquirer-b', '455555', 40);
    const passedAt = Date.now();
    const asked = response.answers.filter((a) => a.errorCode === '').map((a) => a.evaluator);
    expect(asked).to.have.length(2);

    // Every node shows each asked evaluator's row: acquirer-b, 455555, band 32.
    for (const m of MEMBERS) {
      await waitFor(
        async () => {
          const rows = (await status(c, m)).oprf?.counts ?? [];
          return asked.every((e) => rows.some((r) => r.evaluator === e && r.member === 'acquirer-b' && r.bin === '455555' && Number(r.band) === 32 && r.bucketSeconds === COUNTS.bucketSeconds));
        },
        `${m} showing the counts of ${asked.join(', ')}`,
        60_000,
      );
    }
    const shownMs = Date.now() - passedAt;

    // Every member's node raised the alert: the requesting member, the BIN and the band, never a selector.
    const alerts = new Map<string, Awaited<ReturnType<typeof replay>>[number]>();
    for (const m of MEMBERS) {
      const alert = await waitFor(
        async () => (await replay(c.client(m), cursors.get(m))).find((a) => a.kind === 'oprf-enumeration' && a.oprfEnumeration?.requestingMember === 'acquirer-b'),
        `${m}'s enumeration alert`,
        60_000,
      );
      alerts.set(m, alert);
    }
    const alertedAt = Date.now();
    const alertedMs = alertedAt - passedAt;
    for (const [m, a] of alerts) {
      expect(a.bin, m).to.equal('455555');
      expect(Number(a.oprfEnumeration?.band), m).to.equal(32);
      expect(asked, m).to.include(a.oprfEnumeration?.evaluator);
      expect(Number(a.windowEndMs) - Number(a.windowStartMs), m).to.equal(BUCKET_MS);
      expect(alertedAt, `${m}: the alert came while its bucket was open`).to.be.below(Number(a.windowEndMs));
      expect(a.cardListing, m).to.equal(null);
    }
    // One alert per (member, BIN, bucket), however many evaluators reported it.
    const again = await replay(c.client('issuer-a'), cursors.get('issuer-a'));
    expect(again.filter((a) => a.kind === 'oprf-enumeration' && a.bin === '455555')).to.have.length(1);

    // The CLI lists the same rows.
    const cli = execFileSync(process.execPath, [path.resolve('bin/mamori.js'), 'evaluations', '--config', memberOf(c.layout, 'psp-c').clientConfig], { encoding: 'utf8' });
    expect(cli).to.match(/evaluator (issuer-a|acquirer-b|psp-c) {2}member acquirer-b {2}BIN 455555 {2}32–63/);
    console.log(`      threshold passed → every node shows the counts: ${shownMs} ms; every member has the alert: ${alertedMs} ms (bucket ${COUNTS.bucketSeconds} s, still open)`);
  });

  it('an evaluator killed and restarted publishes no bucket twice', async () => {
    const response = await evaluate(c, 'acquirer-b', '477777', 8);
    const asked = response.answers.filter((a) => a.errorCode === '').map((a) => a.evaluator);
    const evaluator = asked[0] as string;
    await waitFor(() => ownCountEntries(c, evaluator, 'acquirer-b', '477777') === 1, `${evaluator} publishing 477777`, 60_000);
    await c.kill(evaluator);
    await c.start(evaluator);
    // A later bucket published after the restart proves the publisher ran again.
    await evaluate(c, 'acquirer-b', '488888', 8);
    await waitFor(() => ownCountEntries(c, evaluator, 'acquirer-b', '488888') >= 1 || ownCountEntries(c, asked[1] as string, 'acquirer-b', '488888') >= 1, 'a bucket after the restart', 60_000);
    await waitFor(async () => ((await status(c, evaluator)).oprf?.counts ?? []).some((r) => r.bin === '488888'), 'the restarted node showing the later bucket', 60_000);
    expect(ownCountEntries(c, evaluator, 'acquirer-b', '477777')).to.equal(1);

    // Below the floor: no row anywhere (the first test's bucket closed before these and was decided first).
    for (const m of MEMBERS) {
      const rows = (await status(c, m)).oprf?.counts ?? [];
      expect(rows.filter((r) => r.member === 'psp-c'), m).to.deep.equal([]);
    }
  });
});
