// The scrub over a real SQLite ledger file: slices of bounded size, a walk that resumes where
// it stopped, damage found in the slice that reaches it, and repairs that accept only the
// original bytes (by the chain's hash and the origin's signature).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { LedgerScrub, type PeerCopies } from '../../node/src/integrity/scrub';
import { verifyStoredLedger } from '../../node/src/integrity/verify-ledger';
import { signNextEntry } from '../../node/src/ledger/entry';
import { DamagedEntryStore } from '../../node/src/integrity/damaged-entries';
import { LedgerStore } from '../../node/src/store/ledger-store';
import type { RawEntry } from '../../node/src/replication/types';
import { tempDir } from '../helpers/node-harness';
import { cardPublication, digest, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';
import { waitFor } from '../helpers/wait';

describe('scrub: background re-verification of stored entries', () => {
  let dir: string;
  let store: LedgerStore;
  let damage: DamagedEntryStore;
  let psp: TestMember;
  let issuer: TestMember;
  let ledger: MemoryLedger;
  const originals = new Map<string, RawEntry>();

  before(async () => {
    await sodiumReady();
  });

  beforeEach(() => {
    dir = tempDir('mamori-scrub-');
    store = LedgerStore.open(path.join(dir, 'mamori.db'));
    damage = new DamagedEntryStore(store.db);
    psp = makeMember('psp-c', ['psp']);
    issuer = makeMember('issuer-a', ['issuer']);
    ledger = new MemoryLedger([psp, issuer]);
    originals.clear();
  });

  afterEach(async () => {
    await Promise.all(scrubs.splice(0).map((s) => s.close()));
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Appends `count` entries alternating between the two origins. */
  const publish = (count: number) => {
    for (let i = 0; i < count; i++) {
      const m = i % 2 === 0 ? psp : issuer;
      const signed = signNextEntry(m.id, ledger.head(m.id), 1, { publishIndicators: cardPublication([digest(), digest()]) }, m.keys.secretKey);
      const accepted = ledger.accept(signed);
      store.append(accepted);
      originals.set(`${m.id}#${accepted.seq}`, { body: Buffer.from(signed.body), signature: Buffer.from(signed.signature) });
    }
  };

  const flipBodyByte = (origin: string, seq: number, offset = 40) => {
    const row = store.entryAt(origin, seq);
    if (!row) throw new Error(`no entry ${origin}#${seq}`);
    const body = Buffer.from(row.body);
    body[offset] = (body[offset] as number) ^ 0x01;
    store.db.prepare('UPDATE entries SET body = ? WHERE seq = ? AND origin_id = (SELECT id FROM origins WHERE member = ?)').run(body, seq, origin);
  };

  const scrubs: LedgerScrub[] = [];
  const scrubWith = (entriesPerSlice: number) => {
    const members = () => new Map([psp, issuer].map((m) => [m.id, ledger.member(m.id) as NonNullable<ReturnType<MemoryLedger['member']>>]));
    const scrub = new LedgerScrub(
      { store, damage, members, databaseFile: path.join(dir, 'mamori.db'), log: pino({ level: 'silent' }) },
      { intervalMs: 60_000, entriesPerSlice, sliceDelayMs: 0 },
    );
    scrubs.push(scrub);
    return scrub;
  };

  const peersHolding = (copies: Map<string, RawEntry>, extra: RawEntry[] = []): PeerCopies =>
    async function* (origin, seq) {
      for (const entry of extra) yield { peer: 'forger', entry };
      const copy = copies.get(`${origin}#${seq}`);
      if (copy) yield { peer: 'acquirer-b', entry: copy };
    };

  it('walks the ledger in slices of entriesPerSlice (in a worker thread), picking up entries appended meanwhile', async () => {
    publish(10);
    const scrub = scrubWith(3);
    const walked: number[] = [];
    expect((await scrub.slice()).walked).to.equal(3);
    expect(scrub.position).to.equal(3);
    publish(4); // committed while the pass runs: the walk reaches them in the same pass
    for (;;) {
      const r = await scrub.slice();
      if (r.passEnded) break;
      walked.push(r.walked);
      expect(r.damaged).to.deep.equal([]);
    }
    expect(walked.every((n) => n <= 3)).to.equal(true);
    expect(3 + walked.reduce((a, b) => a + b, 0)).to.equal(14);
    expect(scrub.stats).to.include({ passes: 1, entriesVerified: 14, damaged: 0 });
    // The next pass starts again from the first entry.
    expect(scrub.position).to.equal(0);
    expect((await scrub.slice()).walked).to.equal(3);
  });

  it('stopped mid-pass, resumes where it stopped instead of starting over', async () => {
    publish(12);
    const scrub = scrubWith(4);
    await scrub.slice();
    await scrub.slice();
    expect(scrub.position).to.equal(8);
    scrub.start(peersHolding(originals));
    await waitFor(() => scrub.stats.passes === 1, 'the first pass to finish', 30_000);
    await scrub.stop();
    // 12 entries verified once each: the loop went on from entry 9, not from entry 1.
    expect(scrub.stats.entriesVerified).to.equal(12);
  });

  it('finds a flipped byte in the slice that reaches it and repairs it from the peer copy that is the original', async () => {
    publish(20);
    flipBodyByte('issuer-a', 5); // row 10
    const scrub = scrubWith(4);
    const found: { origin: string; seq: number }[] = [];
    // No peer yet: found, marked, not repaired; the walk goes on past it.
    for (;;) {
      const r = await scrub.slice();
      found.push(...r.damaged.map((d) => ({ origin: d.origin, seq: d.seq })));
      if (r.damaged.length > 0) expect(scrub.position).to.be.within(10, 12);
      if (r.passEnded) break;
    }
    expect(found).to.deep.equal([{ origin: 'issuer-a', seq: 5 }]);
    expect(damage.list().map((m) => [m.origin, m.seq])).to.deep.equal([['issuer-a', 5]]);
    expect(scrub.stats).to.include({ damaged: 1, repaired: 0, entriesVerified: 20 });
    expect(store.entryAt('issuer-a', 5)?.body.equals(originals.get('issuer-a#5')?.body as Buffer)).to.equal(false);

    // Peers: one offers a validly signed entry of another seq, one a copy of the wrong bytes, then the original.
    const forged = { body: Buffer.from((originals.get('issuer-a#5') as RawEntry).body), signature: Buffer.alloc(64, 7) };
    forged.body[41] = (forged.body[41] as number) ^ 0x02;
    scrub.start(peersHolding(originals, [originals.get('issuer-a#6') as RawEntry, forged]));
    expect(await scrub.repair('issuer-a', 5)).to.equal(true);
    await scrub.stop();
    expect(store.entryAt('issuer-a', 5)?.body.equals(originals.get('issuer-a#5')?.body as Buffer)).to.equal(true);
    expect(damage.count()).to.equal(0);
    expect(scrub.stats.repaired).to.equal(1);
    // The repaired ledger passes the start-up verification again.
    expect(verifyStoredLedger(store, (o) => ledger.member(o)).get('issuer-a')?.seq).to.equal(10);
  });

  it('repairs a damaged hash column from its own copy when the next entry\'s signed prev vouches for the body', async () => {
    publish(6);
    store.db.prepare('UPDATE entries SET hash = ? WHERE id = 3').run(Buffer.alloc(32, 9));
    const scrub = scrubWith(10);
    const r = await scrub.slice();
    expect(r.damaged.map((d) => `${d.origin}#${d.seq}`)).to.deep.equal(['psp-c#2']);
    expect(r.damaged[0]?.reason).to.match(/stored hash does not match the body/);
    expect(scrub.stats.repaired).to.equal(1);
    expect(damage.count()).to.equal(0);
    expect(verifyStoredLedger(store, (o) => ledger.member(o)).get('psp-c')?.seq).to.equal(3);
  });

  it('leaves a damaged entry marked when no copy matches, and start-up can tolerate it for a caller that says so', async () => {
    publish(6);
    flipBodyByte('psp-c', 2);
    const scrub = scrubWith(10);
    scrub.start(peersHolding(new Map()));
    await waitFor(() => scrub.stats.passes >= 1, 'a pass', 30_000);
    await scrub.stop();
    expect(damage.count()).to.equal(1);
    expect(() => verifyStoredLedger(store, (o) => ledger.member(o))).to.throw(/psp-c#2 \(row 3\) fails verification/);
    const heads = verifyStoredLedger(store, (o) => ledger.member(o), (d) => d.origin === 'psp-c');
    expect(heads.get('psp-c')?.seq).to.equal(3);
  });
});
