// Replication in one process, through the PeerLink seam: each node is a real LedgerStore
// (SQLite in a temp dir), its real LedgerWriter and Replicator, and the real acceptance
// and ingest rules; only the network is replaced, by memory links that serve a node's
// ledger through replication/feed-server.ts (what the gRPC handlers serve through).
//
//   const net = await memoryConsortium(['issuer-a', 'acquirer-b', 'psp-c']);
//   const a = net.create('issuer-a'), b = net.create('acquirer-b');
//   await a.publish(3);
//   await replicate(a, b);          // linked both ways, waits until the heads agree
//   const evil = net.hostile('psp-c'); evil.serve('issuer-a', forgedEntries); b.link('psp-c');
//   ...
//   await net.close();
//
// Not exercised here (the multi-process tests cover them): TLS and member identification,
// rate limits, Follow's queue bound and drain, gRPC message limits.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { entryHash, generateSigningKeyPair, signDetached, type SigningKeyPair } from '../../node/src/crypto/signing';
import { entrySigningBytes } from '../../proto/ts/trust/domains';
import { acceptEntry, type MemberKeys } from '../../node/src/ledger/acceptance';
import { signNextEntry, ZERO_HASH, type FeedHead } from '../../node/src/ledger/entry';
import { MamoriError } from '../../node/src/ledger/errors';
import type { Role } from '../../node/src/ledger/roles';
import { LedgerStore } from '../../node/src/store/ledger-store';
// The one import from exchange/ (being split on another branch): the node's single writer.
import { LedgerWriter } from '../../node/src/store/ledger-writer';
import { ReplicatedLedger } from '../../node/src/replication/ledger-port';
import { FeedServer, type FeedSource } from '../../node/src/replication/feed-server';
import { Replicator, type PeerStatus, type ReplicatorOptions } from '../../node/src/replication/replicator';
import type { LedgerPort, PeerLink, RawEntry } from '../../node/src/replication/types';
import { cardPublication, digest } from './unit';
import { waitFor } from './wait';

/** Entries handed to replication at a time while fetching (as rpc/grpc-peer-link.ts does). */
const FETCH_BATCH = 64;
const KEY_EPOCH = 1;

export const REPLICATOR_OPTIONS: ReplicatorOptions = { antiEntropyIntervalMs: 20, backoffBaseMs: 5, backoffMaxMs: 50, rejectionBackoffBaseMs: 5, rejectionBackoffMaxMs: 50 };

export interface MemoryMember {
  id: string;
  roles: Role[];
  keys: SigningKeyPair;
}

/** An entry as a (possibly hostile) peer serves it: its seq, as signed bytes and signature. */
export interface ServedEntry extends RawEntry {
  seq: number;
  hash: Buffer;
}

export interface LinkCall {
  from: string;
  to: string;
  method: 'heads' | 'fetch' | 'follow';
  origin?: string;
  fromSeq?: number;
  limit?: number;
}

/** One origin's entries, signed by the member's real key, chained from `after` (seq 0 by default). */
export function signChain(member: MemoryMember, count: number, after: FeedHead = { seq: 0, hash: ZERO_HASH }): ServedEntry[] {
  const entries: ServedEntry[] = [];
  let head = after;
  for (let i = 0; i < count; i++) {
    const signed = signNextEntry(member.id, head, KEY_EPOCH, { publishIndicators: cardPublication([digest()]) }, member.keys.secretKey);
    const seq = head.seq + 1;
    entries.push({ seq, ...signed });
    head = { seq, hash: signed.hash };
  }
  return entries;
}

/** The same body under a signature by a key that is no member's. */
export function forged(entry: ServedEntry): ServedEntry {
  return { ...entry, signature: signDetached(entrySigningBytes(entry.body), generateSigningKeyPair().secretKey) };
}

const copy = (e: RawEntry): RawEntry => ({ body: Buffer.from(e.body), signature: Buffer.from(e.signature) });
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A PeerLink to a FeedServer in this process. Behaves as rpc/grpc-peer-link.ts does: each
 * answer comes on a later turn of the event loop; a fetch() is one Fetch call, at most
 * `limit` and FETCH_LIMIT entries (feed-server.ts; the replicator asks again from its head);
 * pages of FETCH_BATCH wait for their handler; live entries are batched per turn; a refused
 * call surfaces as UNAVAILABLE (as a gRPC status other than RESOURCE_EXHAUSTED does).
 * Closing the link ends every stream.
 */
