// SIGKILL in the middle of an import: every acknowledged batch survives, the feed
// verifies end to end, and SQLite's integrity check passes.
import { expect } from 'chai';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { Consortium } from '../../node/src/membership/consortium';
import { openNode } from '../../node/src/runtime/open-node';
import { verifyStoredLedger } from '../../node/src/integrity/verify-ledger';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { makeConsortium, memberOf, spawnNode, waitUntilServing } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const BATCH = 2000;
const IN_FLIGHT = 4;

describe('crash safety: SIGKILL during an import', function () {
  this.timeout(180_000);

  for (const killAfterAcks of [3, 11]) {
    it(`keeps every acknowledged batch when killed after ${killAfterAcks} acknowledgements`, async () => {
      await sodiumReady();
      const layout = await makeConsortium();
      const m = memberOf(layout, 'acquirer-b');
      const logFile = path.join(layout.dir, 'acquirer-b', 'node.log');
      let node = spawnNode(m.nodeConfig, logFile);
      await waitUntilServing(m.clientConfig);

      const client = MamoriClient.fromConfigFile(m.clientConfig);
      const acknowledged: string[] = [];
      let acks = 0;
      let failures = 0;
      let next = 0;
      const all = randomPans(60 * BATCH); // distinct across batches, so every batch is accepted whole
      const batches = Array.from({ length: 60 }, (_, i) => all.slice(i * BATCH, (i + 1) * BATCH));
      const partial: number[] = [];
      const worker = async () => {
        while (next < batches.length) {
          const batch = batches[next++] as string[];
          try {
            const r = await client.publishCompromisedCards(batch, { reason: 'merchant-breach' });
            if (r.accepted !== BATCH) partial.push(r.accepted);
            acknowledged.push(...batch);
            if (++acks === killAfterAcks) node.child.kill('SIGKILL');
          } catch {
            failures++;
            return; // the node is gone: stop this worker
          }
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      client.close();
      expect(partial, 'every acknowledged batch was accepted whole').to.deep.equal([]);
      const exit = await node.exited;
      expect(exit.signal).to.equal('SIGKILL');
      expect(failures, 'some publications must have been cut off by the kill').to.be.greaterThan(0);
      expect(acks).to.be.at.least(killAfterAcks);

      node = spawnNode(m.nodeConfig, logFile);
      await waitUntilServing(m.clientConfig);
      const after = MamoriClient.fromConfigFile(m.clientConfig);
      try {
        const status = await after.status();
        expect(status.ownFeed?.seq).to.be.at.least(acks);
        // Entries may have committed without their acknowledgement reaching us; never fewer.
        expect(status.indicators).to.be.at.least(acknowledged.length);
        expect(status.indicators % BATCH).to.equal(0);
        for (let i = 0; i < acknowledged.length; i += 5000) {
          const slice = acknowledged.slice(i, i + 5000);
          // A degraded answer (the node too slow to answer on a loaded machine: the fail mode
          // spoke, not the node) says nothing about what was kept: ask again until the node answers.
          let checks = await after.checkCards(slice);
          await waitFor(async () => {
            if (checks.every((c) => !c.degraded)) return true;
            checks = await after.checkCards(slice);
            return false;
          }, 'answers from the node, not the fail mode', 120_000);
          const missing = checks.filter((c) => !c.listed).length;
          expect(missing, 'acknowledged cards lost').to.equal(0);
        }
      } finally {
        after.close();
      }
      node.child.kill('SIGTERM');
      expect((await node.exited).code).to.equal(0);

      // Verify with a fresh reader: integrity, the whole feed, no duplicated rows.
      const db = new Database(path.join(layout.dir, 'acquirer-b', 'data', 'mamori.db'), { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
        const rows = db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT digest) AS d FROM (SELECT digest FROM selectors UNION ALL SELECT digest FROM selectors_recent)').get() as { n: number; d: number };
        expect(rows.n).to.equal(rows.d);
      } finally {
        db.close();
      }
      const config = loadNodeConfig(m.nodeConfig);
      const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
      const store = LedgerStore.open(path.join(config.dataDir, 'mamori.db'));
      try {
        const heads = verifyStoredLedger(store, (origin) => consortium.memberKeys(origin));
        expect(heads.get('acquirer-b')?.seq).to.be.at.least(acks);
      } finally {
        store.close();
      }
      // And the node opens it again in-process (the same verification a restart runs).
      const reopened = await openNode(config, pino({ level: 'silent' }));
      await waitFor(() => reopened.node.ownHead().seq >= acks, 'the reopened feed head');
      reopened.close();
    });
  }
});
