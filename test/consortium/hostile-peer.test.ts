// Peers that break the rules, against real `mamori start` processes over mutual TLS on
// loopback. A fake Replication server in this process stands at a member's endpoint with
// that member's real certificate: the honest node dials it as that member, and it serves
// garbage, forgeries, gaps, oversize messages or (as psp-c) two signed versions of one entry.
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as protobuf from 'protobufjs';
import { cardPublication, type MamoriClient } from '../../client-sdk/src/client';
import type { PublishIndicators } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { panSelector } from '../../proto/ts/trust/domains';
import { entrySigningBytes } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { generateSigningKeyPair, signDetached } from '../../node/src/crypto/signing';
import { encodeEntryBody, signNextEntry, ZERO_HASH, type SignedEntry } from '../../node/src/ledger/entry';
import { readTlsMaterial, type TlsMaterial } from '../../node/src/rpc/peer-credentials';
import { editNodeConfig, startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { FakePeer, type FakeFeed } from '../helpers/fake-peer';
import { memberOf } from '../helpers/node-harness';
import { randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const EPOCH = 1;
const MiB = 1024 * 1024;

function secretKeyOf(layout: DevConsortiumLayout, id: string): Buffer {
  const file = JSON.parse(fs.readFileSync(path.join(layout.dir, id, 'member.key.json'), 'utf8')) as { signing: { secretKey: string } };
  return Buffer.from(file.signing.secretKey, 'base64');
}

function tlsOf(layout: DevConsortiumLayout, id: string): TlsMaterial {
  const dir = path.join(layout.dir, id, 'tls');
  return readTlsMaterial({ caFile: layout.caFile, certFile: path.join(dir, 'node.cert.pem'), keyFile: path.join(dir, 'node.key.pem') });
}

/** A compromised-card publication of these PANs, hashed under the consortium's epoch key. */
function cardOperation(epochKey: Uint8Array, pans: string[]): { publishIndicators: PublishIndicators } {
  return { publishIndicators: cardPublication(pans.map((pan) => panSelector(epochKey, pan)), { reason: 'merchant-breach' }) };
}

function cardEntry(origin: string, head: { seq: number; hash: Buffer }, secretKey: Uint8Array, epochKey: Uint8Array, pans: string[]): SignedEntry & { seq: number } {
  return { ...signNextEntry(origin, head, EPOCH, cardOperation(epochKey, pans), secretKey), seq: head.seq + 1 };
}

/** A merchant listing: only acquirers may publish one. */
function merchantOperation(): { publishIndicators: PublishIndicators } {
  const now = Date.now();
  return {
    publishIndicators: {
      kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
      reason: 'REASON_CODE_LAUNDERING',
      exposed: [],
      confidence: 90,
      validFromMs: now,
      validUntilMs: now + 86_400_000,
      eventId: '',
      indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: crypto.randomBytes(32) }] }],
    },
  };
}

/**
 * A validly signed entry whose body is `bytes` long: a real header and a publishIndicators
 * field of filler (nodes reject the size before they decode the operation).
 */
function bulkyEntry(origin: string, head: { seq: number; hash: Buffer }, secretKey: Uint8Array, bytes: number): { body: Buffer; signature: Buffer } {
  const header = encodeEntryBody({ origin, seq: head.seq + 1, prev: head.hash, createdAtMs: Date.now(), keyEpoch: EPOCH });
  const fillerBytes = bytes - header.length - 6; // tag (1) + length varint (<= 5)
  const op = protobuf.Writer.create().uint32((10 << 3) | 2).bytes(Buffer.alloc(fillerBytes, 0x41)).finish();
  const body = Buffer.concat([header, Buffer.from(op)]);
  return { body, signature: signDetached(entrySigningBytes(body), secretKey) };
}

function peerOf(status: StatusResponse__Output, peer: string) {
  return status.peers.find((p) => p.peer === peer);
}

function rejectionsOf(status: StatusResponse__Output, peer: string): Record<string, number> {
  return { ...(peerOf(status, peer)?.rejections ?? {}) };
}

function feedSeq(status: StatusResponse__Output, origin: string): number | undefined {
  return status.feeds.find((f) => f.origin === origin)?.seq;
}

