// A member's node restored from an old backup (or started on an empty data dir with the same
// member key) must not sign a seq its peers already hold: it recovers its own feed from its
// peers first, or peers would freeze it as an equivocator (docs/design.md#own-feed-recovery).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { sodiumReady } from '../../proto/ts/sodium';
import { cardPublication, type MamoriClient } from '../../client-sdk/src/client';
import { panSelector } from '../../proto/ts/trust/domains';
import { signNextEntry, ZERO_HASH } from '../../node/src/ledger/entry';
import { readTlsMaterial } from '../../node/src/rpc/peer-credentials';
import { FakePeer } from '../helpers/fake-peer';
import { memberOf } from '../helpers/node-harness';
import { editNodeConfig, startConsortium, waitForFeed, waitForOwnWrites, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'];
const PEERS = ['issuer-a', 'acquirer-b'];

function dataDir(c: ConsortiumProcesses, id: string): string {
  return path.join(c.layout.dir, id, 'data');
}

function nodeLog(c: ConsortiumProcesses, id: string): string {
  return fs.readFileSync(path.join(c.layout.dir, id, 'node.log'), 'utf8');
}

function publish(client: MamoriClient, pans: string[]) {
  return client.publishCompromisedCards(pans, { reason: 'merchant-breach', exposed: ['pan'] });
}

async function expectOwnWritesRefused(client: MamoriClient): Promise<void> {
  const error = await publish(client, randomPans(1)).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string },
  );
  expect(error, 'publish while recovering').to.not.equal(undefined);
  expect(error?.code).to.equal('UNAVAILABLE');
  expect(error?.message).to.contain('recovering own feed from peers');
}

