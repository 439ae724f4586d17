// Periodic WAL checkpoints of a real node (`mamori start` in this process): a publication's
// pages reach the database file and the WAL is truncated past its size limit; a long read
// on another connection keeps the WAL from being truncated (counted as busy) without
// stalling the node, and the truncation happens once the read ends.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MamoriClient } from '../../client-sdk/src/client';
import { ConfigError } from '../../node/src/config/errors';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { runMemberNode, sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

describe('operations: periodic WAL checkpoints', function () {
  let layout: DevConsortiumLayout;
  let psp: Awaited<ReturnType<typeof runMemberNode>>;
  let client: MamoriClient;
  let walFile: string;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    // Truncate as soon as the WAL holds anything; the scrub stays out of the way.
    psp = await runMemberNode(layout, 'psp-c', {
      metricsListen: '127.0.0.1:0',
      walCheckpointIntervalMs: 100,
      walTruncateAboveBytes: 0,
      scrub: { enabled: false },
    });
    walFile = path.join(psp.parts.config.dataDir, 'mamori.db-wal');
    client = MamoriClient.fromConfigFile(memberOf(layout, 'psp-c').clientConfig, { mode: 'remote', deadlineMs: 30_000 });
  });
  after(async () => {
    client?.close();
    await psp?.stop();
  });

  it('fills the checkpoint and scrub defaults, and names the field of a bad value', () => {
    const raw = JSON.parse(fs.readFileSync(memberOf(layout, 'issuer-a').nodeConfig, 'utf8')) as Record<string, unknown>;
    const file = path.join(layout.dir, 'issuer-a', 'maintenance-variant.json');
    fs.writeFileSync(file, JSON.stringify({ ...raw, walCheckpointIntervalMs: undefined, walTruncateAboveBytes: undefined, scrub: undefined }));
    const defaults = loadNodeConfig(file);
    expect(defaults.walCheckpointIntervalMs).to.equal(60_000);
    expect(defaults.walTruncateAboveBytes).to.equal(64 * 1024 * 1024);
    expect(defaults.scrub).to.deep.equal({ enabled: true, intervalMs: 3_600_000, entriesPerSlice: 500, sliceDelayMs: 50, startUpVerification: 'since-checkpoint' });
    for (const [bad, field] of [
      [{ scrub: { startUpVerification: 'sometimes' } }, 'scrub.startUpVerification'],
      [{ scrub: { entriesPerSlice: 0 } }, 'scrub.entriesPerSlice'],
      [{ scrub: { sliceDelayMs: -1 } }, 'scrub.sliceDelayMs'],
      [{ walCheckpointIntervalMs: 5 }, 'walCheckpointIntervalMs'],
    ] as const) {
      fs.writeFileSync(file, JSON.stringify({ ...raw, ...bad }));
      let error: unknown;
      try {
        loadNodeConfig(file);
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(ConfigError);
      expect(String(error)).to.contain(field);
    }
  });

  const metrics = async () => (await scrape(psp.metrics?.address ?? '')).body;
  const walBytes = () => (fs.existsSync(walFile) ? fs.statSync(walFile).size : 0);

  it("checkpoints a publication's pages into the database file and truncates the WAL", async () => {
    const before = await metrics();
    const pagesBefore = sample(before, 'mamori_wal_checkpoint_pages_total') ?? NaN;
    const truncationsBefore = sample(before, 'mamori_wal_truncations_total') ?? NaN;
    await client.publishCompromisedCards(randomPans(2000), { reason: 'phishing' });
    await waitFor(async () => (sample(await metrics(), 'mamori_wal_checkpoint_pages_total') ?? 0) > pagesBefore, 'checkpointed pages to increase', 30_000);
    await waitFor(async () => (sample(await metrics(), 'mamori_wal_truncations_total') ?? 0) > truncationsBefore && walBytes() === 0, 'the WAL to be truncated', 30_000);
    const after = await metrics();
    expect(sample(after, 'mamori_wal_checkpoints_total')).to.be.greaterThan(0);
    expect(sample(after, 'mamori_wal_checkpoint_last_duration_seconds')).to.be.at.least(0);
    await waitFor(() => psp.logLines.some((l) => l.includes('"msg":"WAL checkpoint"')), 'a debug log line per checkpoint');
  });

  it('leaves the WAL alone while another connection holds a read, and truncates it once the read ends', async () => {
    const reader = new Database(path.join(psp.parts.config.dataDir, 'mamori.db'), { readonly: true });
    try {
      reader.exec('BEGIN');
      reader.prepare('SELECT COUNT(*) FROM entries').get(); // the read snapshot starts here
      const busyBefore = sample(await metrics(), 'mamori_wal_checkpoint_busy_total') ?? NaN;
      const pans = randomPans(500);
      await client.publishCompromisedCards(pans, { reason: 'phishing' });
      await waitFor(async () => (sample(await metrics(), 'mamori_wal_checkpoint_busy_total') ?? 0) > busyBefore, 'a checkpoint held back by the reader', 30_000);
      expect(walBytes()).to.be.greaterThan(0);
      // The node answers meanwhile.
      expect((await client.checkCard(pans[0] as string)).listed).to.equal(true);
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
    await waitFor(() => walBytes() === 0, 'the WAL to be truncated after the read ended', 30_000);
  });
});
