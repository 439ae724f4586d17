// Replication and acceptance rules through the PeerLink seam, in one process: real stores,
// writers, ingest and Replicator over memory links (test/helpers/memory-peer.ts). Every wait
// polls a condition; each case runs in well under a second.
import { expect } from 'chai';
import { entrySigningBytes } from '../../proto/ts/trust/domains';
import { entryHash, verifyDetached } from '../../node/src/crypto/signing';
import { forged, memoryConsortium, replicate, signChain, type MemoryConsortium, type MemoryNode, type ServedEntry } from '../helpers/memory-peer';
import { waitFor } from '../helpers/wait';

const WAIT_MS = 5_000;
const POLL_MS = 2;

function until<T>(condition: () => T, what: string): Promise<NonNullable<T>> {
  return waitFor(condition, what, WAIT_MS, POLL_MS);
}

const seqsOf = (node: MemoryNode, origin: string) => node.entries(origin).map((e) => e.seq);
const hex = (b: Buffer) => b.toString('hex');

describe('unit: replication through in-memory PeerLinks', function () {
  this.slow(1000);
  let net: MemoryConsortium;

  beforeEach(async () => {
    net = await memoryConsortium(['issuer-a', 'acquirer-b', 'psp-c', 'issuer-d']);
  });

  afterEach(async () => {
    await net.close();
  });

  it('gap then fill: entries after a gap are not stored; once the peer serves the missing one, all are accepted in order', async () => {
    const b = net.create('acquirer-b');
    const chain = signChain(net.member('issuer-a'), 5);
    const peer = net.hostile('psp-c').serve('issuer-a', [chain[0], chain[1], chain[3], chain[4]] as ServedEntry[]);
    b.link('psp-c');

    await until(() => b.head('issuer-a').seq === 2 && (b.peerStatus('psp-c')?.rejections.SEQ_GAP ?? 0) >= 1, 'seq 1-2 stored and the gap counted');
    // Fetched again on anti-entropy: still a gap, still nothing past it.
    await until(() => net.callsBetween('acquirer-b', 'psp-c', 'fetch').filter((c) => c.origin === 'issuer-a' && c.fromSeq === 3).length >= 2, 'a fetch from seq 3');
    expect(seqsOf(b, 'issuer-a')).to.deep.equal([1, 2]);
    expect(b.store.entryAt('issuer-a', 4)).to.equal(undefined);
    expect(b.store.entryAt('issuer-a', 5)).to.equal(undefined);
    expect(Object.keys(b.peerStatus('psp-c')?.rejections ?? {})).to.deep.equal(['SEQ_GAP']);

    peer.serve('issuer-a', chain);
    await until(() => b.head('issuer-a').seq === 5, 'the gap filled');
    expect(b.commitOrder()).to.deep.equal([1, 2, 3, 4, 5].map((seq) => ({ origin: 'issuer-a', seq })));
    expect(b.entries('issuer-a').map((e) => hex(entryHash(e.body)))).to.deep.equal(chain.map((e) => hex(e.hash)));
    expect(b.head('issuer-a').hash.equals((chain[4] as ServedEntry).hash)).to.equal(true);
    expect(b.peerStatus('psp-c')?.accepted).to.equal(5);
    expect(b.frozenOrigins()).to.deep.equal([]);
  });

  it('fork found by head comparison: a peer advertising another hash at a seq both hold is asked for that one entry, and the equivocation is caught', async () => {
    const a = net.create('issuer-a');
    const b = net.create('acquirer-b');
    const psp = net.member('psp-c');
    const [versionA] = signChain(psp, 1) as [ServedEntry];
    const [versionB] = signChain(psp, 1) as [ServedEntry];
    // psp-c shows each honest node a different seq 1.
    net.hostile('psp-c').serve('psp-c', [versionA], 'issuer-a').serve('psp-c', [versionB], 'acquirer-b');
    a.link('psp-c');
    b.link('psp-c');
    await until(() => a.head('psp-c').seq === 1 && b.head('psp-c').seq === 1, 'each holding one version');
    expect(hex(a.head('psp-c').hash)).to.equal(hex(versionA.hash));
    expect(hex(b.head('psp-c').hash)).to.equal(hex(versionB.hash));

    // Neither is ahead: only the heads' hashes differ.
    b.link('issuer-a');
    await until(() => b.frozenOrigins().length === 1, 'psp-c frozen at acquirer-b');
    expect(b.frozenOrigins()).to.deep.equal([{ origin: 'psp-c', reason: 'equivocation at seq 1' }]);
    expect(b.peerStatus('issuer-a')?.rejections).to.deep.equal({ EQUIVOCATION: 1 });
    // The one-entry fetch of the fork, at the seq both hold.
    const fetches = net.callsBetween('acquirer-b', 'issuer-a', 'fetch').filter((c) => c.origin === 'psp-c');
    expect(fetches[0]).to.include({ origin: 'psp-c', fromSeq: 1, limit: 1 });
    const [evidence] = b.equivocations('psp-c');
    expect(evidence).to.include({ seq: 1, reportedBy: 'issuer-a' });
    expect(hex(evidence?.storedHash as Buffer)).to.equal(hex(versionB.hash));
    expect(hex(evidence?.otherHash as Buffer)).to.equal(hex(versionA.hash));
    // The stored version stays; the node that was only asked knows nothing of it.
    expect(hex(b.store.entryAt('psp-c', 1)?.hash as Buffer)).to.equal(hex(versionB.hash));
    expect(a.frozenOrigins()).to.deep.equal([]);
  });

  it('equivocation with evidence: two nodes holding different validly signed seq 1 both freeze the origin and keep the other body', async () => {
    const a = net.create('issuer-a');
    const b = net.create('acquirer-b');
    const psp = net.member('psp-c');
    const [versionA] = signChain(psp, 1) as [ServedEntry];
    const [versionB] = signChain(psp, 1) as [ServedEntry];
    for (const v of [versionA, versionB]) expect(verifyDetached(v.signature, entrySigningBytes(v.body), psp.keys.publicKey)).to.equal(true);
    const evil = net.hostile('psp-c').serve('psp-c', [versionA], 'issuer-a').serve('psp-c', [versionB], 'acquirer-b');
    a.link('psp-c');
    b.link('psp-c');
    await until(() => a.head('psp-c').seq === 1 && b.head('psp-c').seq === 1, 'each holding one version');

    a.link('acquirer-b');
    b.link('issuer-a');
    await until(() => a.frozenOrigins().length === 1 && b.frozenOrigins().length === 1, 'psp-c frozen at both');

    for (const [node, stored, other, reporter] of [
      [a, versionA, versionB, 'acquirer-b'],
      [b, versionB, versionA, 'issuer-a'],
    ] as const) {
      expect(node.frozenOrigins()).to.deep.equal([{ origin: 'psp-c', reason: 'equivocation at seq 1' }]);
      const evidence = node.equivocations('psp-c');
      expect(evidence).to.have.length(1);
      const [e] = evidence;
      expect(e).to.include({ seq: 1, reportedBy: reporter });
      // Both bodies: the stored one (its hash in the evidence, its bytes in the ledger) and the other.
      expect(hex(e?.storedHash as Buffer)).to.equal(hex(stored.hash));
      expect(hex(node.store.entryAt('psp-c', 1)?.body as Buffer)).to.equal(hex(stored.body));
      expect(hex(e?.otherBody as Buffer)).to.equal(hex(other.body));
      expect(hex(e?.otherSignature as Buffer)).to.equal(hex(other.signature));
      expect(hex(e?.otherHash as Buffer)).to.equal(hex(other.hash));
      expect(node.peerStatus(reporter)?.rejections.EQUIVOCATION).to.equal(1);
    }

    // Frozen: psp-c's next entry is refused from any peer, and not stored.
    const [next] = signChain(psp, 1, { seq: 1, hash: versionA.hash }) as [ServedEntry];
    await evil.push([next], 'issuer-a');
    await until(() => a.peerStatus('psp-c')?.rejections.ORIGIN_FROZEN === 1, 'seq 2 refused as ORIGIN_FROZEN');
    expect(seqsOf(a, 'psp-c')).to.deep.equal([1]);
  });

  it('relay through a third node: entries reach a member never linked to their origin, both ways, stored and live', async () => {
    const a = net.create('issuer-a');
    const b = net.create('acquirer-b');
    const c = net.create('psp-c');
    const published = await a.publish(3);
    await replicate(a, b);
    await replicate(b, c);
    expect(seqsOf(c, 'issuer-a')).to.deep.equal([1, 2, 3]);

    // Live: committed at a, relayed by b's Follow to c; and c's to a.
    published.push(...(await a.publish(2)));
    const fromC = await c.publish(1);
    await until(() => c.head('issuer-a').seq === 5 && a.head('psp-c').seq === 1, 'live entries relayed by acquirer-b');
    expect(c.entries('issuer-a').map((e) => hex(e.body))).to.deep.equal(published.map((e) => hex(e.body)));
    expect(hex(a.store.entryAt('psp-c', 1)?.body as Buffer)).to.equal(hex((fromC[0] as ServedEntry).body));
    await until(() => JSON.stringify(a.heads()) === JSON.stringify(c.heads()), 'issuer-a and psp-c to converge');

    const linked = (x: string, y: string) => net.connections.some(([from, to]) => (from === x && to === y) || (from === y && to === x));
    expect(linked('issuer-a', 'psp-c')).to.equal(false);
    expect(linked('issuer-a', 'acquirer-b') && linked('acquirer-b', 'psp-c')).to.equal(true);
    expect(c.peerStatus('acquirer-b')?.accepted).to.equal(5);
    expect(c.peerStatus('acquirer-b')?.rejections).to.deep.equal({});
  });

  it('duplicate idempotence: the same entries by Fetch, by Follow and by two peers are stored once', async () => {
    const a = net.create('issuer-a');
    const b = net.create('acquirer-b');
    const feed = await a.publish(3);
    // psp-c relays issuer-a's genuine feed, and replays.
    const relay = net.hostile('psp-c').serve('issuer-a', feed);
    b.link('psp-c');
    await until(() => b.head('issuer-a').seq === 3, 'seq 1-3 fetched');

    // The same three down Follow, then a new one behind them (ingested in arrival order).
    feed.push(...(await a.publish(1)));
    relay.serve('issuer-a', feed);
    await relay.push(feed.slice(0, 3), 'acquirer-b');
    await relay.push(feed.slice(0, 4), 'acquirer-b');
    await until(() => b.head('issuer-a').seq === 4, 'seq 4 by Follow');

    // A Fetch that serves again the three entries before the seq asked for, within the limit
    // asked (4: the peer advertises seq 8): seq 5 is accepted after the duplicates. The next
    // round (from 6) brings only duplicates: it ends short and backs off until the peer stops replaying.
    relay.replayBefore = 3;
    feed.push(...(await a.publish(4)));
    relay.serve('issuer-a', feed);
    await until(() => b.head('issuer-a').seq >= 5, 'seq 5 by a replaying Fetch');
    expect(net.callsBetween('acquirer-b', 'psp-c', 'fetch').some((c) => c.origin === 'issuer-a' && c.fromSeq === 5 && c.limit === 4)).to.equal(true);
    relay.replayBefore = 0;
    await until(() => b.head('issuer-a').seq === 8 && b.peerStatus('psp-c')?.backoff.length === 0, 'seq 6-8 once the peer stops replaying');

    // A second peer holding the same feed: its Fetch and Follow bring nothing twice.
    b.link('issuer-a');
    await until(() => b.peerStatus('issuer-a')?.connected, 'linked to issuer-a');
    feed.push(...(await a.publish(1)));
    await relay.push(feed, 'acquirer-b');
    await until(() => b.head('issuer-a').seq === 9, 'seq 9 by both peers');
    // All nine again, then another origin's entry behind them on the same stream.
    await relay.push(feed, 'acquirer-b');
    await relay.push(signChain(net.member('issuer-d'), 1), 'acquirer-b');
    await until(() => b.head('issuer-d').seq === 1, 'a marker behind the last duplicates');

    expect(b.commitOrder()).to.deep.equal([
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((seq) => ({ origin: 'issuer-a', seq })),
      { origin: 'issuer-d', seq: 1 },
    ]);
    expect(b.store.counts().entries).to.equal(10);
    expect(b.heads()['issuer-a']).to.equal(a.heads()['issuer-a']);
    const relayStatus = b.peerStatus('psp-c');
    const originStatus = b.peerStatus('issuer-a');
    expect(relayStatus?.rejections).to.deep.equal({});
    expect(originStatus?.rejections).to.deep.equal({});
    expect((relayStatus?.accepted ?? 0) + (originStatus?.accepted ?? 0)).to.equal(10);
    expect(b.frozenOrigins()).to.deep.equal([]);
    expect(b.equivocations('issuer-a')).to.deep.equal([]);
  });

  it('partition then heal: the link reconnects and catches up with Fetch on what was committed meanwhile', async () => {
    const a = net.create('issuer-a');
    const b = net.create('acquirer-b');
    await a.publish(1);
    await replicate(a, b);

    net.partition('issuer-a', 'acquirer-b');
    await until(() => b.peerStatus('issuer-a')?.lastError?.includes('partition'), 'acquirer-b failing to reconnect');
    expect(b.peerStatus('issuer-a')?.connected).to.equal(false);
    await a.publish(3);
    expect(b.head('issuer-a').seq).to.equal(1);

    const callsBefore = net.calls.length;
    net.heal('issuer-a', 'acquirer-b');
    await until(() => b.head('issuer-a').seq === 4 && b.peerStatus('issuer-a')?.connected, 'caught up after the heal');
    const fetched = net.calls.slice(callsBefore).filter((c) => c.from === 'acquirer-b' && c.method === 'fetch' && c.origin === 'issuer-a');
    // From the local head, never beyond the head issuer-a advertised (4).
    expect(fetched[0]).to.include({ to: 'issuer-a', fromSeq: 2, limit: 3 });
    expect(b.peerStatus('issuer-a')?.rejections).to.deep.equal({});
    expect(JSON.stringify(b.heads())).to.equal(JSON.stringify(a.heads()));
  });

  it('bad signature refused: a forged entry is counted as BAD_SIGNATURE and not stored; the genuine one is then accepted', async () => {
    const b = net.create('acquirer-b');
    const chain = signChain(net.member('issuer-a'), 2);
    const evil = net.hostile('psp-c').serve('issuer-a', [forged(chain[0] as ServedEntry)]);
    b.link('psp-c');
    await until(() => (b.peerStatus('psp-c')?.rejections.BAD_SIGNATURE ?? 0) >= 1, 'the forgery refused');
    expect(b.head('issuer-a').seq).to.equal(0);
    expect(b.entries('issuer-a')).to.deep.equal([]);
    expect(Object.keys(b.peerStatus('psp-c')?.rejections ?? {})).to.deep.equal(['BAD_SIGNATURE']);
    expect(b.frozenOrigins()).to.deep.equal([]);

    evil.serve('issuer-a', chain);
    await until(() => b.head('issuer-a').seq === 2, 'the genuine entries accepted');
    expect(b.entries('issuer-a').map((e) => hex(e.signature))).to.deep.equal(chain.map((e) => hex(e.signature)));
  });

  it('unknown origin refused: a non-member\'s feed is never fetched, and its entries on Follow count as NOT_A_MEMBER', async () => {
    const b = net.create('acquirer-b');
    // Signed with real keys, but the consortium does not list it.
    const stranger = { id: 'stranger-x', roles: ['issuer' as const], keys: net.addMember('stranger-x').keys };
    net.members.delete('stranger-x');
    const strangers = signChain(stranger, 2);
    const genuine = signChain(net.member('issuer-a'), 1);
    const evil = net.hostile('psp-c').serve('stranger-x', strangers).serve('issuer-a', genuine);
    b.link('psp-c');
    await until(() => b.head('issuer-a').seq === 1, 'the member\'s feed fetched');
    expect(net.callsBetween('acquirer-b', 'psp-c', 'fetch').filter((c) => c.origin === 'stranger-x')).to.deep.equal([]);

    await evil.push([strangers[0] as ServedEntry], 'acquirer-b');
    await until(() => b.peerStatus('psp-c')?.rejections.NOT_A_MEMBER === 1, 'NOT_A_MEMBER counted');
    expect(b.entries('stranger-x')).to.deep.equal([]);
    expect(Object.keys(b.heads())).to.deep.equal(['issuer-a']);
  });

  describe('backoff on rejection (a peer serving forged or gapped entries)', () => {
    /** A clock the test moves by hand: while it stands still, no backoff expires. */
    function manualClock(startMs = 1_000_000) {
      let now = startMs;
      return { now: () => now, advance: (ms: number) => void (now += ms) };
    }
    const BASE_MS = 100;
    const MAX_MS = 800;

    const fetchesOf = (origin: string) => net.callsBetween('acquirer-b', 'psp-c', 'fetch').filter((c) => c.origin === origin);
    const headsCalls = () => net.callsBetween('acquirer-b', 'psp-c', 'heads').length;
    /** Lets the anti-entropy timer run `rounds` more Heads comparisons (a condition, not a sleep). */
    async function antiEntropyRounds(rounds: number): Promise<void> {
      const target = headsCalls() + rounds;
      await until(() => headsCalls() >= target, `${rounds} more anti-entropy rounds`);
    }

    it('forged entries served whatever seq is asked: one Fetch per round, the cursor never past the advertised head, per-origin backoff doubling to its cap, counted in status', async () => {
      const clock = manualClock();
      // random() = 1: each wait is its ceiling, min(max, base * 2^rounds), so the doubling shows exactly.
      const b = net.create('acquirer-b', { rejectionBackoffBaseMs: BASE_MS, rejectionBackoffMaxMs: MAX_MS, now: clock.now, random: () => 1 });
      const advertised = 99;
      const evil = net.hostile('psp-c').serve('issuer-a', signChain(net.member('issuer-a'), advertised).map(forged));
      // It answers every Fetch with its whole feed, whatever seq is asked (as the reviewed peer did).
      evil.replayBefore = Number.MAX_SAFE_INTEGER;
      b.link('psp-c');

      await until(() => b.peerStatus('psp-c')?.backoff.length === 1, 'issuer-a backing off at psp-c');
      expect(b.peerStatus('psp-c')?.backoff).to.deep.equal([{ origin: 'issuer-a', failedRounds: 1, retryAtMs: clock.now() + BASE_MS }]);
      // The clock stands still: anti-entropy keeps comparing heads, and never fetches issuer-a again.
      await antiEntropyRounds(10);
      expect(fetchesOf('issuer-a')).to.have.length(1);
      expect(fetchesOf('issuer-a')[0]).to.include({ fromSeq: 1, limit: advertised });

      // Each expiry lets one round through, which fails again: the wait doubles up to the cap.
      const waits: number[] = [];
      for (let round = 2; round <= 6; round++) {
        const { retryAtMs } = b.peerStatus('psp-c')?.backoff[0] ?? { retryAtMs: 0 };
        clock.advance(retryAtMs - clock.now());
        await until(() => b.peerStatus('psp-c')?.backoff[0]?.failedRounds === round, `failed round ${round}`);
        waits.push((b.peerStatus('psp-c')?.backoff[0]?.retryAtMs ?? 0) - clock.now());
        await antiEntropyRounds(3);
        expect(fetchesOf('issuer-a'), `fetches after round ${round}`).to.have.length(round);
      }
      expect(waits).to.deep.equal([200, 400, 800, 800, 800]);

      const status = b.peerStatus('psp-c');
      expect(status?.failedFetchRounds).to.equal(6);
      // Each round's one Fetch brings the same forged seq 1 (twice: the peer repeats it) and is stopped there.
      expect(status?.rejections.BAD_SIGNATURE).to.be.within(6, 12);
      expect(b.head('issuer-a').seq).to.equal(0);
      // Never asked from past the advertised head, nor for more than it.
      for (const call of fetchesOf('issuer-a')) {
        expect(call.fromSeq).to.equal(1);
        expect((call.fromSeq ?? 0) + (call.limit ?? 0) - 1).to.be.at.most(advertised);
      }
      expect(b.frozenOrigins()).to.deep.equal([]);
    });

    it('backs off per origin: a gapped origin waits while the same peer\'s good origin keeps replicating; an honest round clears the backoff', async () => {
      const clock = manualClock();
      const b = net.create('acquirer-b', { rejectionBackoffBaseMs: BASE_MS, rejectionBackoffMaxMs: MAX_MS, now: clock.now });
      const a = net.create('issuer-a');
      const d = net.create('issuer-d');
      const aFeed = await a.publish(6);
      const dFeed = await d.publish(2);
      // issuer-a without seq 3; issuer-d's genuine feed.
      const evil = net.hostile('psp-c').serve('issuer-a', aFeed.filter((e) => e.seq !== 3)).serve('issuer-d', dFeed);
      b.link('psp-c');

      await until(() => b.head('issuer-d').seq === 2 && b.head('issuer-a').seq === 2 && b.peerStatus('psp-c')?.backoff.length === 1, 'issuer-d fetched, issuer-a stuck at its gap');
      expect(b.peerStatus('psp-c')?.backoff.map((x) => x.origin)).to.deep.equal(['issuer-a']);
      const aFetches = fetchesOf('issuer-a').length;
      // More of issuer-d arrives at the peer: fetched, while issuer-a is not asked again.
      dFeed.push(...(await d.publish(3)));
      evil.serve('issuer-d', dFeed);
      await until(() => b.head('issuer-d').seq === 5, 'issuer-d seq 3-5 fetched from the same peer');
      await antiEntropyRounds(5);
      expect(fetchesOf('issuer-a')).to.have.length(aFetches);
      for (const call of [...fetchesOf('issuer-a'), ...fetchesOf('issuer-d')]) expect((call.fromSeq ?? 0) + (call.limit ?? 0) - 1).to.be.at.most(6);

      // The peer serves the whole feed now; once the wait is over, one round fetches it and clears the backoff.
      evil.serve('issuer-a', aFeed);
      clock.advance(MAX_MS);
      await until(() => b.head('issuer-a').seq === 6 && b.peerStatus('psp-c')?.backoff.length === 0, 'issuer-a complete, backoff cleared');
      expect(b.peerStatus('psp-c')?.failedFetchRounds).to.equal(1);
      expect(b.heads()['issuer-a']).to.equal(a.heads()['issuer-a']);
    });

    it('gaps pushed on Follow again and again: at most one gap fetch per backoff, never beyond the seq the peer sent', async () => {
      const clock = manualClock();
      const b = net.create('acquirer-b', { rejectionBackoffBaseMs: BASE_MS, rejectionBackoffMaxMs: MAX_MS, now: clock.now });
      const chain = signChain(net.member('issuer-a'), 40);
      const evil = net.hostile('psp-c').serve('issuer-a', chain.slice(0, 2));
      b.link('psp-c');
      await until(() => b.head('issuer-a').seq === 2 && b.peerStatus('psp-c')?.connected, 'seq 1-2 fetched');

      // seq 10 .. 40 pushed one at a time (seq 3-9 never served): every push is a gap.
      for (const entry of chain.slice(9)) {
        const gaps = b.peerStatus('psp-c')?.rejections.SEQ_GAP ?? 0;
        await evil.push([entry], 'acquirer-b');
        await until(() => (b.peerStatus('psp-c')?.rejections.SEQ_GAP ?? 0) > gaps, `the gap at seq ${entry.seq} counted`);
      }
      await antiEntropyRounds(3);
      const gapFetches = fetchesOf('issuer-a').filter((c) => c.fromSeq === 3);
      expect(gapFetches.length, 'gap fetches while backing off').to.equal(1);
      expect((gapFetches[0]?.fromSeq ?? 0) + (gapFetches[0]?.limit ?? 0) - 1).to.be.at.most(40);
      expect(b.peerStatus('psp-c')?.backoff).to.have.length(1);
      expect(b.head('issuer-a').seq).to.equal(2);
    });
  });
});