export function memoryLink(server: FeedServer, onCall: (call: Omit<LinkCall, 'from' | 'to'>) => void = () => undefined): PeerLink {
  let closed = false;
  const follows = new Set<() => void>();
  const assertOpen = () => {
    if (closed) throw new MamoriError('UNAVAILABLE', 'peer: memory link closed');
  };
  return {
    async heads() {
      assertOpen();
      onCall({ method: 'heads' });
      await nextTurn();
      assertOpen();
      return server.heads().map((h) => ({ origin: h.origin, seq: h.seq, hash: Buffer.from(h.hash) }));
    },

    async fetch(origin, fromSeq, onPage, limit) {
      assertOpen();
      onCall({ method: 'fetch', origin, fromSeq, limit });
      await nextTurn();
      assertOpen();
      const got: RawEntry[] = [];
      try {
        await server.fetch({ origin, fromSeq, limit: Math.max(1, limit) }, (entry) => {
          got.push(copy(entry));
          return true;
        });
      } catch (error) {
        throw new MamoriError('UNAVAILABLE', `peer: ${error instanceof Error ? error.message : String(error)}`);
      }
      for (let i = 0; i < got.length; i += FETCH_BATCH) {
        assertOpen();
        await onPage(got.slice(i, i + FETCH_BATCH));
      }
    },

    follow(onEntries) {
      assertOpen();
      onCall({ method: 'follow' });
      let pending: RawEntry[] = [];
      let scheduled = false;
      let ended = false;
      let endStream: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (endStream = resolve));
      const unsubscribe = server.follow((entries) => {
        for (const e of entries) pending.push(copy(e));
        if (scheduled) return;
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          const batch = pending;
          pending = [];
          if (!ended && batch.length > 0) onEntries(batch);
        });
      });
      const cancel = () => {
        if (ended) return;
        ended = true;
        unsubscribe();
        follows.delete(cancel);
        endStream();
      };
      follows.add(cancel);
      return { subscribed: Promise.resolve(), done, cancel };
    },

    close() {
      closed = true;
      for (const cancel of [...follows]) cancel();
    },
  };
}

/** A member's node in memory: real store, writer, acceptance and replicator; no gRPC, no MamoriNode. */
export class MemoryNode {
  readonly store: LedgerStore;
  readonly writer: LedgerWriter;
  readonly replicator: Replicator;
  readonly server: FeedServer;
  readonly ledger: LedgerPort;
  private readonly peers = new Set<string>();
  private closed = false;

  constructor(
    readonly member: MemoryMember,
    readonly dir: string,
    private readonly net: MemoryConsortium,
    options: Partial<ReplicatorOptions> = {},
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const log = pino({ level: 'silent' });
    this.store = LedgerStore.open(path.join(dir, 'mamori.db'));
    // The Bloom filter only speeds up checks; replication never reads it.
    const noFilter = { added: () => undefined } as unknown as ConstructorParameters<typeof LedgerWriter>[2];
    this.writer = new LedgerWriter(this.store, this.store.heads(), noFilter, log);
    this.ledger = new ReplicatedLedger(this.store, this.writer, member.id).port();
    this.server = new FeedServer(writerFeedSource(this.writer, this.store));
    this.replicator = new Replicator(this.ledger, (origin) => net.memberKeys(origin), (peer) => net.connect(this.id, peer), log, { ...REPLICATOR_OPTIONS, ...options });
  }

  get id(): string {
    return this.member.id;
  }

  /** Signs `count` entries of this member's own feed (one card listing each) and commits them. */
  publish(count = 1): Promise<ServedEntry[]> {
    return this.writer.enqueue((group) => {
      const made: ServedEntry[] = [];
      for (let i = 0; i < count; i++) {
        const [signed] = signChain(this.member, 1, group.head(this.id)) as [ServedEntry];
        group.append(acceptEntry(signed, { member: (o) => this.net.memberKeys(o), head: (o) => group.head(o) }));
        made.push(signed);
      }
      return () => made;
    });
  }

  /** Starts replicating with a peer (a node or a hostile peer of the same consortium), one way. */
  link(peer: string): void {
    this.peers.add(peer);
    this.replicator.setPeers([...this.peers]);
  }

  unlink(peer: string): void {
    this.peers.delete(peer);
    this.replicator.setPeers([...this.peers]);
  }

  head(origin: string): FeedHead {
    return this.writer.committedHead(origin);
  }