function equivocationRows(c: ConsortiumProcesses, id: string): number {
  const db = new Database(path.join(dataDir(c, id), 'mamori.db'), { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM equivocations').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function expectNobodyFrozen(c: ConsortiumProcesses): Promise<void> {
  for (const id of MEMBERS) {
    expect((await c.client(id).status()).frozenOrigins, `frozen origins at ${id}`).to.deep.equal([]);
    expect(equivocationRows(c, id), `equivocation evidence at ${id}`).to.equal(0);
  }
}

/**
 * psp-c publishes batch 1, is stopped and its data dir copied (the backup), then publishes
 * batches 2 and 3 that both peers replicate; finally it is stopped and the backup put back.
 */
async function restoreOldBackup(c: ConsortiumProcesses, batches: string[][], options: { stopPeers: boolean }): Promise<number[]> {
  const psp = () => c.client('psp-c');
  const seqs: number[] = [];
  const backup = `${dataDir(c, 'psp-c')}.backup`;
  for (const [i, batch] of batches.entries()) {
    const r = await publish(psp(), batch);
    expect(r.accepted).to.equal(batch.length);
    seqs.push(r.seq);
    for (const peer of PEERS) await waitForFeed(c.client(peer), 'psp-c', r.seq);
    if (i === 0) {
      await c.kill('psp-c', 'SIGTERM');
      fs.cpSync(dataDir(c, 'psp-c'), backup, { recursive: true });
      await c.start('psp-c');
    }
  }
  await c.kill('psp-c', 'SIGTERM');
  if (options.stopPeers) for (const peer of PEERS) await c.kill(peer, 'SIGTERM');
  fs.rmSync(dataDir(c, 'psp-c'), { recursive: true, force: true });
  fs.cpSync(backup, dataDir(c, 'psp-c'), { recursive: true });
  return seqs;
}

async function expectEveryoneLists(c: ConsortiumProcesses, pans: string[]): Promise<void> {
  for (const id of MEMBERS) {
    const verdicts = await c.client(id).checkCards(pans);
    expect(verdicts.filter((v) => !(v.listed && v.evidence.some((e) => e.origin === 'psp-c'))).length, `cards not listed at ${id}`).to.equal(0);
  }
}

describe('consortium: a node restored from an old backup', function () {
  this.timeout(240_000);
  let c: ConsortiumProcesses | undefined;

  before(async () => {
    await sodiumReady();
  });
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('recovers its own feed from its peers before signing, and nobody freezes it', async () => {
    c = await startConsortium();
    const batches = [randomPans(40), randomPans(40), randomPans(40)];
    const seqs = await restoreOldBackup(c, batches, { stopPeers: false });
    expect(seqs).to.deep.equal([1, 2, 3]);

    await c.start('psp-c');
    const status = await c.client('psp-c').status();
    expect(status.ownFeed?.seq).to.equal(3);
    expect(status.ownFeedRecovery?.state).to.equal('recovered');
    expect(Number(status.ownFeedRecovery?.recoveredEntries)).to.equal(2);

    const batch4 = randomPans(40);
    const r4 = await publish(c.client('psp-c'), batch4);
    expect(r4.seq).to.equal(4);
    for (const peer of PEERS) await waitForFeed(c.client(peer), 'psp-c', 4);
    await expectNobodyFrozen(c);
    await expectEveryoneLists(c, [...batches.flat(), ...batch4]);
  });

  it('with its peers down: own writes refused until ownFeedRecovery.timeoutMs, then accepted; the own feed is caught up when peers return', async () => {
    c = await startConsortium();
    const batches = [randomPans(30), randomPans(30)];
    await restoreOldBackup(c, batches, { stopPeers: true });
    editNodeConfig(c.layout, 'psp-c', (config) => (config.ownFeedRecovery = { timeoutMs: 6000, required: false }));

    await c.start('psp-c', { waitForOwnWrites: false });
    await expectOwnWritesRefused(c.client('psp-c'));
    const recovering = await c.client('psp-c').status();
    expect(recovering.ownFeedRecovery?.state).to.equal('recovering');
    expect(recovering.ownFeed?.seq).to.equal(1);
    expect((await c.client('psp-c').checkCards(batches[0] as string[])).every((v) => v.listed)).to.equal(true);

    await waitForOwnWrites(c.client('psp-c'));
    expect((await c.client('psp-c').status()).ownFeedRecovery?.state).to.equal('unchecked');
    await waitFor(() => nodeLog(c!, 'psp-c').includes('no peer answered within ownFeedRecovery.timeoutMs'), 'the warning in the log');

    // The peers come back before psp-c signed anything: the replicator fetches the own feed.
    for (const peer of PEERS) await c.start(peer);
    await waitForFeed(c.client('psp-c'), 'psp-c', 2);
    // The replicator holds own writes while it fetches own entries; they reopen once it is done.
    await waitForOwnWrites(c.client('psp-c'));
    const r3 = await publish(c.client('psp-c'), randomPans(30));
    expect(r3.seq).to.equal(3);
    for (const peer of PEERS) await waitForFeed(c.client(peer), 'psp-c', 3);
    await expectNobodyFrozen(c);
  });

  it('with ownFeedRecovery.required: own writes refused until a peer comes back, then recovered and accepted', async () => {
    c = await startConsortium();
    const batches = [randomPans(30), randomPans(30), randomPans(30)];
    await restoreOldBackup(c, batches, { stopPeers: true });
    editNodeConfig(c.layout, 'psp-c', (config) => (config.ownFeedRecovery = { timeoutMs: 500, required: true }));

    await c.start('psp-c', { waitForOwnWrites: false });
    await waitFor(() => nodeLog(c!, 'psp-c').includes('ownFeedRecovery.required is set'), 'the still-refusing warning');
    await expectOwnWritesRefused(c.client('psp-c'));
    expect((await c.client('psp-c').status()).ownFeedRecovery?.acceptingWrites).to.equal(false);

    await c.start('acquirer-b');
    await waitForOwnWrites(c.client('psp-c'));
    const status = await c.client('psp-c').status();
    expect(status.ownFeed?.seq).to.equal(3);
    expect(status.ownFeedRecovery?.state).to.equal('recovered');
    const r4 = await publish(c.client('psp-c'), randomPans(30));
    expect(r4.seq).to.equal(4);

    await c.start('issuer-a');
    for (const peer of PEERS) await waitForFeed(c.client(peer), 'psp-c', 4);
    await expectNobodyFrozen(c);
  });

  it('a peer holding a different entry of its own feed at a seq it holds: logged as an error, its own origin not frozen here', async () => {
    let fakeStarting: Promise<FakePeer> | undefined;
    let fake: FakePeer | undefined;
    try {
      c = await startConsortium({
        only: ['psp-c'],
        configure: (layout) => {
          editNodeConfig(layout, 'psp-c', (config) => (config.peers = ['issuer-a']));
          const dir = path.join(layout.dir, 'issuer-a', 'tls');
          const tls = readTlsMaterial({ caFile: layout.caFile, certFile: path.join(dir, 'node.cert.pem'), keyFile: path.join(dir, 'node.key.pem') });
          fakeStarting = FakePeer.start(memberOf(layout, 'issuer-a').endpoint, tls);
        },
      });
      fake = await (fakeStarting as Promise<FakePeer>);
      const psp = c.client('psp-c');
      expect((await publish(psp, randomPans(5))).seq).to.equal(1);
      expect((await publish(psp, randomPans(5))).seq).to.equal(2);

      // Another psp-c seq 1, validly signed with psp-c's key (as after a restore that signed again).
      const keyFile = JSON.parse(fs.readFileSync(path.join(c.layout.dir, 'psp-c', 'member.key.json'), 'utf8')) as { signing: { secretKey: string } };
      const operation = { publishIndicators: cardPublication([panSelector(Buffer.alloc(32, 7), randomPan())], { reason: 'merchant-breach' }) };
      const other = signNextEntry('psp-c', { seq: 0, hash: ZERO_HASH }, 1, operation, Buffer.from(keyFile.signing.secretKey, 'base64'));
      fake.view = () => [{ origin: 'psp-c', entries: [{ seq: 1, body: other.body, signature: other.signature }] }];

      await waitFor(() => nodeLog(c!, 'psp-c').includes("a peer holds a different entry of this node's own feed"), 'the divergence in the log', 30_000);
      const status = await psp.status();
      expect(status.frozenOrigins).to.deep.equal([]);
      expect(status.ownFeed?.seq).to.equal(2);
      expect(equivocationRows(c, 'psp-c')).to.equal(0);
      expect((await publish(psp, randomPans(5))).seq).to.equal(3);
    } finally {
      fake?.stop();
    }
  });
});
