// Keeps this node's copy of every feed current: for each peer, compare heads and fetch
// what is missing (anti-entropy, also on a timer), then follow the peer's live stream.
// Any peer can supply any origin's entries, so a member that cannot reach an origin still
// converges through another peer. Reconnects with exponential backoff and jitter.
//
// A fetch never asks beyond what the peer advertised (its Heads answer, or a higher seq it sent
// on Follow), and each Fetch call asks from this node's head on: a call that does not advance
// the head ends the round. A round that ends short of the advertised head (forged, gapped or
// missing entries) makes fetches of that origin from that peer back off, per (peer, origin):
// exponential, capped, jittered, and cleared by a round that reaches the advertised head.
import type { Logger } from 'pino';
import type { MemberKeys } from '../ledger/acceptance';
import { type ErrorCode, MamoriError } from '../ledger/errors';
import { backoffDelay, sleep } from '../../../proto/ts/backoff';
import { fetchUpTo } from './fetch-up-to';
import { ingestEntries, type IngestReport } from './ingest';
import type { OwnWriteGate } from './own-write-gate';
import { PeerRefusedMembership, type ConsortiumChannel, type LedgerPort, type PeerHead, type PeerLink, type RawEntry } from './types';

/** Entries received on a live stream and not yet ingested, before the stream is dropped. */
const MAX_FOLLOW_BACKLOG = 4096;

export interface ReplicatorOptions {
  antiEntropyIntervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /**
   * Per peer and origin: the wait after a fetch round that ended short of the peer's advertised
   * head, doubling with each such round up to the max (jittered). Defaults 1 s and 60 s.
   */
  rejectionBackoffBaseMs?: number;
  rejectionBackoffMaxMs?: number;
  /** Refuses own writes while own entries a peer holds beyond the local head are fetched. */
  ownWrites?: OwnWriteGate;
  /** A read replica: its member's signer writes the own feed, so fetching it is routine, not a warning. */
  readReplica?: boolean;
  /** The consortium document, compared at every Heads answer and offered when a peer refuses this node (consortium-gossip.ts). */
  consortium?: {
    afterHeads(peer: string, channel: ConsortiumChannel | undefined): Promise<void>;
    refusedBy(peer: string, channel: ConsortiumChannel | undefined): Promise<void>;
  };
  /** The clock and jitter of the rejection backoff (tests inject them); Date.now and Math.random. */
  now?: () => number;
  random?: () => number;
}

export const REJECTION_BACKOFF_BASE_MS = 1_000;
export const REJECTION_BACKOFF_MAX_MS = 60_000;

/** An origin whose fetches from a peer back off. */
export interface OriginBackoff {
  origin: string;
  /** Consecutive fetch rounds from this peer that ended short of its advertised head. */
  failedRounds: number;
  /** No fetch of this origin from this peer before then (ms since the epoch). */
  retryAtMs: number;
}

export interface PeerStatus {
  peer: string;
  connected: boolean;
  lastContactMs: number;
  entriesBehind: number;
  accepted: number;
  rejections: Partial<Record<ErrorCode, number>>;
  lastError?: string;
  /** Origins whose fetches from this peer back off now, by origin. */
  backoff: OriginBackoff[];
  /** Fetch rounds from this peer that ended short of its advertised head, since start. */
  failedFetchRounds: number;
}

class PeerState {
  connected = false;
  lastContactMs = 0;
  remoteHeads = new Map<string, number>();
  accepted = 0;
  rejections: Partial<Record<ErrorCode, number>> = {};
  lastError: string | undefined;
  readonly fetching = new Set<string>();
  /** Origins whose fork is being looked for at this peer (one walk at a time). */
  readonly forkChecks = new Set<string>();
  /** Per origin: consecutive failed fetch rounds and when the next may start. */
  readonly backoff = new Map<string, { failedRounds: number; retryAtMs: number }>();
  failedFetchRounds = 0;
  link: PeerLink | undefined;
  follow: { cancel(): void } | undefined;
  constructor(readonly id: string) {}
}

