// Start-up verification from a verification checkpoint: real `mamori start` processes on a real
// SQLite file. A restart verifies only the entries after the checkpoint (the count the node
// reports in Status), an altered checkpoint or the setting "full" verifies every entry, an entry
// altered below the checkpoint is found by the scrub pass begun at start, and an own-feed entry
// altered after it still refuses the start, naming the entry.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { filesUnder, makeConsortium, memberOf, runCli, spawnNode, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const MEMBER = 'psp-c';
/** One pass begins at start; the next only after an hour, so each test controls what is covered. */
const ONE_PASS = { enabled: true, intervalMs: 3_600_000, entriesPerSlice: 50, sliceDelayMs: 0 };

interface CheckpointRow {
  only: number;
  covered_row_id: number;
  heads: string;
  mac: Buffer;
  recorded_at_ms: number;
}

describe('start-up verification from a verification checkpoint', function () {
  this.timeout(180_000);
  let layout: DevConsortiumLayout;
  let dataDir: string;
  let logFile: string;
  const pans: string[] = [];

  const configure = (scrub: Record<string, unknown>) => {
    const file = memberOf(layout, MEMBER).nodeConfig;
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...raw, scrub, ownFeedRecovery: { timeoutMs: 0, required: false } }, null, 2));
  };
  const start = async (): Promise<{ process: NodeProcess; client: MamoriClient; stop(): Promise<void> }> => {
    const process = spawnNode(memberOf(layout, MEMBER).nodeConfig, logFile);
    await waitUntilServing(memberOf(layout, MEMBER).clientConfig);
    const client = MamoriClient.fromConfigFile(memberOf(layout, MEMBER).clientConfig, { mode: 'remote' });
    return {
      process,
      client,
      stop: async () => {
        client.close();
        process.child.kill('SIGTERM');
        await process.exited;
      },
    };
  };
  const withDatabase = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(dataDir, 'mamori.db'));
    try {
      db.pragma('busy_timeout = 10000');
      return fn(db);
    } finally {
      db.close();
    }
  };
  const checkpoint = () => withDatabase((db) => db.prepare('SELECT * FROM verification_checkpoint').get() as CheckpointRow | undefined);
  const maxRow = () => withDatabase((db) => (db.prepare('SELECT MAX(id) AS id FROM entries').get() as { id: number }).id);
  const ownSeqs = () => withDatabase((db) => (db.prepare('SELECT MAX(e.seq) AS seq FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ?').get(MEMBER) as { seq: number }).seq);
  const bodyOf = (seq: number) =>
    withDatabase((db) => (db.prepare('SELECT e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ? AND e.seq = ?').get(MEMBER, seq) as { body: Buffer }).body);
  const writeBody = (seq: number, body: Buffer) =>
    withDatabase((db) => expect(db.prepare('UPDATE entries SET body = ? WHERE seq = ? AND origin_id = (SELECT id FROM origins WHERE member = ?)').run(body, seq, MEMBER).changes).to.equal(1));
  const flipped = (body: Buffer): Buffer => {
    const copy = Buffer.from(body);
    const at = copy.length - 10; // inside the operation: the header still parses, the signature fails
    copy[at] = (copy[at] as number) ^ 0x04;
    return copy;
  };
  const logLines = () =>
    fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const publish = async (client: MamoriClient, batches: number) => {
    for (let i = 0; i < batches; i++) {
      const cards = randomPans(20);
      await client.publishCompromisedCards(cards, { reason: 'phishing' });
      pans.push(...cards);
    }
  };

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    dataDir = path.join(layout.dir, MEMBER, 'data');
    logFile = path.join(layout.dir, `${MEMBER}-checkpoint.log`);
    configure(ONE_PASS);
    const n = await start();
    try {
      await publish(n.client, 3);
    } finally {
      await n.stop();
    }
  });

  after(() => {
    // Nothing this test published is in clear anywhere the node wrote.
    const written = [...filesUnder(dataDir), logFile].map((f) => fs.readFileSync(f));
    for (const pan of pans) for (const form of panForms(pan)) expect(written.some((bytes) => bytes.includes(form)), 'a card number on disk').to.equal(false);
  });

  const restoreCheckpoint = (row: CheckpointRow) =>
    withDatabase((db) => db.prepare('UPDATE verification_checkpoint SET covered_row_id = ?, heads = ?, mac = ?, recorded_at_ms = ?').run(row.covered_row_id, row.heads, row.mac, row.recorded_at_ms));

  it('a restart after a checkpoint verifies only the entries appended since, from the checkpoint', async () => {
    let n = await start();
    let atStart: CheckpointRow;
    try {
      // This start verified the entries after the previous checkpoint and recorded where it ended.
      atStart = checkpoint() as CheckpointRow;
      expect(atStart.covered_row_id).to.equal(maxRow());
      await publish(n.client, 2);
    } finally {
      await n.stop();
    }
    // The scrub pass begun at start may have covered the new entries too: back to the start's checkpoint.
    restoreCheckpoint(atStart);
    n = await start();
    try {
      const status = (await n.client.status()).startUpVerification;
      expect(Number(status?.checkpointRow)).to.equal(atStart.covered_row_id);
      expect(Number(status?.entriesVerified)).to.equal(2);
      expect(maxRow() - atStart.covered_row_id).to.equal(2);
      expect(status?.fullReason).to.equal('');
      expect((await n.client.checkCards(pans)).every((v) => v.listed)).to.equal(true);
      const ready = logLines().filter((l) => l.msg === 'ledger verified and filter ready').pop();
      expect(ready?.fromCheckpointRow).to.equal(atStart.covered_row_id);
      expect(ready?.entriesVerified).to.equal(2);
      const cli = await runCli(['status', '--config', memberOf(layout, MEMBER).clientConfig]);
      expect(cli.stdout).to.include(`start-up verification: 2 entries in`);
      expect(cli.stdout).to.include(`after the verification checkpoint at row ${atStart.covered_row_id}`);
    } finally {
      await n.stop();
    }
  });

  it('a scrub pass that finds nothing damaged moves the checkpoint to the end of the ledger', async () => {
    configure({ ...ONE_PASS, intervalMs: 200 });
    const n = await start();
    try {
      // Entries accepted after the start: only a scrub pass can cover them.
      await publish(n.client, 1);
      await waitFor(() => checkpoint()?.covered_row_id === maxRow(), 'a scrub pass to record a checkpoint at the newest entry', 60_000);
    } finally {
      await n.stop();
      configure(ONE_PASS);
    }
  });

  it('a checkpoint row edited (its MAC no longer verifies): every entry verified, the reason logged at warn', async () => {
    withDatabase((db) => db.prepare('UPDATE verification_checkpoint SET covered_row_id = covered_row_id - 1').run());
    const n = await start();
    try {
      const status = (await n.client.status()).startUpVerification;
      expect(Number(status?.checkpointRow)).to.equal(0);
      expect(Number(status?.entriesVerified)).to.equal(maxRow());
      expect(status?.fullReason).to.match(/fails its MAC/);
      const warned = logLines().filter((l) => l.msg === 'verification checkpoint not used; verifying every stored entry').pop();
      expect(warned?.level).to.equal(40);
      expect(warned?.reason).to.match(/fails its MAC/);
    } finally {
      await n.stop();
    }
  });

  it('an old entry altered below the checkpoint: the node starts, and the scrub pass begun at start finds it', async () => {
    const seq = 1; // not a head: only the scrub walks it
    expect(ownSeqs()).to.be.above(seq);
    const original = bodyOf(seq);
    writeBody(seq, flipped(original));
    const n = await start();
    try {
      const status = await n.client.status();
      expect(Number(status.startUpVerification?.checkpointRow)).to.be.above(0);
      expect(Number(status.startUpVerification?.entriesVerified)).to.equal(0);
      // No peer runs here: the entry stays marked and counted.
      await waitFor(async () => Number((await n.client.status()).damagedEntries) === 1, 'the scrub to mark the entry damaged', 60_000);
      const found = await waitFor(() => logLines().find((l) => l.msg === 'scrub: stored entry is damaged; repairing from a peer' && l.origin === MEMBER && l.seq === seq), 'the log line naming the entry');
      expect(found.level).to.equal(50);
    } finally {
      await n.stop();
      writeBody(seq, original);
    }
    // A mark stays until a pass walks past the entry and finds it whole; no checkpoint was
    // recorded meanwhile (the pass found damage), so this start verifies from the earlier one.
    configure({ ...ONE_PASS, intervalMs: 200 });
    const again = await start();
    try {
      await waitFor(async () => Number((await again.client.status()).damagedEntries) === 0, 'the mark to clear once the entry is whole', 60_000);
    } finally {
      await again.stop();
      configure(ONE_PASS);
    }
  });

  it("an own-feed entry altered after the checkpoint still refuses the start, naming the entry", async () => {
    const older = checkpoint() as CheckpointRow;
    let n = await start();
    try {
      await publish(n.client, 2);
    } finally {
      await n.stop();
    }
    // An earlier checkpoint, authentic and matching the rows: the two new entries lie after it.
    restoreCheckpoint(older);
    const seq = ownSeqs() - 1;
    const original = bodyOf(seq);
    writeBody(seq, flipped(original));
    try {
      const refused = spawnNode(memberOf(layout, MEMBER).nodeConfig, logFile);
      const exit = await refused.exited;
      expect(exit.code).to.not.equal(0);
      expect(fs.readFileSync(logFile, 'utf8')).to.match(new RegExp(`stored entry ${MEMBER}#${seq} \\(row \\d+\\) fails verification: .*signature does not verify`));
    } finally {
      writeBody(seq, original);
    }
    n = await start();
    try {
      expect(Number((await n.client.status()).startUpVerification?.checkpointRow)).to.equal(older.covered_row_id);
    } finally {
      await n.stop();
    }
  });

  it('"full" verifies every entry, checkpoint or not', async () => {
    expect(checkpoint()?.covered_row_id).to.be.above(0);
    configure({ ...ONE_PASS, startUpVerification: 'full' });
    const n = await start();
    try {
      const status = (await n.client.status()).startUpVerification;
      expect(Number(status?.entriesVerified)).to.equal(maxRow());
      expect(Number(status?.checkpointRow)).to.equal(0);
      expect(status?.fullReason).to.match(/"full"/);
    } finally {
      await n.stop();
      configure(ONE_PASS);
    }
  });

  it('refuses a startUpVerification that is neither, naming the field', async () => {
    configure({ ...ONE_PASS, startUpVerification: 'never' });
    try {
      const refused = spawnNode(memberOf(layout, MEMBER).nodeConfig, logFile);
      expect((await refused.exited).code).to.not.equal(0);
      expect(fs.readFileSync(logFile, 'utf8')).to.match(/scrub\.startUpVerification.*expected "since-checkpoint" or "full"/);
    } finally {
      configure(ONE_PASS);
    }
  });
});
