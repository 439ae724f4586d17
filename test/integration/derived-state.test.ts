// Derived state altered on disk while the node is stopped (issue 12, High): the rows a Check
// reads (selectors, selectors_recent, publications, retractions) and the filter snapshot. Each
// case stops a real node, tampers with its SQLite file (better-sqlite3) or its snapshot, starts
// it again, and requires the cards to answer LISTED again (at start, or within one scrub pass),
// with a log line naming the damage and a count in Status and the metrics — never a silent
// NOT LISTED. Without the node-local key's digests and snapshot MAC every case answers NOT LISTED.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MamoriClient } from '../../client-sdk/src/client';
import { FilterMirror } from '../../client-sdk/src/mirror';
import { readClientConfig } from '../../client-sdk/src/config';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import type { RunningNode } from '../../node/src/runtime/run-node';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { runMemberNode, sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

const MEMBER = 'psp-c';
/** The scrub's pass interval in these tests: "within one scrub interval" is a few of these. */
const SCRUB = { enabled: true, intervalMs: 300, entriesPerSlice: 50, sliceDelayMs: 0 };

interface Started {
  running: RunningNode & { logLines: string[] };
  client: MamoriClient;
  target: string;
  token: string;
  stop(): Promise<void>;
}

describe('derived state altered on disk is found, logged, counted and rebuilt from the signed entries', function () {
  this.timeout(120_000);
  let layout: DevConsortiumLayout;
  let dataDir: string;
  let first: string[];
  let second: string[];
  let key: Uint8Array;

  const start = async (): Promise<Started> => {
    const running = await runMemberNode(layout, MEMBER, { scrub: SCRUB, ownFeedRecovery: { timeoutMs: 0, required: false } });
    const { token } = readClientConfig(memberOf(layout, MEMBER).clientConfig);
    const target = `127.0.0.1:${running.exchange.port}`;
    const client = MamoriClient.connect({ target, token, mode: 'remote', deadlineMs: 30_000 });
    return {
      running,
      client,
      target,
      token,
      stop: async () => {
        client.close();
        await running.stop();
      },
    };
  };
  /** The node's database, opened as another process would while the node is stopped. */
  const tamper = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(dataDir, 'mamori.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const digestOf = (pan: string) => MamoriClient.panDigest(pan, key);
  const notListed = async (s: Started, pans: readonly string[]) => (await s.client.checkCards(pans)).filter((v) => !v.listed).length;
  const logged = (s: Started, text: string) => s.running.logLines.filter((l) => l.includes(text)).map((l) => JSON.parse(l) as Record<string, unknown>);
  const derivedStatus = async (s: Started) => (await s.client.status()).derivedState;
  const metric = async (s: Started, name: string) => sample((await scrape(s.running.metrics?.address ?? '')).body, name);

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    dataDir = path.join(layout.dir, MEMBER, 'data');
    const s = await start();
    try {
      first = randomPans(300);
      second = randomPans(300);
      await s.client.publishCompromisedCards(first, { reason: 'phishing' });
      await s.client.publishCompromisedCards(second, { reason: 'skimming' });
      key = (await s.client.hashingKeys())[0]?.key as Uint8Array;
      expect(await notListed(s, [...first, ...second])).to.equal(0);
    } finally {
      await s.stop();
    }
  });

  it("one card's selector row deleted: LISTED again, the damage logged and counted", async () => {
    const card = first[7] as string;
    const deleted = tamper((db) => db.prepare('DELETE FROM selectors WHERE digest = ?').run(digestOf(card)).changes + db.prepare('DELETE FROM selectors_recent WHERE digest = ?').run(digestOf(card)).changes);
    expect(deleted).to.equal(1);
    const s = await start();
    try {
      expect(await notListed(s, [card])).to.equal(0);
      expect(await notListed(s, [...first, ...second])).to.equal(0);
      const lines = logged(s, 'derived state damaged');
      expect(lines.some((l) => l.origin === MEMBER && l.seq === 1 && l.level === 50)).to.equal(true);
      const status = await derivedStatus(s);
      expect(Number(status?.damaged)).to.be.at.least(1);
      expect(Number(status?.repaired)).to.equal(Number(status?.damaged));
      expect(await metric(s, 'mamori_derived_state_repaired')).to.be.at.least(1);
    } finally {
      await s.stop();
    }
  });

  it('a fake retraction row inserted for one card: LISTED again, logged and counted', async () => {
    const card = second[3] as string;
    tamper((db) => {
      const row = db.prepare('SELECT e.origin_id AS originId, MAX(e.id) AS id FROM entries e').get() as { originId: number; id: number };
      db.prepare('INSERT INTO retractions (digest, origin_id, entry_id, reason) VALUES (?, ?, ?, ?)').run(digestOf(card), row.originId, row.id + 1000, 'RETRACT_REASON_ERROR');
      // and one that names a real later entry of the same origin, as a retraction it never made
      db.prepare('INSERT INTO retractions (digest, origin_id, entry_id, reason) VALUES (?, ?, ?, ?)').run(digestOf(first[0] as string), row.originId, row.id, 'RETRACT_REASON_ERROR');
    });
    const s = await start();
    try {
      expect(await notListed(s, [card, first[0] as string])).to.equal(0);
      expect(logged(s, 'rows of no stored entry removed').length).to.equal(1);
      expect(logged(s, 'derived state damaged: the rows of an entry differed').some((l) => l.seq === 2)).to.equal(true);
      const status = await derivedStatus(s);
      expect(Number(status?.orphansRemoved)).to.equal(1);
      expect(Number(status?.damaged)).to.equal(1);
      expect(await metric(s, 'mamori_derived_state_damaged')).to.equal(1);
    } finally {
      await s.stop();
    }
  });

  it("a publication's validity end set to 1: every card of it LISTED again, logged and counted", async () => {
    expect(tamper((db) => db.prepare('UPDATE publications SET valid_until_ms = 1 WHERE entry_id = (SELECT MIN(entry_id) FROM publications)').run().changes)).to.equal(1);
    const s = await start();
    try {
      expect(await notListed(s, first)).to.equal(0);
      expect(logged(s, 'derived state damaged').some((l) => l.seq === 1)).to.equal(true);
      expect(Number((await derivedStatus(s))?.repaired)).to.equal(1);
    } finally {
      await s.stop();
    }
  });

  it('the filter snapshot zeroed with its SHA-256 recomputed: rejected, rebuilt, and SDK mirrors never get the zeroed filter', async () => {
    const file = path.join(dataDir, 'filter.snapshot');
    const buf = fs.readFileSync(file);
    const headerLength = buf.readUInt32LE(10);
    const bodyStart = 14 + headerLength;
    const header = JSON.parse(buf.toString('utf8', 14, bodyStart)) as Record<string, unknown>;
    const zeros = Buffer.alloc(buf.length - bodyStart);
    const forged = Buffer.from(JSON.stringify({ ...header, sha256: createHash('sha256').update(zeros).digest('hex') }), 'utf8');
    const prefix = Buffer.from(buf.subarray(0, 14));
    prefix.writeUInt32LE(forged.length, 10);
    fs.writeFileSync(file, Buffer.concat([prefix, forged, zeros]));
    const s = await start();
    try {
      expect(await notListed(s, [...first, ...second])).to.equal(0);
      expect(logged(s, 'the filter snapshot fails its MAC').length).to.equal(1);
      expect(Number((await derivedStatus(s))?.snapshotsRejected)).to.equal(1);
      expect(await metric(s, 'mamori_filter_snapshots_rejected')).to.equal(1);
      expect(Number((await s.client.status()).filter?.items)).to.equal(first.length + second.length);
      const mirror = FilterMirror.start({ target: s.target, token: s.token });
      try {
        expect(await mirror.whenReady(20_000)).to.equal(true);
        expect([...first, ...second].filter((p) => mirror.mayContain(digestOf(p)) !== true).length).to.equal(0);
      } finally {
        mirror.close();
      }
    } finally {
      await s.stop();
    }
    // The snapshot written at the stop is the rebuilt filter, under the node's MAC again.
    const again = await start();
    try {
      expect(logged(again, 'the filter snapshot fails its MAC').length).to.equal(0);
      expect(await notListed(again, [...first, ...second])).to.equal(0);
    } finally {
      await again.stop();
    }
  });

  it("one card's selector row edited in place (counts unchanged): LISTED again within one scrub pass, logged and counted", async () => {
    const card = second[11] as string;
    const changed = tamper(
      (db) =>
        db.prepare('UPDATE selectors SET digest = randomblob(32) WHERE digest = ?').run(digestOf(card)).changes +
        db.prepare('UPDATE selectors_recent SET digest = randomblob(32) WHERE digest = ?').run(digestOf(card)).changes,
    );
    expect(changed).to.equal(1);
    const s = await start();
    try {
      await waitFor(async () => (await notListed(s, [card])) === 0, 'the card to answer listed again', 20_000);
      expect(logged(s, 'derived state damaged').some((l) => l.source === 'scrub' && l.seq === 2)).to.equal(true);
      await waitFor(async () => Number((await derivedStatus(s))?.repaired) === 1, 'the repair counted in Status', 5_000);
      expect(await metric(s, 'mamori_derived_state_repaired')).to.equal(1);
      expect(await notListed(s, [...first, ...second])).to.equal(0);
    } finally {
      await s.stop();
    }
  });

  it('untampered: a restart finds nothing and logs no damage', async () => {
    const s = await start();
    try {
      await waitFor(async () => Number((await derivedStatus(s))?.fullChecks) >= 1, 'one scrub pass over the derived state', 20_000);
      expect(logged(s, 'derived state damaged').length).to.equal(0);
      expect(await derivedStatus(s)).to.deep.include({ damaged: 0, repaired: 0, snapshotsRejected: 0 });
    } finally {
      await s.stop();
    }
  });
});