/** Polls the node's status until `peer`'s count for `reason` reaches `count`; returns that status. */
async function waitForRejections(client: MamoriClient, peer: string, reason: string, count: number, timeoutMs = 30_000): Promise<StatusResponse__Output> {
  let last: Record<string, number> = {};
  try {
    return await waitFor(
      async () => {
        const status = await client.status();
        last = rejectionsOf(status, peer);
        return (last[reason] ?? 0) >= count ? status : undefined;
      },
      `${count} ${reason} rejection(s) from ${peer}`,
      timeoutMs,
      50,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; rejections from ${peer} were ${JSON.stringify(last)}`);
  }
}

function countRows(dbFile: string, sql: string, ...params: unknown[]): number {
  const db = new Database(dbFile, { readonly: true });
  try {
    return (db.prepare(sql).get(...params) as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('consortium: a hostile peer', function () {
  this.timeout(120_000);

  it('counts every kind of bad entry from a peer under its reason, stores none of them, and keeps serving', async () => {
    await sodiumReady();
    let fakeStarting: Promise<FakePeer> | undefined;
    let consortium: ConsortiumProcesses | undefined;
    try {
      consortium = await startConsortium({
        only: ['acquirer-b'],
        configure: (layout) => {
          editNodeConfig(layout, 'acquirer-b', (c) => Object.assign(c, { peers: ['issuer-a'] }));
          // issuer-a is not started: this fake answers at its endpoint, with its certificate.
          fakeStarting = FakePeer.start(memberOf(layout, 'issuer-a').endpoint, tlsOf(layout, 'issuer-a'));
        },
      });
      const fake = await (fakeStarting as Promise<FakePeer>);
      const { layout } = consortium;
      const b = consortium.client('acquirer-b');
      const [epoch] = await b.hashingKeys();
      expect(epoch?.epoch).to.equal(EPOCH);
      const epochKey = (epoch as { key: Uint8Array }).key;
      const issuerKey = secretKeyOf(layout, 'issuer-a');
      const pspKey = secretKeyOf(layout, 'psp-c');
      const mallory = generateSigningKeyPair();

      // Something good to compare against: issuer-a's genuine seq 1, served by Heads + Fetch.
      const goodPan = randomPan();
      const good = cardEntry('issuer-a', { seq: 0, hash: ZERO_HASH }, issuerKey, epochKey, [goodPan]);
      const malloryPan = randomPan();
      const malloryEntry = cardEntry('mallory-x', { seq: 0, hash: ZERO_HASH }, mallory.secretKey, epochKey, [malloryPan]);
      // mallory-x is advertised in Heads too; a node must not even fetch a non-member's feed.
      const feeds: FakeFeed[] = [
        { origin: 'issuer-a', entries: [good] },
        { origin: 'mallory-x', entries: [malloryEntry] },
      ];
      fake.view = () => feeds;
      await waitForFeed(b, 'issuer-a', 1, 30_000);
      const baseline = await waitFor(async () => {
        const s = await b.status();
        return peerOf(s, 'issuer-a')?.connected ? s : undefined;
      }, 'acquirer-b to be connected to (fake) issuer-a');
      expect(peerOf(baseline, 'issuer-a')?.accepted).to.equal(1);
      expect(rejectionsOf(baseline, 'issuer-a')).to.deep.equal({});
      const entriesBefore = baseline.entries;
      const followsBefore = fake.callsOf('Follow', 'acquirer-b').length;

      // 1. Garbage bytes as a body, and a real signed body cut in half: MALFORMED_ENTRY.
      await fake.push('acquirer-b', [{ body: Buffer.from('this is not an entry body at all'), signature: crypto.randomBytes(64) }]);
      await waitForRejections(b, 'issuer-a', 'MALFORMED_ENTRY', 1);
      const whole = cardEntry('issuer-a', { seq: 1, hash: good.hash }, issuerKey, epochKey, Array.from({ length: 50 }, () => randomPan()));
      await fake.push('acquirer-b', [{ body: whole.body.subarray(0, Math.floor(whole.body.length / 2)), signature: whole.signature }]);
      await waitForRejections(b, 'issuer-a', 'MALFORMED_ENTRY', 2);

      // 2. issuer-a's next entry with one bit of its signature flipped: BAD_SIGNATURE.
      const flippedPan = randomPan();
      const flipped = cardEntry('issuer-a', { seq: 1, hash: good.hash }, issuerKey, epochKey, [flippedPan]);
      const badSignature = Buffer.from(flipped.signature);
      badSignature[10] = (badSignature[10] as number) ^ 0x04;
      await fake.push('acquirer-b', [{ body: flipped.body, signature: badSignature }]);
      await waitForRejections(b, 'issuer-a', 'BAD_SIGNATURE', 1);

      // 3. An entry of a non-member, signed with its own key: NOT_A_MEMBER.
      await fake.push('acquirer-b', [malloryEntry]);
      await waitForRejections(b, 'issuer-a', 'NOT_A_MEMBER', 1);

      // 4. psp-c's real signature on a merchant listing (only acquirers list merchants): ROLE_FORBIDS.
      const pspMerchant = signNextEntry('psp-c', { seq: 0, hash: ZERO_HASH }, EPOCH, merchantOperation(), pspKey);
      await fake.push('acquirer-b', [pspMerchant]);
      await waitForRejections(b, 'issuer-a', 'ROLE_FORBIDS', 1);

      // 5. Replays at seq 1: the same entry again is an idempotent duplicate (not counted, not
      //    stored twice); a different body at seq 1 with a forged signature is BAD_SIGNATURE and
      //    is not equivocation. Entries of one Follow stream are ingested in order, so once the
      //    forgery is counted the duplicate has been handled.
      const forgedPan = randomPan();
      const forged = cardEntry('issuer-a', { seq: 0, hash: ZERO_HASH }, generateSigningKeyPair().secretKey, epochKey, [forgedPan]);
      await fake.push('acquirer-b', [good, forged]);
      const afterReplay = await waitForRejections(b, 'issuer-a', 'BAD_SIGNATURE', 2);
      expect(afterReplay.entries, 'a duplicate is not stored twice').to.equal(entriesBefore);
      expect(feedSeq(afterReplay, 'issuer-a')).to.equal(1);
      expect(peerOf(afterReplay, 'issuer-a')?.accepted).to.equal(1);
      expect(afterReplay.frozenOrigins, 'a forged entry at an existing seq is no equivocation').to.deep.equal([]);

      // 6. A validly signed seq 2 whose prev is not the hash of seq 1: PREV_MISMATCH. The node
      //    then asks the peer for its copy of seq 1 (a fork check), which matches its own.
      const wrongPrevPan = randomPan();
      const wrongPrev = cardEntry('issuer-a', { seq: 1, hash: crypto.randomBytes(32) }, issuerKey, epochKey, [wrongPrevPan]);
      const wrongPrevPushedAt = Date.now();
      await fake.push('acquirer-b', [wrongPrev]);
      await waitForRejections(b, 'issuer-a', 'PREV_MISMATCH', 1);
      await waitFor(
        () => fake.callsOf('Fetch', 'acquirer-b').some((c) => c.origin === 'issuer-a' && c.fromSeq === 1 && c.limit === 1 && c.atMs >= wrongPrevPushedAt),
        'acquirer-b to fetch issuer-a seq 1 from the peer after the broken chain',
      );

      // 7. seq 5 while acquirer-b holds issuer-a up to 1: a gap, counted, and the missing
      //    entries are fetched from 2 (the fake has none) instead of committing out of order.
      const gapPan = randomPan();
      const gap = cardEntry('issuer-a', { seq: 4, hash: crypto.randomBytes(32) }, issuerKey, epochKey, [gapPan]);
      const gapPushedAt = Date.now();
      await fake.push('acquirer-b', [gap]);
      await waitForRejections(b, 'issuer-a', 'SEQ_GAP', 1);
      await waitFor(
        () => fake.callsOf('Fetch', 'acquirer-b').some((c) => c.origin === 'issuer-a' && c.fromSeq === 2 && c.atMs >= gapPushedAt),
        'acquirer-b to fetch issuer-a from seq 2 after the gap',
      );

      // 8. A body over the 4 MiB entry limit in a message under the 8 MiB transport limit:
      //    ENTRY_TOO_LARGE from acceptance, and the stream stays up.
      await fake.push('acquirer-b', [bulkyEntry('issuer-a', { seq: 1, hash: good.hash }, issuerKey, 5 * MiB)]);
      await waitForRejections(b, 'issuer-a', 'ENTRY_TOO_LARGE', 1);

      // 9. A message over maxMessageBytes (8 MiB): the client fails the stream with
      //    RESOURCE_EXHAUSTED, counted as ENTRY_TOO_LARGE; the node reconnects.
      await fake.push('acquirer-b', [{ body: crypto.randomBytes(8 * MiB + 512 * 1024), signature: crypto.randomBytes(64) }]);
      const oversize = await waitForRejections(b, 'issuer-a', 'ENTRY_TOO_LARGE', 2);
      expect(feedSeq(oversize, 'issuer-a')).to.equal(1);
      await waitFor(async () => {
        const s = await b.status();
        return fake.callsOf('Follow', 'acquirer-b').length > followsBefore && peerOf(s, 'issuer-a')?.connected;
      }, 'acquirer-b to reconnect to (fake) issuer-a after the oversize message');

      // Every reason counted exactly once per bad entry, under the peer that sent it.
      const final = await b.status();
      expect(rejectionsOf(final, 'issuer-a')).to.deep.equal({
        MALFORMED_ENTRY: 2,
        BAD_SIGNATURE: 2,
        NOT_A_MEMBER: 1,
        ROLE_FORBIDS: 1,
        PREV_MISMATCH: 1,
        SEQ_GAP: 1,
        ENTRY_TOO_LARGE: 2,
      });
      // Nothing bad stored: issuer-a exactly at its one valid entry, no mallory-x or psp-c feed.
      expect(feedSeq(final, 'issuer-a')).to.equal(1);
      expect(feedSeq(final, 'mallory-x')).to.equal(undefined);
      expect(feedSeq(final, 'psp-c')).to.equal(undefined);
      expect(final.entries).to.equal(entriesBefore);
      expect(peerOf(final, 'issuer-a')?.accepted).to.equal(1);
      expect(final.frozenOrigins).to.deep.equal([]);
      expect(fake.calls.filter((c) => c.method === 'Fetch' && c.origin === 'mallory-x'), 'a non-member feed is never fetched').to.deep.equal([]);

      // acquirer-b keeps serving: checks answer (the good listing is there, none of the bad
      // ones), and it still publishes its own entries.
      const checks = await b.checkCards([goodPan, malloryPan, flippedPan, forgedPan, wrongPrevPan, gapPan]);
      expect(checks.map((c) => c.listed)).to.deep.equal([true, false, false, false, false, false]);
      expect(checks[0]?.evidence.map((e) => e.origin)).to.deep.equal(['issuer-a']);
      const ownPan = randomPan();
      expect((await b.publishCompromisedCards([ownPan], { reason: 'phishing' })).accepted).to.equal(1);
      expect((await b.checkCard(ownPan)).listed).to.equal(true);

      await consortium.stopAll();
      const db = path.join(layout.dir, 'acquirer-b', 'data', 'mamori.db');
      const perOrigin = 'SELECT COUNT(*) AS n FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ?';
      expect(countRows(db, perOrigin, 'issuer-a'), 'issuer-a seq 1 stored once').to.equal(1);
      expect(countRows(db, perOrigin, 'mallory-x')).to.equal(0);
      expect(countRows(db, perOrigin, 'psp-c')).to.equal(0);
      expect(countRows(db, 'SELECT COUNT(*) AS n FROM equivocations')).to.equal(0);
      expect(countRows(db, 'SELECT COUNT(*) AS n FROM frozen_origins')).to.equal(0);
    } finally {
      await consortium?.stopAll();
      await fakeStarting?.then((f) => f.stop(), () => undefined);
    }
  });
});

/** Polls until the node reports every one of `peers` connected. */
async function waitConnected(client: MamoriClient, member: string, peers: string[]): Promise<void> {
  await waitFor(async () => {
    const status = await client.status();
    return peers.every((p) => peerOf(status, p)?.connected);
  }, `${member} to be connected to ${peers.join(' and ')}`);
}

interface EvidenceRow {
  seq: number;
  stored_hash: Buffer;
  other_hash: Buffer;
  other_body: Buffer;
  other_signature: Buffer;
  reported_by: string;
}

/** What a stopped node's database holds for an origin: its stored entries and equivocation evidence. */
function storedOf(dbFile: string, origin: string): { entries: { seq: number; body: Buffer }[]; evidence: EvidenceRow[]; frozen: string[] } {
  const db = new Database(dbFile, { readonly: true });
  try {
    return {
      entries: db.prepare('SELECT e.seq, e.body FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ? ORDER BY e.seq').all(origin) as { seq: number; body: Buffer }[],
      evidence: db.prepare('SELECT seq, stored_hash, other_hash, other_body, other_signature, reported_by FROM equivocations WHERE origin = ? ORDER BY id').all(origin) as EvidenceRow[],
      frozen: (db.prepare('SELECT origin FROM frozen_origins').all() as { origin: string }[]).map((r) => r.origin),
    };
  } finally {
    db.close();
  }
}

describe('consortium: an equivocating origin (psp-c signs two different entries at seq 1)', function () {
  this.timeout(120_000);

  const HONEST = ['issuer-a', 'acquirer-b'] as const;
  const other = (id: string) => (id === 'issuer-a' ? 'acquirer-b' : 'issuer-a');

  /** Both honest members peer with psp-c (the fake) and with each other. */
  function configure(layout: DevConsortiumLayout): void {
    for (const id of HONEST) editNodeConfig(layout, id, (c) => Object.assign(c, { peers: ['psp-c', other(id)] }));
  }

  /** Two validly signed psp-c entries at seq 1 (different indicators), and a valid seq 2 on top of each. */
  function versions(layout: DevConsortiumLayout) {
    const key = secretKeyOf(layout, 'psp-c');
    const epochKey = crypto.randomBytes(32); // the digests' key does not matter to acceptance
    const a = cardEntry('psp-c', { seq: 0, hash: ZERO_HASH }, key, epochKey, [randomPan()]);
    const b = cardEntry('psp-c', { seq: 0, hash: ZERO_HASH }, key, epochKey, [randomPan()]);
    return {
      a,
      b,
      a2: cardEntry('psp-c', { seq: 1, hash: a.hash }, key, epochKey, [randomPan()]),
      b2: cardEntry('psp-c', { seq: 1, hash: b.hash }, key, epochKey, [randomPan()]),
    };
  }

  it('both honest nodes, each holding a different psp-c seq 1, find the other version through each other: psp-c frozen on both, with evidence', async () => {
    await sodiumReady();
    let fakeStarting: Promise<FakePeer> | undefined;
    let consortium: ConsortiumProcesses | undefined;
    let v: ReturnType<typeof versions> | undefined;
    try {
      // The fake psp-c shows version A to issuer-a and version B to acquirer-b.
      const view = (caller: string): FakeFeed[] => (v ? [{ origin: 'psp-c', entries: [caller === 'issuer-a' ? v.a : v.b] }] : []);
      consortium = await startConsortium({
        only: ['issuer-a'],
        configure: (layout) => {
          configure(layout);
          v = versions(layout);
          fakeStarting = FakePeer.start(memberOf(layout, 'psp-c').endpoint, tlsOf(layout, 'psp-c'), view);
        },
      });
      const fake = await (fakeStarting as Promise<FakePeer>);
      const { layout } = consortium;
      const { a, b, a2, b2 } = v as ReturnType<typeof versions>;
      const mine = (id: string) => (id === 'issuer-a' ? a : b);
      const theirs = (id: string) => (id === 'issuer-a' ? b : a);

      // Each honest node takes its own version from psp-c while the other is down (a partition),
      // so that neither version reaches the other node through the live Follow stream.
      await waitForFeed(consortium.client('issuer-a'), 'psp-c', 1, 30_000);
      await consortium.kill('issuer-a', 'SIGTERM');
      await consortium.start('acquirer-b');
      await waitForFeed(consortium.client('acquirer-b'), 'psp-c', 1, 30_000);
      await consortium.start('issuer-a');
      for (const id of HONEST) {
        const status = await consortium.client(id).status();
        expect(status.feeds.find((f) => f.origin === 'psp-c')?.headHash.equals(mine(id).hash), `${id} holds its own version`).to.equal(true);
      }
      // The partition heals: the honest nodes talk to each other (and to psp-c).
      for (const id of HONEST) await waitConnected(consortium.client(id), id, ['psp-c', other(id)]);

      // Each one learns the other version from its honest peer: evidence, alert, origin frozen.
      for (const id of HONEST) {
        const client = consortium.client(id);
        let last: StatusResponse__Output | undefined;
        try {
          await waitFor(async () => {
            last = await client.status();
            return last.frozenOrigins.some((f) => f.origin === 'psp-c');
          }, `${id} to freeze psp-c`, 20_000, 100);
        } catch (error) {
          const head = last?.feeds.find((f) => f.origin === 'psp-c')?.headHash.toString('hex').slice(0, 16);
          throw new Error(
            `${(error as Error).message}: ${id} holds psp-c#1 ${head}… while ${other(id)} holds ${theirs(id).hash.toString('hex').slice(0, 16)}…, ` +
              `both connected; peers ${JSON.stringify(last?.peers.map((p) => ({ peer: p.peer, connected: p.connected, accepted: p.accepted, rejections: p.rejections })))}`,
          );
        }
        const status = last as StatusResponse__Output;
        expect(status.frozenOrigins.find((f) => f.origin === 'psp-c')?.reason).to.match(/equivocation at seq 1/);
        expect(rejectionsOf(status, other(id)).EQUIVOCATION ?? 0, `${id} counts EQUIVOCATION from ${other(id)}`).to.be.at.least(1);
        expect(feedSeq(status, 'psp-c')).to.equal(1);
      }

      // A further, valid psp-c seq 2 is refused while psp-c is frozen, whoever serves it.
      const updatedAt = Date.now();
      fake.view = (caller) => [{ origin: 'psp-c', entries: caller === 'issuer-a' ? [a, a2] : [b, b2] }];
      await fake.push('issuer-a', [a2]);
      await fake.push('acquirer-b', [b2]);
      for (const id of HONEST) {
        await waitForRejections(consortium.client(id), 'psp-c', 'ORIGIN_FROZEN', 1);
        await waitFor(() => fake.callsOf('Heads', id).some((c) => c.atMs > updatedAt), `${id} to compare heads with psp-c after seq 2 appeared`);
        const status = await consortium.client(id).status();
        expect(feedSeq(status, 'psp-c'), `${id} stays at psp-c seq 1`).to.equal(1);
        expect(rejectionsOf(status, 'psp-c'), `${id}'s rejections from psp-c`).to.deep.equal({ ORIGIN_FROZEN: 1 });
        expect(rejectionsOf(status, other(id)), `${id}'s rejections from ${other(id)}`).to.deep.equal({ EQUIVOCATION: 1 });
        expect(fake.callsOf('Fetch', id).filter((c) => c.origin === 'psp-c' && c.atMs > updatedAt), `${id} does not fetch a frozen origin`).to.deep.equal([]);
      }

      await consortium.stopAll();
      for (const id of HONEST) {
        const stored = storedOf(path.join(layout.dir, id, 'data', 'mamori.db'), 'psp-c');
        expect(stored.entries.map((e) => e.seq)).to.deep.equal([1]);
        const kept = stored.entries[0]?.body as Buffer;
        expect(kept.equals(mine(id).body), `${id} kept its version`).to.equal(true);
        expect(stored.frozen).to.deep.equal(['psp-c']);
        expect(stored.evidence.length, `${id} has one evidence row for psp-c`).to.equal(1);
        const row = stored.evidence[0] as EvidenceRow;
        expect(row.seq).to.equal(1);
        expect(row.other_body.equals(theirs(id).body), `${id}'s evidence is the version it did not keep`).to.equal(true);
        expect(row.other_signature.equals(theirs(id).signature)).to.equal(true);
        expect(row.other_hash.equals(theirs(id).hash)).to.equal(true);
        expect(row.stored_hash.equals(mine(id).hash)).to.equal(true);
        expect(row.reported_by).to.equal(other(id));
      }
    } finally {
      await consortium?.stopAll();
      await fakeStarting?.then((f) => f.stop(), () => undefined);
    }
  });

  it('a node holding one version (relayed by an honest peer) freezes psp-c when psp-c serves it the other, keeps evidence, and refuses psp-c seq 2 from every peer', async () => {
    await sodiumReady();
    let fakeStarting: Promise<FakePeer> | undefined;
    let consortium: ConsortiumProcesses | undefined;
    let v: ReturnType<typeof versions> | undefined;
    try {
      consortium = await startConsortium({
        only: [...HONEST],
        configure: (layout) => {
          configure(layout);
          v = versions(layout);
          // psp-c shows nothing until both honest nodes are connected to each other.
          fakeStarting = FakePeer.start(memberOf(layout, 'psp-c').endpoint, tlsOf(layout, 'psp-c'));
        },
      });
      const fake = await (fakeStarting as Promise<FakePeer>);
      const { layout } = consortium;
      const { a, b, a2, b2 } = v as ReturnType<typeof versions>;
      const issuer = consortium.client('issuer-a');
      const acquirer = consortium.client('acquirer-b');
      for (const id of HONEST) await waitConnected(consortium.client(id), id, ['psp-c', other(id)]);

      // Version A to issuer-a only; issuer-a relays it and acquirer-b takes it from issuer-a.
      fake.view = (caller) => (caller === 'issuer-a' ? [{ origin: 'psp-c', entries: [a] }] : []);
      await fake.push('issuer-a', [a]);
      await waitForFeed(acquirer, 'psp-c', 1, 30_000);
      const relayed = await acquirer.status();
      expect(relayed.feeds.find((f) => f.origin === 'psp-c')?.headHash.equals(a.hash)).to.equal(true);
      expect(peerOf(relayed, 'issuer-a')?.accepted, 'acquirer-b took psp-c#1 from issuer-a').to.equal(1);

      // Now psp-c sends acquirer-b version B on its Follow stream: two valid signatures at one
      // seq. (Its Heads still show acquirer-b nothing, so B arrives exactly once.)
      await fake.push('acquirer-b', [b]);
      const caught = await waitForRejections(acquirer, 'psp-c', 'EQUIVOCATION', 1);
      expect(caught.frozenOrigins.map((f) => f.origin)).to.deep.equal(['psp-c']);
      expect(caught.frozenOrigins[0]?.reason).to.match(/equivocation at seq 1/);
      expect(feedSeq(caught, 'psp-c')).to.equal(1);

      // psp-c seq 2 (valid on top of A) reaches acquirer-b from psp-c itself and, relayed, from
      // issuer-a (which accepts it): refused from both while frozen, and never fetched.
      fake.view = (caller) => [{ origin: 'psp-c', entries: caller === 'issuer-a' ? [a, a2] : [b, b2] }];
      const updatedAt = Date.now();
      await fake.push('acquirer-b', [b2]);
      await waitForRejections(acquirer, 'psp-c', 'ORIGIN_FROZEN', 1);
      await fake.push('issuer-a', [a2]);
      await waitForFeed(issuer, 'psp-c', 2, 30_000);
      await waitForRejections(acquirer, 'issuer-a', 'ORIGIN_FROZEN', 1);
      await waitFor(() => fake.callsOf('Heads', 'acquirer-b').some((c) => c.atMs > updatedAt), 'acquirer-b to compare heads with psp-c after seq 2 appeared');
      const frozen = await acquirer.status();
      expect(feedSeq(frozen, 'psp-c'), 'acquirer-b stays at psp-c seq 1').to.equal(1);
      expect(rejectionsOf(frozen, 'psp-c')).to.deep.equal({ EQUIVOCATION: 1, ORIGIN_FROZEN: 1 });
      expect(rejectionsOf(frozen, 'issuer-a')).to.deep.equal({ ORIGIN_FROZEN: 1 });
      expect(fake.callsOf('Fetch', 'acquirer-b').filter((c) => c.origin === 'psp-c' && c.atMs > updatedAt)).to.deep.equal([]);

      await consortium.stopAll();
      const stored = storedOf(path.join(layout.dir, 'acquirer-b', 'data', 'mamori.db'), 'psp-c');
      expect(stored.entries.map((e) => e.seq)).to.deep.equal([1]);
      expect(stored.entries[0]?.body.equals(a.body), 'acquirer-b kept the version it received first (A)').to.equal(true);
      expect(stored.frozen).to.deep.equal(['psp-c']);
      expect(stored.evidence.length).to.equal(1);
      const row = stored.evidence[0] as EvidenceRow;
      expect(row.seq).to.equal(1);
      expect(row.other_body.equals(b.body), 'the evidence is the version it did not keep (B)').to.equal(true);
      expect(row.other_signature.equals(b.signature)).to.equal(true);
      expect(row.stored_hash.equals(a.hash)).to.equal(true);
      expect(row.other_hash.equals(b.hash)).to.equal(true);
      expect(row.reported_by).to.equal('psp-c');
    } finally {
      await consortium?.stopAll();
      await fakeStarting?.then((f) => f.stop(), () => undefined);
    }
  });
});