export class Replicator {
  private readonly peers = new Map<string, PeerState>();
  private readonly stopper = new AbortController();
  private readonly loops: Promise<void>[] = [];
  /** Seqs of the own feed already reported as divergent at a peer (reported once each). */
  private readonly ownDivergencesReported = new Set<number>();

  constructor(
    private readonly ledger: LedgerPort,
    private readonly member: (origin: string) => MemberKeys | undefined,
    private readonly connect: (peer: string) => PeerLink,
    private readonly log: Logger,
    private readonly options: ReplicatorOptions,
  ) {}

  /** Starts (or, after a membership change, adjusts) the set of peers followed. */
  setPeers(peerIds: readonly string[]): void {
    for (const id of peerIds) {
      if (this.peers.has(id)) continue;
      const state = new PeerState(id);
      this.peers.set(id, state);
      this.loops.push(this.run(state));
    }
    for (const [id, state] of this.peers) {
      if (!peerIds.includes(id)) {
        this.peers.delete(id);
        state.follow?.cancel();
        state.link?.close();
      }
    }
  }

  status(): PeerStatus[] {
    const local = this.ledger.committedHeads();
    return [...this.peers.values()].map((p) => {
      let behind = 0;
      for (const [origin, seq] of p.remoteHeads) behind += Math.max(0, seq - (local.get(origin)?.seq ?? 0));
      return {
        peer: p.id,
        connected: p.connected,
        lastContactMs: p.lastContactMs,
        entriesBehind: behind,
        accepted: p.accepted,
        rejections: { ...p.rejections },
        lastError: p.lastError,
        backoff: [...p.backoff]
          .map(([origin, b]) => ({ origin, failedRounds: b.failedRounds, retryAtMs: b.retryAtMs }))
          .sort((x, y) => x.origin.localeCompare(y.origin)),
        failedFetchRounds: p.failedFetchRounds,
      };
    });
  }

  /** The links of the peers connected now (a new consortium document is offered over them). */
  connectedLinks(): { peer: string; link: PeerLink }[] {
    return [...this.peers.values()].filter((p) => p.connected && p.link).map((p) => ({ peer: p.id, link: p.link as PeerLink }));
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    for (const p of this.peers.values()) {
      p.follow?.cancel();
      p.link?.close();
    }
    await Promise.allSettled(this.loops);
  }