  /** Committed heads as `origin -> seq:hash-hex`, for comparing nodes. */
  heads(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [origin, h] of [...this.writer.allHeads()].sort(([x], [y]) => x.localeCompare(y))) out[origin] = `${h.seq}:${h.hash.toString('hex')}`;
    return out;
  }

  /** One origin's stored entries in seq order. */
  entries(origin: string): { seq: number; body: Buffer; signature: Buffer }[] {
    return this.store.entriesOf(origin, 1, 1_000_000);
  }

  /** Stored entries in commit (row id) order. */
  commitOrder(): { origin: string; seq: number }[] {
    return this.store.entriesAfter(0, 1_000_000).map((e) => ({ origin: e.origin, seq: e.seq }));
  }

  frozenOrigins(): { origin: string; reason: string }[] {
    return this.store.frozenOrigins().map(({ origin, reason }) => ({ origin, reason }));
  }

  /** The equivocation evidence stored for an origin. */
  equivocations(origin: string): { seq: number; storedHash: Buffer; otherHash: Buffer; otherBody: Buffer; otherSignature: Buffer; reportedBy: string }[] {
    return this.store.db
      .prepare(
        `SELECT seq, stored_hash AS storedHash, other_hash AS otherHash, other_body AS otherBody, other_signature AS otherSignature, reported_by AS reportedBy
         FROM equivocations WHERE origin = ? ORDER BY id`,
      )
      .all(origin) as ReturnType<MemoryNode['equivocations']>;
  }

  peerStatus(peer: string): PeerStatus | undefined {
    return this.replicator.status().find((p) => p.peer === peer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.replicator.stop();
    this.writer.close();
    this.store.close();
  }
}

/** The writer and store as a FeedSource (as rpc/replication-handlers.ts builds it from MamoriNode). */
function writerFeedSource(writer: LedgerWriter, store: LedgerStore): FeedSource {
  return {
    committedHeads: () => writer.allHeads(),
    entriesOf: (origin, fromSeq, limit) => store.entriesOf(origin, fromSeq, limit),
    onCommitted: (listener) => {
      writer.on('committed', listener);
      return () => writer.off('committed', listener);
    },
  };
}

/**
 * A peer that serves whatever the test chooses, through the same FeedServer and memory link
 * as an honest node: Heads are the last entry of each chosen feed, Fetch serves the chosen
 * entries from a seq on (gaps, forks and forgeries included), and push() sends raw entries
 * down open Follow streams. Each caller may be shown its own view (serve(..., to)). It never
 * replicates from anyone.
 */
export class HostilePeer {
  /** How many entries before the seq a Fetch asks from are served again (a replaying peer). */
  replayBefore = 0;
  /** Views by caller; '*' for any caller without its own. */
  private readonly views = new Map<string, Map<string, ServedEntry[]>>();
  private readonly followers = new Set<{ caller: string; listener: (entries: readonly RawEntry[]) => void }>();

  constructor(readonly id: string) {}

  /** What Heads and Fetch show for one origin from now on (seqs need not be contiguous), to one caller or all. */
  serve(origin: string, entries: readonly ServedEntry[], to = '*'): this {
    const view = this.views.get(to) ?? new Map<string, ServedEntry[]>();
    view.set(origin, [...entries].sort((x, y) => x.seq - y.seq));
    this.views.set(to, view);
    return this;
  }

  /** The server a caller's link reaches. */
  serverFor(caller: string): FeedServer {
    const feed = (origin: string) => this.views.get(caller)?.get(origin) ?? this.views.get('*')?.get(origin) ?? [];
    return new FeedServer({
      committedHeads: () => {
        const heads = new Map<string, FeedHead>();
        const origins = new Set([...(this.views.get('*')?.keys() ?? []), ...(this.views.get(caller)?.keys() ?? [])]);
        for (const origin of origins) {
          const last = feed(origin).at(-1);
          if (last) heads.set(origin, { seq: last.seq, hash: entryHash(last.body) });
        }
        return heads;
      },
      entriesOf: (origin, fromSeq, limit) =>
        feed(origin)
          .filter((e) => e.seq >= fromSeq - this.replayBefore)
          .slice(0, limit),
      onCommitted: (listener) => {
        const follower = { caller, listener };
        this.followers.add(follower);
        return () => this.followers.delete(follower);
      },
    });
  }

  /** Open Follow streams from a caller (or from anyone). */
  following(caller?: string): number {
    return [...this.followers].filter((f) => !caller || f.caller === caller).length;
  }

  /** Sends raw entries down the open Follow streams (of one caller, or all), waiting for one to be open. */
  async push(entries: readonly RawEntry[], to?: string): Promise<void> {
    await waitFor(() => this.following(to) > 0, `a follower of ${this.id}`, 5_000, 2);
    for (const f of this.followers) if (!to || f.caller === to) f.listener(entries);
  }
}

