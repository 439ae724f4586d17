// A full disk, played by a size-limited database (storage.maxDatabaseMb: PRAGMA
// max_page_count; SQLite answers SQLITE_FULL exactly as when the disk itself is full).
// The publisher gets a clean RESOURCE_EXHAUSTED, nothing of the refused batch is stored or
// visible, the node keeps serving checks and Status, replication backs off instead of
// crashing, and writes resume once the limit is raised.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriClientError } from '../../client-sdk/src/errors';
import { sodiumReady } from '../../proto/ts/sodium';
import { editNodeConfig, startConsortium, waitForFeed, waitForOwnWrites, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { CLI, memberOf, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { panForms } from '../helpers/cards';
import { databaseFileOf, FreshPans, inspectDatabase, unlistedCards, verifyFeedsOffline } from '../helpers/faults-process';
import { sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

const BATCH = 2_000;
const STORAGE_FULL_LOG = 'storage full: writes are refused';

function setStorageLimit(c: ConsortiumProcesses, id: string, maxDatabaseMb: number): void {
  editNodeConfig(c.layout, id, (config) => (config.storage = { maxDatabaseMb }));
}

function metricsAddress(c: ConsortiumProcesses, id: string): string {
  return (JSON.parse(fs.readFileSync(memberOf(c.layout, id).nodeConfig, 'utf8')) as { metricsListen: string }).metricsListen;
}

async function storageMetrics(c: ConsortiumProcesses, id: string): Promise<{ full: number; refused: number }> {
  const body = (await scrape(metricsAddress(c, id))).body;
  return { full: sample(body, 'mamori_storage_full') ?? -1, refused: sample(body, 'mamori_storage_refused_commits_total') ?? -1 };
}

function logOf(c: ConsortiumProcesses, id: string): string {
  return fs.readFileSync(path.join(c.layout.dir, id, 'node.log'), 'utf8');
}

function alive(c: ConsortiumProcesses, id: string): boolean {
  const child = c.nodes.get(id)?.child;
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

async function publishError(client: MamoriClient, pans: string[]): Promise<MamoriClientError> {
  try {
    await client.publishCompromisedCards(pans, { reason: 'merchant-breach' });
  } catch (error) {
    return error as MamoriClientError;
  }
  throw new Error('the publication was accepted');
}

/**
 * `mamori start` under a file-size limit (RLIMIT_FSIZE, `ulimit -f`: no root needed): a write
 * past it fails with EFBIG, which SQLite reports as SQLITE_IOERR_WRITE — the OS refusing the
 * write, as a full disk does. Output goes through a pipe so the log itself is not limited.
 */
function spawnWithFileSizeLimit(nodeConfig: string, limitKb: number, output: string[]): NodeProcess {
  const child = spawn('bash', ['-c', `ulimit -f ${limitKb} && exec "$@"`, 'mamori', process.execPath, CLI, 'start', '--config', nodeConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, logFile: '', exited };
}

/** Publishes fresh batches until one is refused: what was acknowledged, the last seq, the refusal. */
async function publishUntilRefused(client: () => MamoriClient, what: string) {
  const pans = new FreshPans();
  const acknowledged: string[] = [];
  let highestSeq = 0;
  for (let i = 0; i < 200; i++) {
    const batch = pans.batch(BATCH);
    try {
      const r = await client().publishCompromisedCards(batch, { reason: 'merchant-breach' });
      expect(r.accepted).to.equal(BATCH);
      acknowledged.push(...batch);
      highestSeq = r.seq;
    } catch (error) {
      return { acknowledged, highestSeq, refused: { batch, error: error as MamoriClientError } };
    }
  }
  throw new Error(`200 batches fitted ${what}`);
}

describe('faults: disk full', function () {
  this.timeout(10 * 60_000);
  let c: ConsortiumProcesses | undefined;

  before(async () => {
    await sodiumReady();
  });
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('refuses the publication that does not fit, whole and cleanly, keeps serving, and resumes with a larger limit', async () => {
    c = await startConsortium({ only: ['acquirer-b'], configure: (layout) => editNodeConfig(layout, 'acquirer-b', (cfg) => (cfg.storage = { maxDatabaseMb: 4 })) });
    const client = () => c!.client('acquirer-b');
    const { acknowledged, highestSeq, refused } = await publishUntilRefused(client, 'in a 4 MB database');
    console.log(`    ${acknowledged.length / BATCH} batches (${acknowledged.length} cards) fitted in 4 MB; then: ${refused.error.code} "${refused.error.message}"`);

    // A clean error: the right code, says what happened, names no card.
    expect(refused.error.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refused.error.message).to.match(/^storage full: /);
    expect(refused.error.message).to.include('nothing of this request was stored');
    for (const pan of refused.batch) for (const form of panForms(pan)) expect(refused.error.message).not.to.include(form);

    // Nothing half-applied: no seq consumed, no rows counted or listed, checks and Status answer.
    expect(alive(c, 'acquirer-b')).to.equal(true);
    const status = await client().status();
    expect(status.ownFeed?.seq).to.equal(highestSeq);
    expect(status.indicators).to.equal(acknowledged.length);
    expect(await unlistedCards(client(), acknowledged)).to.equal(0);
    expect(await unlistedCards(client(), refused.batch), 'cards of the refused batch').to.equal(BATCH);
    // Still full: the same batch is refused again, as cleanly.
    expect((await publishError(client(), refused.batch)).code).to.equal('RESOURCE_EXHAUSTED');

    // The condition is visible to operators: a metric, and one log line per episode.
    const metrics = await storageMetrics(c, 'acquirer-b');
    expect(metrics.full).to.equal(1);
    expect(metrics.refused).to.be.at.least(2);
    await waitFor(() => logOf(c!, 'acquirer-b').includes(STORAGE_FULL_LOG), 'the storage-full log line');
    expect(logOf(c, 'acquirer-b').split(STORAGE_FULL_LOG).length - 1, 'logged once per episode, not per request').to.equal(1);
    for (const pan of refused.batch.slice(0, 50)) expect(logOf(c, 'acquirer-b')).not.to.include(pan);

    // On disk: exactly the acknowledged batches, intact, verifiable.
    await c.kill('acquirer-b', 'SIGTERM');
    const nodeConfig = memberOf(c.layout, 'acquirer-b').nodeConfig;
    const db = inspectDatabase(databaseFileOf(nodeConfig));
    expect(db.integrity).to.equal('ok');
    expect(db.selectorRows, 'no partial rows').to.equal(acknowledged.length);
    expect(db.distinctDigests).to.equal(acknowledged.length);
    expect(db.entries).to.equal(highestSeq);
    expect(verifyFeedsOffline(nodeConfig).get('acquirer-b')?.seq).to.equal(highestSeq);

    // A restart on the full database verifies it and serves checks; writes are still refused.
    await c.start('acquirer-b');
    expect(await unlistedCards(client(), acknowledged.slice(-BATCH))).to.equal(0);
    expect((await publishError(client(), refused.batch)).code).to.equal('RESOURCE_EXHAUSTED');

    // With room again (a larger limit, then a restart) publishing resumes at the next seq.
    await c.kill('acquirer-b', 'SIGTERM');
    setStorageLimit(c, 'acquirer-b', 64);
    await c.start('acquirer-b');
    const resumed = await client().publishCompromisedCards(refused.batch, { reason: 'merchant-breach' });
    expect(resumed.accepted).to.equal(BATCH);
    expect(resumed.seq).to.equal(highestSeq + 1);
    expect(await unlistedCards(client(), [...acknowledged, ...refused.batch])).to.equal(0);
    expect((await storageMetrics(c, 'acquirer-b')).full).to.equal(0);
  });

  it('a replica whose storage fills up backs off, keeps serving, and catches up once there is room', async () => {
    c = await startConsortium({ only: ['acquirer-b', 'psp-c'], configure: (layout) => editNodeConfig(layout, 'acquirer-b', (cfg) => (cfg.storage = { maxDatabaseMb: 3 })) });
    const pans = new FreshPans();
    const published: string[] = [];
    let head = 0;
    for (let i = 0; i < 30; i++) {
      const batch = pans.batch(BATCH);
      head = (await c.client('psp-c').publishCompromisedCards(batch, { reason: 'skimming' })).seq;
      published.push(...batch);
    }
    // acquirer-b fills up, refuses the rest, retries after a backoff, and stays up.
    await waitFor(async () => (await storageMetrics(c!, 'acquirer-b')).refused >= 3, 'acquirer-b to refuse (and retry) replicated writes', 120_000, 200);
    expect(alive(c, 'acquirer-b')).to.equal(true);
    const partial = await c.client('acquirer-b').status();
    const held = partial.feeds.find((f) => f.origin === 'psp-c')?.seq ?? 0;
    expect(held, 'acquirer-b holds part of the feed').to.be.greaterThan(0);
    expect(held).to.be.lessThan(head);
    expect(partial.indicators, 'whole entries only').to.equal(held * BATCH);
    expect(await unlistedCards(c.client('acquirer-b'), published.slice(0, BATCH))).to.equal(0);
    expect(await unlistedCards(c.client('acquirer-b'), published.slice(-BATCH)), 'cards it had no room for').to.equal(BATCH);
    await waitFor(() => logOf(c!, 'acquirer-b').includes(STORAGE_FULL_LOG), 'the storage-full log line');
    expect(logOf(c, 'acquirer-b').split(STORAGE_FULL_LOG).length - 1, 'logged once per episode, not per retry').to.equal(1);
    expect(logOf(c, 'acquirer-b'), 'no internal error reached the log').not.to.include('request failed with an internal error');
    const rejections = (await scrape(metricsAddress(c, 'acquirer-b'))).body;
    // Gaps (a live entry overtaking a fetch) are ordinary; any other reason would blame the peer for our disk.
    const blamed = rejections.split('\n').filter((line) => line.startsWith('mamori_replication_rejections_total{') && !line.includes('reason="SEQ_GAP"'));
    expect(blamed, 'the peer is not blamed for our full disk').to.deep.equal([]);

    await c.kill('acquirer-b', 'SIGTERM');
    const nodeConfig = memberOf(c.layout, 'acquirer-b').nodeConfig;
    const db = inspectDatabase(databaseFileOf(nodeConfig));
    expect(db.integrity).to.equal('ok');
    expect(db.selectorRows).to.equal(db.distinctDigests);
    expect(verifyFeedsOffline(nodeConfig).get('psp-c')?.seq).to.equal(db.selectorRows / BATCH);

    setStorageLimit(c, 'acquirer-b', 64);
    const restarted = Date.now();
    await c.start('acquirer-b');
    await waitForFeed(c.client('acquirer-b'), 'psp-c', head, 120_000);
    console.log(`    acquirer-b held psp-c#${held} of #${head} when full; caught up ${Date.now() - restarted} ms after a restart with a larger limit`);
    expect(await unlistedCards(c.client('acquirer-b'), published)).to.equal(0);
    expect((await c.client('acquirer-b').status()).indicators).to.equal(published.length);
  });

  it('the OS refusing a write (file-size limit, EFBIG) takes the same path: clean refusal, nothing partial, resumes without the limit', async () => {
    c = await startConsortium({ only: [] });
    const m = memberOf(c.layout, 'acquirer-b');
    // A small filter, so that only the database and its WAL meet the limit.
    editNodeConfig(c.layout, 'acquirer-b', (cfg) => (cfg.filter = { capacity: 50_000, targetFpRate: 1e-6 }));
    const output: string[] = [];
    c.nodes.set('acquirer-b', spawnWithFileSizeLimit(m.nodeConfig, 3 * 1024, output));
    await waitUntilServing(m.clientConfig);
    c.clients.set('acquirer-b', MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 30_000 }));
    const client = c.client('acquirer-b');
    await waitForOwnWrites(client); // no peer runs: own writes open after ownFeedRecovery.timeoutMs
    const { acknowledged, highestSeq, refused } = await publishUntilRefused(() => client, 'under a 3 MB file-size limit');
    console.log(`    ${acknowledged.length / BATCH} batches fitted under a 3 MB file-size limit; then: ${refused.error.code} "${refused.error.message}"`);
    expect(refused.error.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refused.error.message).to.match(/^storage full: /);
    expect(alive(c, 'acquirer-b')).to.equal(true);
    const status = await client.status();
    expect(status.ownFeed?.seq).to.equal(highestSeq);
    expect(status.indicators).to.equal(acknowledged.length);
    expect(await unlistedCards(client, acknowledged)).to.equal(0);
    expect(await unlistedCards(client, refused.batch)).to.equal(BATCH);
    await waitFor(() => output.join('').includes(STORAGE_FULL_LOG), 'the storage-full log line');
    expect(output.join('')).to.include('SQLITE_IOERR');

    await c.kill('acquirer-b', 'SIGTERM');
    // Without the limit: the node verifies what is stored (exactly the acknowledged batches) and writes again.
    await c.start('acquirer-b');
    expect(await unlistedCards(c.client('acquirer-b'), acknowledged)).to.equal(0);
    const resumed = await c.client('acquirer-b').publishCompromisedCards(refused.batch, { reason: 'merchant-breach' });
    expect(resumed.seq).to.equal(highestSeq + 1);
    expect(resumed.accepted).to.equal(BATCH);
    await c.kill('acquirer-b', 'SIGTERM');
    const db = inspectDatabase(databaseFileOf(m.nodeConfig));
    expect(db.integrity).to.equal('ok');
    expect(db.selectorRows, 'no partial rows').to.equal(acknowledged.length + BATCH);
    expect(db.distinctDigests).to.equal(db.selectorRows);
  });
});
