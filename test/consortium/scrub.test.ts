// Fault: a byte flipped in a stored entry of a RUNNING node, by another process writing its
// SQLite file. The node's scrub finds it, repairs it from a peer's copy (only the original
// bytes are accepted), and checks of the cards in that entry answer listed throughout.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { sodiumReady } from '../../proto/ts/sodium';
import { editNodeConfig, startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { memberOf, runCli } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

describe('consortium: the scrub repairs damaged stored entries from peers', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses;
  const batches = [randomPans(50), randomPans(50), randomPans(50)];

  const databaseOf = (member: string) => path.join(c.layout.dir, member, 'data', 'mamori.db');
  const logOf = (member: string) => path.join(c.layout.dir, member, 'node.log');
  const metricsAddressOf = (member: string) => (JSON.parse(fs.readFileSync(memberOf(c.layout, member).nodeConfig, 'utf8')) as { metricsListen: string }).metricsListen;

  /** A second connection to a running node's database, as an outside process would hold it. */
  const withDatabase = <T>(member: string, fn: (db: Database.Database) => T): T => {
    const db = new Database(databaseOf(member));
    try {
      db.pragma('busy_timeout = 10000');
      return fn(db);
    } finally {
      db.close();
    }
  };
  const storedBody = (member: string, origin: string, seq: number): Buffer =>
    withDatabase(member, (db) => {
      const row = db.prepare('SELECT e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ? AND e.seq = ?').get(origin, seq) as { body: Buffer } | undefined;
      if (!row) throw new Error(`${member} holds no entry ${origin}#${seq}`);
      return row.body;
    });
  const writeBody = (member: string, origin: string, seq: number, body: Buffer) =>
    withDatabase(member, (db) => {
      const changes = db.prepare('UPDATE entries SET body = ? WHERE seq = ? AND origin_id = (SELECT id FROM origins WHERE member = ?)').run(body, seq, origin).changes;
      expect(changes).to.equal(1);
    });
  const flipped = (body: Buffer): Buffer => {
    const copy = Buffer.from(body);
    const at = copy.length - 10; // inside the operation: the header still parses, the signature fails
    copy[at] = (copy[at] as number) ^ 0x04;
    return copy;
  };
  const logLines = (member: string): Record<string, unknown>[] =>
    fs
      .readFileSync(logOf(member), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const logged = (member: string, msg: string, origin: string, seq: number) =>
    logLines(member).find((l) => typeof l.msg === 'string' && l.msg.includes(msg) && l.origin === origin && l.seq === seq);

  /** Checks the published cards at a member over and over until stopped; returns how many answers were not listed. */
  const keepChecking = (member: string) => {
    let stop = false;
    let notListed = 0;
    let rounds = 0;
    const loop = (async () => {
      while (!stop) {
        const verdicts = await c.client(member).checkCards(batches.flat());
        notListed += verdicts.filter((v) => !v.listed).length;
        rounds++;
      }
    })();
    return {
      stop: async () => {
        stop = true;
        await loop;
        return { notListed, rounds };
      },
    };
  };

  before(async () => {
    await sodiumReady();
    c = await startConsortium({
      configure: (layout) => {
        for (const m of layout.members) editNodeConfig(layout, m.id, (config) => Object.assign(config, { scrub: { intervalMs: 200, entriesPerSlice: 2, sliceDelayMs: 5 } }));
      },
    });
    for (const pans of batches) await c.client('psp-c').publishCompromisedCards(pans, { reason: 'merchant-breach' });
    await Promise.all([waitForFeed(c.client('acquirer-b'), 'psp-c', 3), waitForFeed(c.client('issuer-a'), 'psp-c', 3)]);
    await waitFor(async () => (await c.client('acquirer-b').status()).peers.every((p) => p.connected), 'acquirer-b connected to its peers');
    await waitFor(async () => (await c.client('psp-c').status()).peers.every((p) => p.connected), 'psp-c connected to its peers');
  });
  after(async () => {
    await c?.stopAll();
  });

  it("a byte flipped in psp-c's entry at acquirer-b is detected and repaired from a peer; the cards stay listed", async () => {
    const original = storedBody('psp-c', 'psp-c', 2);
    expect(storedBody('acquirer-b', 'psp-c', 2).equals(original)).to.equal(true);
    const checking = keepChecking('acquirer-b');
    writeBody('acquirer-b', 'psp-c', 2, flipped(original));

    const detected = await waitFor(() => logged('acquirer-b', 'stored entry is damaged', 'psp-c', 2), 'acquirer-b to log the damaged entry', 60_000);
    expect(detected.level).to.equal(50); // error
    expect(Object.keys(detected)).not.to.include.members(['body', 'signature']);
    const repaired = await waitFor(() => logged('acquirer-b', 'damaged entry repaired', 'psp-c', 2), 'acquirer-b to log the repair', 60_000);
    expect(repaired.from).to.match(/^peer (psp-c|issuer-a)$/);
    expect(storedBody('acquirer-b', 'psp-c', 2).equals(original)).to.equal(true);
    expect((await c.client('acquirer-b').status()).damagedEntries).to.equal(0);

    const metrics = (await scrape(metricsAddressOf('acquirer-b'))).body;
    expect(sample(metrics, 'mamori_scrub_damaged_total')).to.equal(1);
    expect(sample(metrics, 'mamori_scrub_repaired_total')).to.equal(1);
    expect(sample(metrics, 'mamori_damaged_entries')).to.equal(0);
    const { notListed, rounds } = await checking.stop();
    expect(rounds).to.be.greaterThan(0);
    expect(notListed).to.equal(0);
  });

  it("a byte flipped in psp-c's own newest entry at psp-c is repaired from the copies its peers hold", async () => {
    const original = storedBody('psp-c', 'psp-c', 3);
    const checking = keepChecking('psp-c');
    writeBody('psp-c', 'psp-c', 3, flipped(original));
    await waitFor(() => logged('psp-c', 'stored entry is damaged', 'psp-c', 3), 'psp-c to log its damaged entry', 60_000);
    const repaired = await waitFor(() => logged('psp-c', 'damaged entry repaired', 'psp-c', 3), 'psp-c to log the repair', 60_000);
    expect(repaired.from).to.match(/^peer (acquirer-b|issuer-a)$/);
    expect(storedBody('psp-c', 'psp-c', 3).equals(original)).to.equal(true);
    expect((await c.client('psp-c').status()).damagedEntries).to.equal(0);
    expect((await checking.stop()).notListed).to.equal(0);
    // The repaired feed still chains: a new entry is accepted by the peers.
    const next = await c.client('psp-c').publishCompromisedCards(randomPans(5), { reason: 'phishing' });
    await waitForFeed(c.client('acquirer-b'), 'psp-c', next.seq);
  });

  it('with no good copy anywhere the entry stays marked and reported in status, and is repaired once one turns up', async () => {
    const original = storedBody('psp-c', 'psp-c', 1);
    const members = ['psp-c', 'acquirer-b', 'issuer-a'];
    for (const m of members) writeBody(m, 'psp-c', 1, flipped(original));
    for (const m of members) {
      await waitFor(async () => (await c.client(m).status()).damagedEntries === 1, `${m} to report one damaged entry`, 60_000);
    }
    const status = await runCli(['status', '--config', memberOf(c.layout, 'acquirer-b').clientConfig]);
    expect(status.code).to.equal(0);
    expect(status.stdout).to.include('DAMAGED stored entries: 1');
    // Still marked after further passes: no peer's copy is the original.
    await waitFor(() => logLines('acquirer-b').filter((l) => l.msg === 'scrub: no good copy of a damaged entry yet; it stays marked' && l.seq === 1).length >= 3, 'repeated repair attempts', 60_000);
    expect((await c.client('acquirer-b').status()).damagedEntries).to.equal(1);

    // An operator restores the original at one member (from a backup): the others repair from it.
    writeBody('issuer-a', 'psp-c', 1, original);
    for (const m of members) {
      await waitFor(async () => (await c.client(m).status()).damagedEntries === 0, `${m} to repair the entry`, 60_000);
      expect(storedBody(m, 'psp-c', 1).equals(original)).to.equal(true);
    }
    expect((await runCli(['status', '--config', memberOf(c.layout, 'acquirer-b').clientConfig])).stdout).to.include('damaged stored entries: 0');
  });

  it("a node stopped with another origin's entry damaged starts, marks it and repairs it from a peer", async () => {
    const original = storedBody('psp-c', 'psp-c', 2);
    await c.kill('acquirer-b', 'SIGTERM');
    writeBody('acquirer-b', 'psp-c', 2, flipped(original));
    // Every entry verified at start (not only those after the verification checkpoint): the start itself finds it.
    editNodeConfig(c.layout, 'acquirer-b', (config) => Object.assign(config, { scrub: { ...(config.scrub as object), startUpVerification: 'full' } }));
    await c.start('acquirer-b');
    const atStart = await waitFor(
      () => logLines('acquirer-b').find((l) => typeof l.msg === 'string' && l.msg.startsWith('stored entry of another origin is damaged') && l.origin === 'psp-c' && l.seq === 2),
      'acquirer-b to log the damaged entry at start-up',
    );
    expect(atStart.level).to.equal(50);
    await waitFor(async () => (await c.client('acquirer-b').status()).damagedEntries === 0 && storedBody('acquirer-b', 'psp-c', 2).equals(original), 'the repair after the restart', 60_000);
    expect((await c.client('acquirer-b').checkCards(batches[1] as string[])).every((v) => v.listed)).to.equal(true);
  });

  it("with the verification checkpoint, an entry damaged below it is found and repaired by the scrub pass begun at start", async () => {
    const original = storedBody('psp-c', 'psp-c', 1);
    const covered = () => withDatabase('acquirer-b', (db) => db.prepare('SELECT (SELECT covered_row_id FROM verification_checkpoint) = (SELECT MAX(id) FROM entries)').pluck().get() === 1);
    await waitFor(covered, 'a clean scrub pass to record a checkpoint over every entry', 60_000);
    await c.kill('acquirer-b', 'SIGTERM');
    writeBody('acquirer-b', 'psp-c', 1, flipped(original));
    editNodeConfig(c.layout, 'acquirer-b', (config) => Object.assign(config, { scrub: { ...(config.scrub as object), startUpVerification: 'since-checkpoint' } }));
    await c.start('acquirer-b');
    const status = await c.client('acquirer-b').status();
    expect(Number(status.startUpVerification?.checkpointRow)).to.be.above(0);
    await waitFor(() => logged('acquirer-b', 'scrub: stored entry is damaged', 'psp-c', 1), 'the scrub to find the entry', 60_000);
    await waitFor(async () => (await c.client('acquirer-b').status()).damagedEntries === 0 && storedBody('acquirer-b', 'psp-c', 1).equals(original), 'the repair from a peer', 60_000);
  });
});