/** Members with real keys, their in-memory nodes and hostile peers, and the links between them. */
export class MemoryConsortium {
  readonly members = new Map<string, MemoryMember>();
  readonly nodes = new Map<string, MemoryNode>();
  readonly hostiles = new Map<string, HostilePeer>();
  /** Every call made over a memory link, in order. */
  readonly calls: LinkCall[] = [];
  /** Every link opened (one per connection attempt), as [from, to]. */
  readonly connections: [string, string][] = [];

  /** Directed pairs "from>to" that cannot connect (partition()). */
  private readonly cut = new Set<string>();
  private readonly open: { from: string; to: string; link: PeerLink }[] = [];

  constructor(readonly dir: string) {}

  /** Adds a member (its own signing keys) to the consortium; not a node until create(). */
  addMember(id: string, roles: Role[] = ['issuer', 'acquirer', 'psp']): MemoryMember {
    const member: MemoryMember = { id, roles, keys: generateSigningKeyPair() };
    this.members.set(id, member);
    return member;
  }

  member(id: string): MemoryMember {
    const member = this.members.get(id);
    if (!member) throw new Error(`no member "${id}"`);
    return member;
  }

  memberKeys(origin: string): MemberKeys | undefined {
    const m = this.members.get(origin);
    return m && { roles: m.roles, signingPublicKey: m.keys.publicKey };
  }

  /**
   * A member's node with its own database in the consortium's temp dir (the member is added if
   * new); `options` override REPLICATOR_OPTIONS (an injected clock, other backoff settings).
   */
  create(id: string, options: Partial<ReplicatorOptions> = {}): MemoryNode {
    if (this.nodes.has(id) || this.hostiles.has(id)) throw new Error(`"${id}" already runs`);
    const node = new MemoryNode(this.members.get(id) ?? this.addMember(id), path.join(this.dir, id), this, options);
    this.nodes.set(id, node);
    return node;
  }

  /** A hostile peer answering as `id` (a member's id or not). */
  hostile(id: string): HostilePeer {
    if (this.nodes.has(id) || this.hostiles.has(id)) throw new Error(`"${id}" already runs`);
    const peer = new HostilePeer(id);
    this.hostiles.set(id, peer);
    return peer;
  }

  /** The Replicator's connect(): a memory link from one node to a peer. */
  connect(from: string, to: string): PeerLink {
    if (this.cut.has(`${from}>${to}`)) throw new MamoriError('UNAVAILABLE', `peer: "${to}" unreachable (partition)`);
    const server = this.nodes.get(to)?.server ?? this.hostiles.get(to)?.serverFor(from);
    if (!server) throw new MamoriError('UNAVAILABLE', `peer: nothing runs as "${to}"`);
    this.connections.push([from, to]);
    const link = memoryLink(server, (call) => this.calls.push({ from, to, ...call }));
    this.open.push({ from, to, link });
    return link;
  }

  /** Cuts x and y apart: their open links close (streams end) and new ones fail UNAVAILABLE until heal(). */
  partition(x: string, y: string): void {
    this.cut.add(`${x}>${y}`).add(`${y}>${x}`);
    for (const o of this.open) if ((o.from === x && o.to === y) || (o.from === y && o.to === x)) o.link.close();
  }

  heal(x: string, y: string): void {
    this.cut.delete(`${x}>${y}`);
    this.cut.delete(`${y}>${x}`);
  }

  callsBetween(from: string, to: string, method?: LinkCall['method']): LinkCall[] {
    return this.calls.filter((c) => c.from === from && c.to === to && (!method || c.method === method));
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A consortium of these members (each with its own keys), made in-process in a temp dir. */
export async function memoryConsortium(members: readonly string[] = []): Promise<MemoryConsortium> {
  await sodiumReady();
  const net = new MemoryConsortium(fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-memory-')));
  for (const id of members) net.addMember(id);
  return net;
}

/** A member node in a fresh one-off consortium of `members` (the first is the node). */
export async function create(members: readonly string[] = ['member-a', 'member-b', 'member-c']): Promise<{ net: MemoryConsortium; node: MemoryNode }> {
  const net = await memoryConsortium(members);
  return { net, node: net.create(members[0] as string) };
}

/** Whether two nodes hold the same head (seq and hash) of every feed. */
export function converged(a: MemoryNode, b: MemoryNode): boolean {
  return JSON.stringify(a.heads()) === JSON.stringify(b.heads());
}

/** Links a and b to each other and waits until both are connected and their heads agree. */
export async function replicate(a: MemoryNode, b: MemoryNode, timeoutMs = 5_000): Promise<void> {
  a.link(b.id);
  b.link(a.id);
  await waitFor(
    () => a.peerStatus(b.id)?.connected && b.peerStatus(a.id)?.connected && converged(a, b),
    `${a.id} and ${b.id} to converge`,
    timeoutMs,
    2,
  );
}
