// SIGKILL at random points of a large import, many times over the same data directory (so
// damage would accumulate): no acknowledged card is ever lost, SQLite's integrity check
// passes, no selector row is duplicated, and the node verifies its feed at every start.
import { expect } from 'chai';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { randomPan } from '../helpers/cards';
import { faultIterations, faultRandom } from '../helpers/faults-random';
import { databaseFileOf, FreshPans, importUntilKilled, inspectDatabase, minMedianMax, spawnAndTimeRecovery, unlistedCards, verifyFeedsOffline } from '../helpers/faults-process';

const BATCH = 2_000;
/** Kill points are drawn from [MIN, MAX] ms after the import starts (the first commits land after a few hundred ms here). */
const MIN_KILL_DELAY_MS = 150;
const MAX_KILL_DELAY_MS = 3_000;

describe('faults: SIGKILL at random points of a large import', function () {
  this.timeout(15 * 60_000);

  it('loses no acknowledged card, keeps SQLite intact and the feed verifiable, kill after kill', async () => {
    await sodiumReady();
    const suiteStarted = Date.now();
    const random = faultRandom('crash-import');
    const iterations = faultIterations(12);
    const layout = await makeConsortium();
    const m = memberOf(layout, 'acquirer-b');
    const logFile = path.join(layout.dir, 'acquirer-b', 'node.log');
    const dbFile = databaseFileOf(m.nodeConfig);
    const probe = randomPan();
    const pans = new FreshPans();

    let { node } = await spawnAndTimeRecovery(m.nodeConfig, m.clientConfig, logFile, probe);
    const acknowledged: string[] = [];
    let highestAcknowledgedSeq = 0;
    const recoveries: number[] = [];
    let lost = 0;
    let integrityFailures = 0;
    let duplicateRows = 0;
    let partialBatches = 0;
    let wholeBatchViolations = 0;
    try {
      for (let i = 1; i <= iterations; i++) {
        const killAfterMs = random.between(MIN_KILL_DELAY_MS, MAX_KILL_DELAY_MS);
        const run = await importUntilKilled(m.clientConfig, node, killAfterMs, pans, BATCH);
        const exit = await node.exited;
        expect(exit.signal, 'the node died of the SIGKILL').to.equal('SIGKILL');
        for (const pan of run.acknowledgedPans) acknowledged.push(pan); // can exceed the argument limit of push(...)
        highestAcknowledgedSeq = Math.max(highestAcknowledgedSeq, run.highestAcknowledgedSeq);
        partialBatches += run.partial.length;

        // Restart on the same data directory: start-up verifies every stored entry.
        const restarted = await spawnAndTimeRecovery(m.nodeConfig, m.clientConfig, logFile, probe);
        node = restarted.node;
        recoveries.push(restarted.recoveryMs);

        const client = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 60_000 });
        let missing: number;
        let status;
        try {
          status = await client.status();
          missing = await unlistedCards(client, acknowledged);
        } finally {
          client.close();
        }
        lost += missing;
        expect(status.ownFeed?.seq, 'the feed head covers every acknowledged entry').to.be.at.least(highestAcknowledgedSeq);

        const db = inspectDatabase(dbFile);
        if (db.integrity !== 'ok') integrityFailures++;
        duplicateRows += db.selectorRows - db.distinctDigests;
        // Entries commit whole: only entire batches are stored, acknowledged or not.
        if (db.selectorRows % BATCH !== 0 || db.selectorRows < acknowledged.length) wholeBatchViolations++;
        expect(status.indicators, 'the node counts what is stored').to.equal(db.selectorRows);

        console.log(
          `    iteration ${i}/${iterations}: SIGKILL at ${killAfterMs} ms, ${run.acknowledgedBatches} batches acknowledged, ${run.cutOff} cut off; ` +
            `recovery ${restarted.recoveryMs} ms; stored ${db.selectorRows} (acknowledged so far ${acknowledged.length}); lost ${missing}; integrity ${db.integrity}`,
        );
      }
    } finally {
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGTERM');
    }
    const last = await node.exited;
    expect(last.code, 'a clean stop after the last restart').to.equal(0);

    const heads = verifyFeedsOffline(m.nodeConfig);
    const final = inspectDatabase(dbFile);
    const r = minMedianMax(recoveries);
    console.log(
      `    totals: ${iterations} kills, ${acknowledged.length} cards acknowledged, acknowledged lost = ${lost}, integrity failures = ${integrityFailures}, ` +
        `duplicate rows = ${duplicateRows}, partial batches = ${partialBatches}; recovery min/median/max ${r.min}/${r.median}/${r.max} ms; ` +
        `feed verified to seq ${heads.get('acquirer-b')?.seq ?? 0}; ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`,
    );
    expect(lost, 'acknowledged cards lost').to.equal(0);
    expect(integrityFailures, 'integrity check failures').to.equal(0);
    expect(duplicateRows, 'duplicated selector rows').to.equal(0);
    expect(partialBatches, 'acknowledged batches stored in part').to.equal(0);
    expect(wholeBatchViolations, 'stored rows that are not whole batches').to.equal(0);
    expect(final.integrity).to.equal('ok');
    expect(heads.get('acquirer-b')?.seq ?? 0).to.be.at.least(highestAcknowledgedSeq);
    expect(acknowledged.length, 'the kills landed after some acknowledgements').to.be.greaterThan(0);
  });
});
