// The node's Prometheus metrics, one registry per node. Checks and publications are counted
// as they happen (an increment each, through the node's events); everything else is read at
// scrape time from what the node already keeps (MetricsSources): its status (cached counts, the
// filter's running bit count), replicator status, running totals, two file sizes. Labels are member ids, error codes and file names only:
// never a card number, a key or a selector.
import * as fs from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { NodeStatus } from '../exchange/node';
import type { WalCheckpointStats } from '../housekeeping/wal-checkpoint';
import type { ScrubStats } from '../integrity/scrub';
import type { PeerStatus } from '../replication/replicator';
import { registerCommonPointMetrics, type CommonPointCounts } from './common-point-metrics';
import { AUTH_FAILURE_REASONS, RATE_LIMIT_SCOPES, type NodeEvents } from './observer';

/** What the metrics read of a node: each a narrow view, handed over by the composition root. */
export interface MetricsSources {
  member: string;
  status(): NodeStatus;
  frozenOrigins(): readonly unknown[];
  databaseFile: string;
  storage: { storageStatus(): { full: boolean; refusedCommits: number } };
  scrub: { readonly stats: ScrubStats };
  walCheckpoints: { readonly stats: WalCheckpointStats };
  watchedMerchants(): number;
  /** The aggregator's analyser; absent on every other node. */
  commonPoint?: CommonPointCounts;
  events: Pick<NodeEvents, 'observe' | 'totals'>;
  /** The audit chain as last verified (housekeeping/audit-log.ts). */
  auditChain(): { state: string };
  peers(): PeerStatus[];
  /** The consortium document in force and the documents handed to the node, by result (membership/consortium-intake.ts). */
  consortium: { version(): number; readonly counts: Readonly<Record<string, number>> };
  /** The member certificate in force (runtime/certificate-watch.ts); absent without TLS. */
  certificate?: { status(): { notAfterMs: number; state: string } };
  /** Threshold-PRF evaluation (docs/oprf.md): this node as an evaluator and as its clients' forwarder; absent without one. */
  oprf?: () => OprfCounts | undefined;
}

/** Running totals since start of the threshold-PRF evaluation path. */
export interface OprfCounts {
  evaluatorReady: boolean;
  evaluated: number;
  refusedBudget: number;
  refusedInvalid: number;
  forwarded: number;
  forwardedUnavailable: number;
}

export interface NodeMetrics {
  registry: Registry;
  /** The Prometheus text of every metric, read from one snapshot of the node. */
  scrape(): Promise<string>;
  /** Stops observing the node (the registry stays readable). */
  close(): void;
}

/** Check latency buckets, in seconds: a negative answers from the filter in microseconds. */
const CHECK_SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

/** Scrape-time values shared by every gauge of one scrape (prom-client collects them one by one). */
interface Snapshot {
  status: NodeStatus;
  peers: PeerStatus[];
  frozenOrigins: number;
  databaseBytes: number;
  walBytes: number;
}

function fileBytes(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0; // no WAL file between checkpoints on some platforms, or the node is closing
  }
}

