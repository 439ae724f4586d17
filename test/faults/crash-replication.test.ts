// SIGKILL during replication, at random points, with three member processes: psp-c publishes
// continuously while acquirer-b is killed and restarted again and again; then the publisher
// itself is killed mid-publication. Every entry psp-c acknowledged reaches the others, each
// database passes SQLite's integrity check, nothing is stored twice, every feed verifies.
import { expect } from 'chai';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { memberOf } from '../helpers/node-harness';
import { randomPan } from '../helpers/cards';
import { faultIterations, faultRandom } from '../helpers/faults-random';
import { databaseFileOf, FreshPans, importUntilKilled, inspectDatabase, minMedianMax, spawnAndTimeRecovery, unlistedCards, verifyFeedsOffline } from '../helpers/faults-process';

const BATCH = 1_000;
const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'];

/** psp-c's import in the background: one batch in flight, each acknowledged batch recorded. */
class ContinuousPublisher {
  readonly acknowledgedPans: string[] = [];
  highestSeq = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly client: MamoriClient, pans: FreshPans) {
    this.done = (async () => {
      while (this.running) {
        const batch = pans.batch(BATCH);
        const r = await this.client.publishCompromisedCards(batch, { reason: 'phishing' });
        if (r.accepted !== BATCH) throw new Error(`a batch of fresh cards was accepted in part (${r.accepted})`);
        this.acknowledgedPans.push(...batch);
        this.highestSeq = Math.max(this.highestSeq, r.seq);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Restarts a member's process and times it: spawn to first answered check, and to holding psp-c's feed up to `seq`. */
async function restartTimed(c: ConsortiumProcesses, id: string, probe: string, convergeTo: () => number): Promise<{ recoveryMs: number; convergenceMs: number; target: number }> {
  const m = memberOf(c.layout, id);
  const started = Date.now();
  const { node, recoveryMs } = await spawnAndTimeRecovery(m.nodeConfig, m.clientConfig, path.join(c.layout.dir, id, 'node.log'), probe);
  c.nodes.set(id, node);
  c.clients.get(id)?.close();
  const client = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 30_000 });
  c.clients.set(id, client);
  const target = convergeTo();
  if (id !== 'psp-c') await waitForFeed(client, 'psp-c', target, 180_000);
  return { recoveryMs, convergenceMs: Date.now() - started, target };
}

describe('faults: SIGKILL during replication', function () {
  this.timeout(15 * 60_000);
  let c: ConsortiumProcesses | undefined;

  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('a replica killed again and again, then the publisher itself: nothing acknowledged is lost, all converge intact', async () => {
    await sodiumReady();
    const suiteStarted = Date.now();
    const random = faultRandom('crash-replication');
    const iterations = Math.max(3, Math.ceil(faultIterations(12) / 2));
    c = await startConsortium();
    const pans = new FreshPans();
    const probe = randomPan();
    const pspClient = () => MamoriClient.fromConfigFile(memberOf(c!.layout, 'psp-c').clientConfig, { mode: 'remote', deadlineMs: 30_000 });

    // 1. acquirer-b killed at random points while it replicates psp-c's continuous import.
    const publisherClient = pspClient();
    const publisher = new ContinuousPublisher(publisherClient, pans);
    const recoveries: number[] = [];
    const convergences: number[] = [];
    let integrityFailures = 0;
    let duplicateRows = 0;
    try {
      for (let i = 1; i <= iterations; i++) {
        const replicateForMs = random.between(200, 2_500);
        const downForMs = random.between(0, 1_000);
        // The deliberate random kill point: acquirer-b is mid-replication when it dies.
        await new Promise((resolve) => setTimeout(resolve, replicateForMs));
        await c.kill('acquirer-b');
        await new Promise((resolve) => setTimeout(resolve, downForMs));
        const t = await restartTimed(c, 'acquirer-b', probe, () => publisher.highestSeq);
        recoveries.push(t.recoveryMs);
        convergences.push(t.convergenceMs);
        const db = inspectDatabase(databaseFileOf(memberOf(c.layout, 'acquirer-b').nodeConfig));
        if (db.integrity !== 'ok') integrityFailures++;
        duplicateRows += db.selectorRows - db.distinctDigests;
        console.log(
          `    iteration ${i}/${iterations}: acquirer-b SIGKILL after ${replicateForMs} ms, down ${downForMs} ms; recovery ${t.recoveryMs} ms; ` +
            `holds psp-c#${t.target} after ${t.convergenceMs} ms; integrity ${db.integrity}; duplicate rows ${db.selectorRows - db.distinctDigests}`,
        );
      }
    } finally {
      await publisher.stop().catch(() => undefined);
      publisherClient.close();
    }

    // 2. The publisher killed mid-publication: what it acknowledged survives it.
    const psp = memberOf(c.layout, 'psp-c');
    const pspProcess = c.nodes.get('psp-c');
    if (!pspProcess) throw new Error('psp-c is not running');
    const killAfterMs = random.between(150, 2_000);
    const run = await importUntilKilled(psp.clientConfig, pspProcess, killAfterMs, pans, BATCH);
    expect((await pspProcess.exited).signal).to.equal('SIGKILL');
    expect(run.partial, 'acknowledged batches accepted whole').to.deep.equal([]);
    const acknowledged = [...publisher.acknowledgedPans, ...run.acknowledgedPans];
    const highestAcknowledged = Math.max(publisher.highestSeq, run.highestAcknowledgedSeq);
    const restartedPsp = await restartTimed(c, 'psp-c', probe, () => highestAcknowledged);
    const pspHead = (await c.client('psp-c').status()).ownFeed?.seq ?? 0;
    expect(pspHead, 'psp-c kept every entry it acknowledged').to.be.at.least(highestAcknowledged);
    const convergedFrom = Date.now();
    await Promise.all(['issuer-a', 'acquirer-b'].map((id) => waitForFeed(c!.client(id), 'psp-c', pspHead, 180_000)));
    const othersConvergedMs = Date.now() - convergedFrom;
    console.log(
      `    psp-c SIGKILL after ${killAfterMs} ms of import (${run.acknowledgedBatches} batches acknowledged, ${run.cutOff} cut off): ` +
        `recovery ${restartedPsp.recoveryMs} ms, head psp-c#${pspHead} (highest acknowledged #${highestAcknowledged}); the others converged ${othersConvergedMs} ms later`,
    );

    // 3. Everyone holds every acknowledged card, the same rows, intact and verified.
    let lost = 0;
    const counts: number[] = [];
    for (const id of MEMBERS) {
      const missing = await unlistedCards(c.client(id), acknowledged);
      lost += missing;
      counts.push((await c.client(id).status()).indicators);
      expect(missing, `acknowledged cards missing at ${id}`).to.equal(0);
    }
    await c.stopAll();
    for (const id of MEMBERS) {
      const nodeConfig = memberOf(c.layout, id).nodeConfig;
      const db = inspectDatabase(databaseFileOf(nodeConfig));
      if (db.integrity !== 'ok') integrityFailures++;
      duplicateRows += db.selectorRows - db.distinctDigests;
      expect(db.selectorRows, `${id} stores what psp-c stores`).to.equal(counts[MEMBERS.indexOf('psp-c')]);
      expect(verifyFeedsOffline(nodeConfig).get('psp-c')?.seq, `${id}'s copy of psp-c's feed verifies`).to.equal(pspHead);
    }
    const rec = minMedianMax(recoveries);
    const conv = minMedianMax(convergences);
    console.log(
      `    totals: ${iterations} replica kills + 1 publisher kill, ${acknowledged.length} cards acknowledged, acknowledged lost = ${lost}, ` +
        `integrity failures = ${integrityFailures}, duplicate rows = ${duplicateRows}; acquirer-b recovery min/median/max ${rec.min}/${rec.median}/${rec.max} ms, ` +
        `convergence ${conv.min}/${conv.median}/${conv.max} ms; ${((Date.now() - suiteStarted) / 1000).toFixed(1)} s`,
    );
    expect(integrityFailures, 'integrity check failures').to.equal(0);
    expect(duplicateRows, 'duplicated selector rows').to.equal(0);
    expect(counts[0]).to.equal(counts[1]);
    expect(counts[1]).to.equal(counts[2]);
  });
});