  /**
   * Each connected peer's copy of one entry (a one-entry Fetch), one peer at a time, for the
   * scrub's repairs; the caller verifies what it gets. A peer that fails is skipped.
   */
  async *copiesOf(origin: string, seq: number): AsyncGenerator<{ peer: string; entry: RawEntry }> {
    for (const peer of [...this.peers.values()]) {
      const link = peer.link;
      if (!link || !peer.connected || this.stopped) continue;
      let entry: RawEntry | undefined;
      try {
        await link.fetch(origin, seq, async (entries) => {
          entry ??= entries[0];
        }, 1);
      } catch (error) {
        this.countLinkError(peer, error);
        continue;
      }
      if (entry) yield { peer: peer.id, entry };
    }
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private async run(peer: PeerState): Promise<void> {
    let attempt = 0;
    while (!this.stopped && this.peers.get(peer.id) === peer) {
      try {
        peer.link = this.connect(peer.id);
        await this.followUntilEnd(peer, () => {
          peer.connected = true;
          peer.lastError = undefined;
          attempt = 0;
        });
      } catch (error) {
        peer.lastError = error instanceof Error ? error.message : String(error);
        this.countLinkError(peer, error);
        if (peer.connected && !isStorageFull(error)) this.log.warn({ peer: peer.id, err: peer.lastError }, 'lost the connection to a peer');
        // The peer does not know this member: perhaps it holds an older consortium document.
        if (error instanceof PeerRefusedMembership && !this.stopped) await this.options.consortium?.refusedBy(peer.id, peer.link?.consortium);
      } finally {
        peer.connected = false;
        peer.follow?.cancel();
        peer.follow = undefined;
        peer.link?.close();
        peer.link = undefined;
      }
      if (this.stopped) break;
      await sleep(backoffDelay(attempt++, this.options.backoffBaseMs, this.options.backoffMaxMs), this.stopper.signal);
    }
  }

  /**
   * Subscribes to the peer's live stream first, then fetches what is missing (so nothing
   * committed in between is missed), and runs anti-entropy on a timer until the stream ends.
   */
  private async followUntilEnd(peer: PeerState, onConnected: () => void): Promise<void> {
    const link = peer.link;
    if (!link) return;
    let queue = Promise.resolve();
    let queued = 0;
    // Once storage refuses a batch, the later ones of this stream would only report gaps.
    let refusedForStorage = false;
    const follow = link.follow((entries) => {
      peer.lastContactMs = Date.now();
      queued += entries.length;
      if (queued > MAX_FOLLOW_BACKLOG) {
        // Ingest cannot keep up: drop the live stream rather than buffer without bound;
        // the reconnection catches up with Fetch, which waits for each page.
        this.log.warn({ peer: peer.id, queued }, 'live stream from a peer is ahead of ingest; catching up with Fetch');
        follow.cancel();
        return;
      }
      // Ingest in arrival order: each batch waits for the previous one.
      queue = queue
        .then(async () => {
          if (!refusedForStorage) await this.ingest(peer, entries);
        })
        .catch((error: unknown) => {
          if (isStorageFull(error)) {
            refusedForStorage = true;
            // No room here: stop the live stream; the reconnection loop backs off and catches
            // up with Fetch once writes succeed again (the writer logs the condition once).
            peer.lastError = (error as MamoriError).message;
            follow.cancel();
            return;
          }
          this.log.warn({ peer: peer.id, err: error }, 'ingest failed');
        })
        .finally(() => (queued -= entries.length));
    });
    peer.follow = follow;
    await Promise.race([follow.subscribed, follow.done]);
    await this.antiEntropy(peer);
    onConnected();
    const timer = setInterval(() => {
      void this.antiEntropy(peer).catch((error: unknown) => {
        peer.lastError = error instanceof Error ? error.message : String(error);
        this.countLinkError(peer, error);
        follow.cancel();
      });
    }, this.options.antiEntropyIntervalMs);
    try {
      await follow.done;
    } finally {
      clearInterval(timer);
    }
  }

  /** Compares heads with the peer and fetches every origin's missing entries. */
  private async antiEntropy(peer: PeerState): Promise<void> {
    const link = peer.link;
    if (!link) return;
    const heads: PeerHead[] = await link.heads();
    peer.lastContactMs = Date.now();
    // A newer consortium document first: the origins it adds are fetched in this same round.
    await this.options.consortium?.afterHeads(peer.id, link.consortium);
    peer.remoteHeads = new Map(heads.map((h) => [h.origin, h.seq]));
    const local = this.ledger.committedHeads();
    const usable = heads.filter((h) => this.member(h.origin) && !this.ledger.isFrozen(h.origin));
    // A head we also hold but with another hash is a fork: fetch the peer's entry there, so
    // that an equivocation is caught even when neither version is new to anyone.
    const forks = usable.filter((h) => {
      if (h.seq > (local.get(h.origin)?.seq ?? 0)) return false;
      if (h.origin === this.ledger.ownOrigin && this.ownDivergencesReported.has(h.seq)) return false;
      const ours = this.ledger.storedEntry(h.origin, h.seq);
      return ours !== undefined && !ours.hash.equals(h.hash);
    });
    await Promise.all([
      ...usable
        .filter((h) => h.seq > (local.get(h.origin)?.seq ?? 0))
        .map((h) => (h.origin === this.ledger.ownOrigin ? this.catchUpOwnFeed(peer, h) : this.fetchOrigin(peer, h.origin, h.seq))),
      ...forks.map((h) => this.checkAdvertisedFork(peer, h)),
    ]);
  }

  /**
   * The peer holds this node's own feed beyond the local head (the node started from a backup
   * while its peers were down): fetch it like any feed, refusing own writes meanwhile so the
   * node does not sign a seq the peer already holds.
   */
  private async catchUpOwnFeed(peer: PeerState, head: PeerHead): Promise<void> {
    // Once the feeds diverged, the peer's copy cannot chain onto ours: nothing to fetch.
    if (peer.fetching.has(head.origin) || this.backingOff(peer, head.origin) || this.ownDivergencesReported.size > 0) return;
    const gate = this.options.ownWrites;
    const heads = { peer: peer.id, peerSeq: head.seq, ownSeq: this.ledger.committedHeads().get(head.origin)?.seq ?? 0 };
    if (this.options.readReplica) this.log.debug(heads, "fetching the member's feed its signer wrote");
    else this.log.warn(heads, 'a peer holds this node\'s own feed beyond the local head; fetching the missing own entries');
    gate?.hold();
    try {
      await this.fetchOrigin(peer, head.origin, head.seq);
    } finally {
      gate?.release();
    }
  }

  /** One entry of the peer's copy of a feed, to compare with ours. */
  private async fetchOne(peer: PeerState, origin: string, seq: number): Promise<IngestReport | undefined> {
    const link = peer.link;
    if (!link) return undefined;
    let report: IngestReport | undefined;
    await link.fetch(origin, seq, async (entries) => {
      report = await this.ingest(peer, entries.slice(0, 1));
    }, 1);
    return report;
  }

  /**
   * The peer advertises another hash at a seq we hold: its entry there is fetched. Unless it
   * shows the origin signed two entries (or this node its own twice), the peer advertised what
   * it does not serve: a failed round.
   */
  private async checkAdvertisedFork(peer: PeerState, head: PeerHead): Promise<void> {
    if (this.backingOff(peer, head.origin)) return;
    const report = await this.fetchOne(peer, head.origin, head.seq);
    if (!report || (report.equivocations.length === 0 && report.ownDivergences.length === 0)) this.roundFailed(peer, head.origin, 'advertised a head it does not serve');
  }

  /**
   * The peer's next entry does not chain onto ours: walk back through the peer's copy until
   * it matches ours (the peer relayed a forgery) or a validly signed different entry turns
   * up (equivocation, recorded by ingest). A walk that finds neither is a failed round.
   */
  private async findFork(peer: PeerState, origin: string): Promise<void> {
    if (peer.forkChecks.has(origin) || this.backingOff(peer, origin)) return;
    peer.forkChecks.add(origin);
    try {
      let seq = this.ledger.committedHeads().get(origin)?.seq ?? 0;
      for (let steps = 0; seq >= 1 && steps < 64; steps++, seq--) {
        const report = await this.fetchOne(peer, origin, seq);
        if (!report) break;
        if (report.duplicates > 0 || report.equivocations.length > 0 || report.ownDivergences.length > 0) return;
      }
      this.roundFailed(peer, origin, 'served a broken chain');
    } finally {
      peer.forkChecks.delete(origin);
    }
  }

  /**
   * One fetch round: the origin's entries from this node's head up to `upTo`, the seq the peer
   * advertised. Skipped while the origin backs off at this peer; a round that ends short of
   * `upTo` backs off, one that reaches it clears the backoff.
   */
  private async fetchOrigin(peer: PeerState, origin: string, upTo: number): Promise<void> {
    const link = peer.link;
    if (!link || peer.fetching.has(origin) || this.backingOff(peer, origin)) return;
    const localSeq = () => this.ledger.committedHeads().get(origin)?.seq ?? 0;
    if (localSeq() >= upTo) return;
    peer.fetching.add(origin);
    let reached: boolean;
    try {
      reached = await fetchUpTo(link, origin, upTo, localSeq, async (entries) => {
        peer.lastContactMs = Date.now();
        await this.ingest(peer, entries);
      });
    } finally {
      peer.fetching.delete(origin);
    }
    if (reached) this.roundSucceeded(peer, origin);
    else if (!this.stopped) this.roundFailed(peer, origin, `served ${origin} only up to seq ${localSeq()} of an advertised ${upTo}`);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private backingOff(peer: PeerState, origin: string): boolean {
    const b = peer.backoff.get(origin);
    return b !== undefined && this.now() < b.retryAtMs;
  }

  private roundFailed(peer: PeerState, origin: string, why: string): void {
    const b = peer.backoff.get(origin) ?? { failedRounds: 0, retryAtMs: 0 };
    const delay = backoffDelay(
      b.failedRounds,
      this.options.rejectionBackoffBaseMs ?? REJECTION_BACKOFF_BASE_MS,
      this.options.rejectionBackoffMaxMs ?? REJECTION_BACKOFF_MAX_MS,
      this.options.random,
    );
    b.failedRounds++;
    b.retryAtMs = this.now() + delay;
    peer.backoff.set(origin, b);
    peer.failedFetchRounds++;
    // Once per streak: the status and the metrics count the rounds.
    if (b.failedRounds === 1) this.log.warn({ peer: peer.id, origin, retryInMs: delay, why }, 'fetches of an origin from a peer back off: the peer did not supply what it advertised');
  }

  private roundSucceeded(peer: PeerState, origin: string): void {
    const b = peer.backoff.get(origin);
    if (!b) return;
    peer.backoff.delete(origin);
    this.log.info({ peer: peer.id, origin, failedRounds: b.failedRounds }, 'a peer supplied an origin up to its advertised head again: backoff cleared');
  }

  /** A peer that breaks the protocol (for example an oversize message) is counted; network trouble is not. */
  private countLinkError(peer: PeerState, error: unknown): void {
    if (error instanceof MamoriError && error.code !== 'UNAVAILABLE' && !isStorageFull(error)) this.count(peer, error.code, 1);
  }

  private count(peer: PeerState, code: ErrorCode, n: number): void {
    peer.rejections[code] = (peer.rejections[code] ?? 0) + n;
  }

  private async ingest(peer: PeerState, entries: RawEntry[]): Promise<IngestReport> {
    const report = await ingestEntries(this.ledger, this.member, entries, peer.id);
    peer.accepted += report.accepted;
    this.options.ownWrites?.countRecovered(report.ownAccepted);
    for (const seq of report.ownDivergences) {
      if (this.ownDivergencesReported.has(seq)) continue;
      this.ownDivergencesReported.add(seq);
      this.log.error(
        { peer: peer.id, seq },
        'a peer holds a different entry of this node\'s own feed at this seq: this member signed it twice (a restored backup?); peers freeze it until an operator acts; not frozen here',
      );
    }
    for (const [code, n] of Object.entries(report.rejected) as [ErrorCode, number][]) this.count(peer, code, n);
    // Entries after a gap are not committed out of order; the missing ones are fetched.
    if (report.gaps.size > 0) this.count(peer, 'SEQ_GAP', report.gaps.size);
    if (Object.keys(report.rejected).length > 0) this.log.warn({ peer: peer.id, rejected: report.rejected }, 'entries from a peer rejected');
    for (const origin of report.equivocations) this.log.error({ origin, peer: peer.id }, 'EQUIVOCATION: origin signed two different entries at one seq; origin frozen until an operator acts');
    // A gap on Follow: fetch up to what the peer advertised, or the seq it sent if higher.
    for (const [origin, sent] of report.gapSeqs) {
      const upTo = Math.max(peer.remoteHeads.get(origin) ?? 0, sent);
      void this.fetchOrigin(peer, origin, upTo).catch((error: unknown) => this.countLinkError(peer, error));
    }
    for (const origin of report.forks) void this.findFork(peer, origin).catch((error: unknown) => this.countLinkError(peer, error));
    return report;
  }
}

/** This node's own storage refused the write: not the peer's fault, and retried after a backoff. */
function isStorageFull(error: unknown): boolean {
  return error instanceof MamoriError && error.code === 'STORAGE_FULL';
}
