// Restart paths: the filter snapshot reused, caught up, or rebuilt; a tampered ledger refused.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { sodiumReady } from '../../proto/ts/sodium';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';

function readyLine(n: InProcessNode): { filterSource: string; filterReason?: string } {
  const line = n.logLines.find((l) => l.includes('ledger verified and filter ready'));
  if (!line) throw new Error('no readiness log line');
  return JSON.parse(line) as { filterSource: string; filterReason?: string };
}

describe('restart of a node', function () {
  let layout: DevConsortiumLayout;
  let pans: string[];

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    const n = await startInProcessNode(layout, 'issuer-a');
    pans = randomPans(3000);
    await n.client.publishCompromisedCards(pans.slice(0, 1500), { reason: 'phishing' });
    await n.client.publishCompromisedCards(pans.slice(1500), { reason: 'skimming' });
    await n.stop(); // writes the filter snapshot
  });

  const expectAllListed = async (n: InProcessNode) => {
    const checks = await n.client.checkCards(pans);
    expect(checks.filter((c) => !c.listed).length).to.equal(0);
  };

  it('reuses a snapshot that matches the ledger', async () => {
    const n = await startInProcessNode(layout, 'issuer-a');
    try {
      expect(readyLine(n).filterSource).to.equal('snapshot');
      await expectAllListed(n);
    } finally {
      await n.stop();
    }
  });

  it('catches a stale snapshot up from the entries committed after it', async () => {
    const dataDir = path.join(layout.dir, 'issuer-a', 'data');
    const stale = fs.readFileSync(path.join(dataDir, 'filter.snapshot'));
    const n = await startInProcessNode(layout, 'issuer-a');
    const more = randomPans(500);
    await n.client.publishCompromisedCards(more, { reason: 'malware' });
    await n.stop();
    pans.push(...more);
    fs.writeFileSync(path.join(dataDir, 'filter.snapshot'), stale); // as if the node died before its next snapshot
    const again = await startInProcessNode(layout, 'issuer-a');
    try {
      expect(readyLine(again).filterSource).to.equal('snapshot+catch-up');
      await expectAllListed(again);
    } finally {
      await again.stop();
    }
  });

  it('rebuilds the filter from SQLite when the snapshot is corrupt or missing', async () => {
    const file = path.join(layout.dir, 'issuer-a', 'data', 'filter.snapshot');
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
    fs.writeFileSync(file, bytes);
    let n = await startInProcessNode(layout, 'issuer-a');
    try {
      expect(readyLine(n).filterSource).to.equal('rebuilt');
      expect(readyLine(n).filterReason).to.match(/corrupt/);
      await expectAllListed(n);
    } finally {
      await n.stop();
    }
    fs.rmSync(file);
    n = await startInProcessNode(layout, 'issuer-a');
    try {
      expect(readyLine(n).filterReason).to.match(/missing/);
      await expectAllListed(n);
    } finally {
      await n.stop();
    }
  });

  it('refuses to start on a ledger altered on disk, and says which entry', async () => {
    const dbFile = path.join(layout.dir, 'issuer-a', 'data', 'mamori.db');
    const db = new Database(dbFile);
    const row = db.prepare('SELECT id, body FROM entries WHERE seq = 2').get() as { id: number; body: Buffer };
    const body = Buffer.from(row.body);
    body[body.length - 5] = (body[body.length - 5] as number) ^ 0x01; // one bit of one digest
    db.prepare('UPDATE entries SET body = ? WHERE id = ?').run(body, row.id);
    db.close();
    let error: unknown;
    try {
      // Every entry verified at start; from a verification checkpoint, an entry below it is the
      // scrub's to find (start-up-checkpoint.test.ts).
      await startInProcessNode(layout, 'issuer-a', { scrub: { startUpVerification: 'full' } });
    } catch (e) {
      error = e;
    }
    expect(String((error as Error)?.message)).to.match(/stored entry issuer-a#2 .*fails verification: .*signature does not verify/);
  });

  it('refuses a ledger with an entry removed from the middle of a feed', async () => {
    const other = await makeConsortium();
    const n = await startInProcessNode(other, 'acquirer-b');
    for (let i = 0; i < 3; i++) await n.client.publishCompromisedCards(randomPans(10), { reason: 'phishing' });
    await n.stop();
    const db = new Database(path.join(other.dir, 'acquirer-b', 'data', 'mamori.db'));
    db.prepare('DELETE FROM entries WHERE seq = 2').run();
    db.close();
    let error: unknown;
    try {
      await startInProcessNode(other, 'acquirer-b');
    } catch (e) {
      error = e;
    }
    expect(String((error as Error)?.message)).to.match(/stored entry acquirer-b#3 .*fails verification: .*expected seq 2/);
  });

  it('grows a full filter in the background while it keeps answering', async () => {
    const other = await makeConsortium();
    const n = await startInProcessNode(other, 'psp-c', { filter: { capacity: 1000, targetFpRate: 1e-6 } });
    try {
      const cards = randomPans(2500);
      const pending = [0, 1, 2, 3, 4].map((i) => n.client.publishCompromisedCards(cards.slice(i * 500, (i + 1) * 500), { reason: 'phishing' }));
      await Promise.all(pending);
      await waitFor(() => n.logLines.some((l) => l.includes('filter rebuilt with a larger capacity')), 'the background rebuild');
      const status = await n.client.status();
      expect(status.filter?.capacity).to.be.at.least(2000);
      expect(status.filter?.items).to.be.at.least(2500);
      const checks = await n.client.checkCards(cards);
      expect(checks.filter((c) => !c.listed).length).to.equal(0);
    } finally {
      await n.stop();
    }
  });

  it('does not trust a snapshot built from another ledger, even at the same position', async () => {
    const other = await makeConsortium();
    const dataDir = path.join(other.dir, 'issuer-a', 'data');
    let n = await startInProcessNode(other, 'issuer-a');
    await n.client.publishCompromisedCards(randomPans(50), { reason: 'phishing' });
    await n.client.publishCompromisedCards(randomPans(50), { reason: 'phishing' });
    await n.stop();
    const firstSnapshot = fs.readFileSync(path.join(dataDir, 'filter.snapshot'));
    // A different database from here on; the node-local key stays, so the snapshot's MAC verifies and its position is what tells.
    for (const f of fs.readdirSync(dataDir)) if (f !== 'node-local.key.json') fs.rmSync(path.join(dataDir, f));
    n = await startInProcessNode(other, 'issuer-a');
    const second = randomPans(100);
    await n.client.publishCompromisedCards(second.slice(0, 50), { reason: 'skimming' });
    await n.client.publishCompromisedCards(second.slice(50), { reason: 'skimming' });
    await n.stop();
    fs.writeFileSync(path.join(dataDir, 'filter.snapshot'), firstSnapshot);
    n = await startInProcessNode(other, 'issuer-a');
    try {
      expect(readyLine(n).filterReason).to.match(/another ledger/);
      const checks = await n.client.checkCards(second);
      expect(checks.filter((c) => !c.listed).length).to.equal(0);
    } finally {
      await n.stop();
    }
  });
});
