// Own-feed recovery at start (docs/design.md#own-feed-recovery): before this node signs anything new, it asks
// its peers how far they hold its own feed and fetches what it lacks, verified and chained like
// any replicated entry. A node restored from a backup at seq M, whose peers hold up to N > M,
// would otherwise sign M+1 again with other content and be frozen by every peer as an
// equivocator. Own writes stay refused (retryably) until one peer has answered; when none
// answers within the configured time, writes are accepted with a warning (a lone node must
// still work) unless recovery is required.
import type { Logger } from 'pino';
import type { MemberKeys } from '../ledger/acceptance';
import { MamoriError } from '../ledger/errors';
import { backoffDelay, sleep } from '../../../proto/ts/backoff';
import { fetchUpTo } from './fetch-up-to';
import { ingestEntries } from './ingest';
import type { OwnFeedRecoveryState, OwnWriteGate } from './own-write-gate';
import type { LedgerPort, PeerLink } from './types';

export interface OwnFeedRecoveryOptions {
  /** How long to wait for any peer to answer before accepting writes unchecked; 0: do not wait. */
  timeoutMs: number;
  /** When true, own writes stay refused until a peer answers, however long that takes. */
  required: boolean;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface OwnFeedRecoveryPorts {
  ledger: LedgerPort;
  member: (origin: string) => MemberKeys | undefined;
  connect: (peer: string) => PeerLink;
  ownOrigin: string;
  peers: () => readonly string[];
  gate: OwnWriteGate;
  log: Logger;
}

export interface RunningOwnFeedRecovery {
  /** Settles with the final state once own writes are accepted (or the recovery is stopped). */
  done: Promise<OwnFeedRecoveryState | 'stopped'>;
  stop(): Promise<void>;
}

/**
 * Holds the gate at once (before the caller opens the member-local API), then checks the own
 * feed against the peers in the background and releases the gate when it may.
 */
export function startOwnFeedRecovery(ports: OwnFeedRecoveryPorts, options: OwnFeedRecoveryOptions): RunningOwnFeedRecovery {
  const stopper = new AbortController();
  if (ports.peers().length === 0) {
    ports.gate.setState('no-peers');
    return { done: Promise.resolve('no-peers'), stop: async () => undefined };
  }
  if (options.timeoutMs === 0 && !options.required) {
    // Configured not to wait: the replicator still fetches own entries a peer holds beyond ours.
    ports.gate.setState('unchecked');
    return { done: Promise.resolve('unchecked'), stop: async () => undefined };
  }
  ports.gate.setState('recovering');
  ports.gate.hold();
  const done = recover(ports, options, stopper.signal).then((state) => {
    if (state !== 'stopped') {
      ports.gate.setState(state);
      ports.gate.release();
    }
    return state;
  });
  return {
    done,
    stop: async () => {
      stopper.abort();
      await done;
    },
  };
}

async function recover(ports: OwnFeedRecoveryPorts, options: OwnFeedRecoveryOptions, signal: AbortSignal): Promise<OwnFeedRecoveryState | 'stopped'> {
  const { log, ownOrigin } = ports;
  const started = Date.now();
  const localSeq = () => ports.ledger.committedHeads().get(ownOrigin)?.seq ?? 0;
  const fromSeq = localSeq();
  let attempt = 0;
  let warnedRequired = false;
  log.info({ ownSeq: fromSeq }, 'checking this node\'s own feed against its peers before signing; own writes refused meanwhile');
  while (!signal.aborted) {
    const peers = ports.peers();
    if (peers.length === 0) return 'no-peers';
    const results = await Promise.allSettled(peers.map((peer) => askPeer(ports, peer)));
    if (signal.aborted) break;
    const answeredBy = peers.filter((_, i) => results[i]?.status === 'fulfilled');
    if (answeredBy.length > 0) {
      log.info({ ownSeqBefore: fromSeq, ownSeq: localSeq(), answeredBy, ms: Date.now() - started }, 'own feed checked against peers; own writes accepted');
      return 'recovered';
    }
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected') log.debug({ peer: peers[i], err: errorMessage(r.reason) }, 'peer did not answer for own-feed recovery');
    }
    const elapsed = Date.now() - started;
    if (elapsed >= options.timeoutMs) {
      if (!options.required) {
        log.warn(
          { timeoutMs: options.timeoutMs, ownSeq: localSeq() },
          'no peer answered within ownFeedRecovery.timeoutMs: own writes accepted without checking the own feed against peers (if this data dir was restored from a backup, peers may freeze this member)',
        );
        return 'unchecked';
      }
      if (!warnedRequired) {
        warnedRequired = true;
        log.warn({ timeoutMs: options.timeoutMs, ownSeq: localSeq() }, 'no peer answered yet and ownFeedRecovery.required is set: own writes stay refused until a peer answers');
      }
    }
    const delay = backoffDelay(attempt++, options.retryBaseMs ?? 250, options.retryMaxMs ?? 5_000);
    const untilTimeout = options.timeoutMs - elapsed;
    await sleep(untilTimeout > 0 ? Math.max(10, Math.min(delay, untilTimeout)) : delay, signal);
  }
  return 'stopped';
}

/**
 * One peer's answer: its head of the own feed, and every own entry beyond ours that it holds,
 * ingested. A peer that advertises more than it then supplies has not answered.
 */
async function askPeer(ports: OwnFeedRecoveryPorts, peer: string): Promise<void> {
  const { ledger, ownOrigin, log } = ports;
  const localSeq = () => ledger.committedHeads().get(ownOrigin)?.seq ?? 0;
  const link = ports.connect(peer);
  try {
    const theirs = (await link.heads()).find((h) => h.origin === ownOrigin);
    if (!theirs || theirs.seq <= localSeq()) {
      const ours = theirs && ledger.storedEntry(ownOrigin, theirs.seq);
      if (theirs && ours && !ours.hash.equals(theirs.hash)) {
        log.error({ peer, seq: theirs.seq }, 'a peer holds a different entry of this node\'s own feed at this seq: this member signed it twice (a restored backup?); peers freeze it until an operator acts');
      }
      return;
    }
    log.warn({ peer, peerSeq: theirs.seq, ownSeq: localSeq() }, 'a peer holds this node\'s own feed beyond the local head; fetching the missing own entries');
    await fetchUpTo(link, ownOrigin, theirs.seq, localSeq, async (entries) => {
      const report = await ingestEntries(ledger, ports.member, entries, peer);
      ports.gate.countRecovered(report.ownAccepted);
      if (Object.keys(report.rejected).length > 0) log.warn({ peer, rejected: report.rejected }, 'own entries from a peer rejected');
      for (const seq of report.ownDivergences) {
        log.error({ peer, seq }, 'a peer holds a different entry of this node\'s own feed at this seq: this member signed it twice; peers freeze it until an operator acts');
      }
    });
    if (localSeq() < theirs.seq) {
      throw new MamoriError('UNAVAILABLE', `peer "${peer}" holds the own feed up to seq ${theirs.seq} but supplied entries only up to ${localSeq()}`);
    }
  } finally {
    link.close();
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