export function createNodeMetrics(sources: MetricsSources): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ member: sources.member });
  collectDefaultMetrics({ register: registry });

  const databaseFile = sources.databaseFile;
  const takeSnapshot = (): Snapshot | undefined => {
    try {
      return {
        status: sources.status(),
        peers: sources.peers(),
        frozenOrigins: sources.frozenOrigins().length,
        databaseBytes: fileBytes(databaseFile),
        walBytes: fileBytes(`${databaseFile}-wal`),
      };
    } catch {
      return undefined; // the node is closing: gauges keep their last values
    }
  };
  let current: { value: Snapshot | undefined } | undefined;
  // Inside scrape() every gauge reads the same snapshot; a direct registry.metrics() takes one per gauge.
  const snapshot = (): Snapshot | undefined => (current ?? { value: takeSnapshot() }).value;
  const scrape = async (): Promise<string> => {
    current = { value: takeSnapshot() };
    try {
      return await registry.metrics();
    } finally {
      current = undefined;
    }
  };
  const gauge = (name: string, help: string, read: (s: Snapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = snapshot();
        if (s) this.set(read(s));
      },
    });
  const perPeer = <L extends string>(name: string, help: string, labelNames: L[], fill: (metric: Gauge<L>, peers: PeerStatus[]) => void) =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const s = snapshot();
        if (!s) return;
        this.reset(); // a peer no longer followed disappears
        fill(this, s.peers);
      },
    });
  // Cumulative counts kept by the replicator, exposed as counters: reset, then set to the total.
  const peerCounter = <L extends string>(name: string, help: string, labelNames: L[], fill: (metric: Counter<L>, peers: PeerStatus[]) => void) =>
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const s = snapshot();
        if (!s) return;
        this.reset();
        fill(this, s.peers);
      },
    });

  // Counted as they happen.
  const checks = new Counter({ name: 'mamori_checks_total', help: 'Selectors (cards) checked by this node', registers: [registry] });
  const hits = new Counter({ name: 'mamori_check_hits_total', help: 'Checked selectors answered listed', registers: [registry] });
  const checkSeconds = new Histogram({
    name: 'mamori_check_duration_seconds',
    help: 'Time the node took to answer one Check call (filter, then SQLite for positives)',
    buckets: CHECK_SECONDS_BUCKETS,
    registers: [registry],
  });
  const publications = new Counter({ name: 'mamori_publications_total', help: 'Publish calls that committed a new entry of this member\'s feed', registers: [registry] });
  const published = new Counter({
    name: 'mamori_published_indicators_total',
    help: 'Indicators in committed Publish calls, by result (accepted into a new entry, or duplicate)',
    labelNames: ['result'],
    registers: [registry],
  });
  const unsubscribe = sources.events.observe({
    checked(count: number, listed: number, seconds: number) {
      checks.inc(count);
      if (listed > 0) hits.inc(listed);
      checkSeconds.observe(seconds);
    },
    published(accepted: number, duplicates: number) {
      if (accepted > 0) publications.inc();
      published.inc({ result: 'accepted' }, accepted);
      published.inc({ result: 'duplicate' }, duplicates);
    },
  });
  // Label sets exist (at 0) before the first event, so rate() and ratios work from the start.
  published.inc({ result: 'accepted' }, 0);
  published.inc({ result: 'duplicate' }, 0);

  // Read at scrape time.
  new Counter({
    name: 'mamori_rate_limited_total',
    help: 'Calls refused with RESOURCE_EXHAUSTED by a rate limit, by scope (checks, publications, fetches, heads)',
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = sources.events.totals.rateLimited;
      for (const scope of RATE_LIMIT_SCOPES) this.inc({ scope }, counts[scope]);
    },
  });
  new Counter({
    name: 'mamori_auth_failures_total',
    help: 'Member-local calls refused by authentication, by reason (missing, duplicate, malformed, unknown_token, missing_scope); never the token',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const counts = sources.events.totals.authFailures;
      for (const reason of AUTH_FAILURE_REASONS) this.inc({ reason }, counts[reason] ?? 0);
    },
  });
  new Gauge({
    name: 'mamori_audit_chain_ok',
    help: 'Whether the audit log verified (1: its signed anchor and the chain checked at start, the full pass done or under way) or is broken (0)',
    registers: [registry],
    collect() {
      this.set(sources.auditChain().state === 'broken' ? 0 : 1);
    },
  });
  new Counter({
    name: 'mamori_storage_refused_commits_total',
    help: 'Commits refused because storage was full (size limit storage.maxDatabaseMb or disk full); nothing of them was stored',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.storage.storageStatus().refusedCommits);
    },
  });
  new Gauge({
    name: 'mamori_storage_full',
    help: 'Whether the last commit was refused for lack of room (1) or storage accepts writes (0)',
    registers: [registry],
    collect() {
      this.set(sources.storage.storageStatus().full ? 1 : 0);
    },
  });
  gauge('mamori_entries', 'Ledger entries stored, all origins', (s) => s.status.entries);
  gauge('mamori_indicators', 'Indicators stored, all origins', (s) => s.status.indicators);
  new Gauge({
    name: 'mamori_feed_seq',
    help: 'Sequence number of the newest stored entry of each origin\'s feed',
    labelNames: ['origin'],
    registers: [registry],
    collect() {
      const s = snapshot();
      if (!s) return;
      this.reset();
      for (const f of s.status.feeds) this.set({ origin: f.origin }, f.seq);
    },
  });
  gauge('mamori_key_epoch', 'Newest active hashing-key epoch (its number, not the key)', (s) => s.status.keyEpoch);
  gauge('mamori_filter_items', 'Selectors in the Bloom filter', (s) => s.status.filter.items);
  gauge('mamori_filter_capacity', 'Selectors the Bloom filter is sized for', (s) => s.status.filter.capacity);
  gauge('mamori_filter_bits', 'Size of the Bloom filter in bits', (s) => s.status.filter.bits);
  gauge('mamori_filter_fill_ratio', 'Fraction of the Bloom filter bits set', (s) => s.status.filter.fill);
  gauge('mamori_filter_estimated_fp_rate', 'Estimated Bloom filter false-positive rate at the current fill', (s) => s.status.filter.estimatedFpRate);
  gauge('mamori_filter_target_fp_rate', 'Configured Bloom filter false-positive rate at capacity', (s) => s.status.filter.targetFpRate);
  gauge('mamori_frozen_origins', 'Origins frozen for equivocation (awaiting an operator)', (s) => s.frozenOrigins);
  gauge('mamori_database_size_bytes', 'Size of the SQLite database file', (s) => s.databaseBytes);
  gauge('mamori_wal_size_bytes', 'Size of the SQLite write-ahead log file', (s) => s.walBytes);
  gauge('mamori_start_time_seconds', 'When the node opened, in seconds since the epoch', (s) => s.status.startedAtMs / 1000);

  perPeer('mamori_replication_peer_connected', 'Whether the live stream to the peer is up (1) or not (0)', ['peer'], (m, ps) => {
    for (const p of ps) m.set({ peer: p.peer }, p.connected ? 1 : 0);
  });
  perPeer('mamori_replication_entries_behind', 'Entries the peer has announced that this node does not hold yet', ['peer'], (m, ps) => {
    for (const p of ps) m.set({ peer: p.peer }, p.entriesBehind);
  });
  perPeer('mamori_replication_last_contact_timestamp_seconds', 'Last successful exchange with the peer, seconds since the epoch (0: never)', ['peer'], (m, ps) => {
    for (const p of ps) m.set({ peer: p.peer }, p.lastContactMs / 1000);
  });
  peerCounter('mamori_replication_entries_accepted_total', 'Entries accepted from the peer', ['peer'], (m, ps) => {
    for (const p of ps) m.inc({ peer: p.peer }, p.accepted);
  });
  peerCounter('mamori_replication_rejections_total', 'Entries from the peer refused, by reason (error code)', ['peer', 'reason'], (m, ps) => {
    for (const p of ps) for (const [reason, n] of Object.entries(p.rejections)) m.inc({ peer: p.peer, reason }, n ?? 0);
  });
  perPeer('mamori_replication_origins_backing_off', 'Origins whose fetches from the peer back off (its rounds ended short of its advertised head)', ['peer'], (m, ps) => {
    for (const p of ps) m.set({ peer: p.peer }, p.backoff.length);
  });
  peerCounter('mamori_replication_failed_fetch_rounds_total', 'Fetch rounds from the peer that ended short of its advertised head (each starts or extends a backoff)', ['peer'], (m, ps) => {
    for (const p of ps) m.inc({ peer: p.peer }, p.failedFetchRounds);
  });

  registerCommonPointMetrics(registry, sources.watchedMerchants, sources.commonPoint);
  // WAL checkpoints and the scrub keep their own running totals, read at scrape time.
  const totalCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  totalCounter('mamori_wal_checkpoints_total', 'Periodic WAL checkpoints run (PASSIVE)', () => sources.walCheckpoints.stats.checkpoints.PASSIVE);
  totalCounter('mamori_wal_truncations_total', 'Periodic checkpoints that also truncated the WAL (it had grown past walTruncateAboveBytes)', () => sources.walCheckpoints.stats.checkpoints.TRUNCATE);
  totalCounter('mamori_wal_checkpoint_pages_total', 'WAL pages copied into the database file by the periodic checkpoints', () => sources.walCheckpoints.stats.pagesCheckpointed);
  totalCounter('mamori_wal_checkpoint_busy_total', 'Periodic checkpoints that a reader kept from copying the whole WAL', () => sources.walCheckpoints.stats.busy);
  new Gauge({
    name: 'mamori_wal_checkpoint_last_duration_seconds',
    help: 'Duration of the last periodic WAL checkpoint',
    registers: [registry],
    collect() {
      this.set(sources.walCheckpoints.stats.lastDurationMs / 1000);
    },
  });
  totalCounter('mamori_scrub_passes_total', 'Completed scrub passes over every stored entry', () => sources.scrub.stats.passes);
  totalCounter('mamori_scrub_entries_verified_total', 'Stored entries re-verified by the scrub', () => sources.scrub.stats.entriesVerified);
  totalCounter('mamori_scrub_damaged_total', 'Stored entries the scrub found damaged (each counted once until repaired)', () => sources.scrub.stats.damaged);
  totalCounter('mamori_scrub_repaired_total', 'Damaged stored entries replaced with a verified copy', () => sources.scrub.stats.repaired);
  totalCounter('mamori_stalled_streams_reset_total', 'Server streams reset because their client stopped reading for limits.streamStallMs', () => sources.events.totals.streamResets);
  new Counter({
    name: 'mamori_consortium_documents_total',
    help: 'Consortium documents handed to this node (its file, peers, the operator) since start, by result: taken, already_in_force, or why refused',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [result, n] of Object.entries(sources.consortium.counts)) this.inc({ result }, n);
    },
  });
  new Gauge({
    name: 'mamori_consortium_version',
    help: 'Version of the consortium document in force at this node',
    registers: [registry],
    collect() {
      this.set(sources.consortium.version());
    },
  });
  const certificate = sources.certificate;
  if (certificate) {
    new Gauge({
      name: 'mamori_certificate_not_after_seconds',
      help: "When this node's member certificate expires (seconds since the epoch)",
      registers: [registry],
      collect() {
        this.set(certificate.status().notAfterMs / 1000);
      },
    });
    new Gauge({
      name: 'mamori_certificate_expiring',
      help: "1 from 30 days before this node's member certificate expires (and once expired), else 0",
      registers: [registry],
      collect() {
        this.set(certificate.status().state === 'valid' ? 0 : 1);
      },
    });
  }
  totalCounter('mamori_scrub_quick_check_failures_total', 'Scrub passes whose SQLite quick_check reported damage', () => sources.scrub.stats.quickCheckFailures);
  gauge('mamori_damaged_entries', 'Stored entries marked damaged and not yet repaired', (s) => s.status.damagedEntries);
  // Derived state (integrity/derived-state.ts): rows a check reads and the filter snapshot, against the signed entries.
  gauge('mamori_derived_state_damaged', 'Entries whose derived rows were found to differ from the signed entry since start', (s) => s.status.derivedState.damaged);
  gauge('mamori_derived_state_repaired', 'Entries whose derived rows were rebuilt from the signed entry since start', (s) => s.status.derivedState.repaired);
  gauge('mamori_derived_state_unrepaired', 'Entries whose derived rows differ from the signed entry and are not repaired yet', (s) => s.status.derivedState.unrepaired);
  gauge('mamori_filter_snapshots_rejected', 'Filter snapshots rejected since start because their MAC did not verify', (s) => s.status.derivedState.snapshotsRejected);

  // Threshold-PRF evaluation: 0 when the consortium file in force has no oprf section.
  const oprf = (): OprfCounts | undefined => sources.oprf?.();
  new Gauge({
    name: 'mamori_oprf_evaluator_ready',
    help: 'Whether this node evaluates the threshold PRF under the dealing in force (1), or not (0: no dealing, not an evaluator, or its seeds refused)',
    registers: [registry],
    collect() {
      this.set(oprf()?.evaluatorReady ? 1 : 0);
    },
  });
  totalCounter('mamori_oprf_evaluated_total', 'Blinded card numbers this node evaluated as an evaluator, for every requesting member', () => oprf()?.evaluated ?? 0);
  new Counter({
    name: 'mamori_oprf_refused_total',
    help: 'Evaluation requests this evaluator refused, by reason (budget: RESOURCE_EXHAUSTED past a budget; invalid: INVALID_ARGUMENT)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const o = oprf();
      this.inc({ reason: 'budget' }, o?.refusedBudget ?? 0);
      this.inc({ reason: 'invalid' }, o?.refusedInvalid ?? 0);
    },
  });
  totalCounter('mamori_oprf_forwarded_total', 'EvaluatePanSelectors calls of this member\'s clients forwarded to the evaluators', () => oprf()?.forwarded ?? 0);
  totalCounter('mamori_oprf_forwarded_unavailable_total', 'Forwarded EvaluatePanSelectors calls that fewer than t evaluators answered', () => oprf()?.forwardedUnavailable ?? 0);

  return { registry, scrape, close: unsubscribe };
}
