// What the node records in its audit log (store/audit-store.ts), and when it writes it.
// Nothing here ever sees a card number, a key or a selector: callers pass counts, member
// ids, entry seqs and a client token's name (or the first 8 hex digits of its digest).
//
// At start (checkAtStart) the anchor is signed if the schema just gained signatures, then the
// chain is checked quickly (anchor signature and dates, no id missing, first and last rows);
// the whole chain is then re-computed in the background, a page per turn of the event loop.
// A broken chain is logged, recorded, and shown in status and metrics (chainStatus).
//
// Writes stay off the hot path: events are queued and written together on the next turn of
// the event loop (one transaction for a burst of publications); checks are only counted in
// memory, per caller, and written as one row per caller every flushIntervalMs and on close.
import type { Logger } from 'pino';
import type Database from 'better-sqlite3';
import { AuditStore, type AuditSigner, type AuditVerdict } from '../store/audit-store';
import { schemaVersionAtOpen, SIGNED_AUDIT_ANCHOR_VERSION } from '../store/migrations';

const DAY_MS = 24 * 60 * 60_000;
/** Bounded memory if the database refuses writes (disk full): older queued rows are dropped and counted. */
const MAX_QUEUED = 10_000;

interface Queued {
  atMs: number;
  actor: string;
  action: string;
  details: object;
}

interface CheckCounts {
  calls: number;
  selectors: number;
  hits: number;
  sinceMs: number;
}

/** The audit chain as this node last verified it (status and metrics). */
export interface AuditChainStatus {
  /** "verifying" (the quick check passed, the full pass is running), "ok" or "broken". */
  state: 'verifying' | 'ok' | 'broken';
  entries: number;
  firstBadId: number;
  reason: string;
  verifiedAtMs: number;
}

export class AuditLog {
  readonly store: AuditStore;
  private queue: Queued[] = [];
  private dropped = 0;
  private scheduled: NodeJS.Immediate | undefined;
  private readonly checks = new Map<string, CheckCounts>();
  private readonly flushTimer: NodeJS.Timeout;
  private retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private chain: AuditChainStatus = { state: 'verifying', entries: 0, firstBadId: 0, reason: '', verifiedAtMs: 0 };
  private background: NodeJS.Immediate | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly log: Logger,
    signer: AuditSigner,
    flushIntervalMs = 5_000,
  ) {
    this.store = new AuditStore(db, signer);
    this.flushTimer = setInterval(() => this.flush(), flushIntervalMs);
    this.flushTimer.unref();
  }

  /** Queues one event; written on the next turn of the event loop. */
  record(actor: string, action: string, details: object = {}): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push({ atMs: Date.now(), actor, action, details });
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.flush();
    });
  }

  /** One Check call (the caller's actor name): counted in memory, written per caller at the next flush. */
  checked(actor: string, selectors: number, hits: number): void {
    if (this.closed) return;
    const c = this.checks.get(actor);
    if (c) {
      c.calls++;
      c.selectors += selectors;
      c.hits += hits;
    } else {
      this.checks.set(actor, { calls: 1, selectors, hits, sinceMs: Date.now() });
    }
  }

  /** Writes everything queued and the check counts; errors are logged, rows kept for the next try. */
  flush(): void {
    const now = Date.now();
    const rows = this.queue;
    for (const [actor, c] of this.checks) {
      rows.push({ atMs: now, actor, action: 'check', details: { calls: c.calls, selectors: c.selectors, hits: c.hits, sinceMs: c.sinceMs } });
    }
    if (this.dropped > 0) rows.push({ atMs: now, actor: 'node', action: 'audit.dropped', details: { rows: this.dropped } });
    if (rows.length === 0) return;
    try {
      this.store.appendMany(rows);
      this.queue = [];
      this.checks.clear();
      this.dropped = 0;
    } catch (error) {
      // Check rows go back into the queue as rows; the counters start again.
      this.queue = rows.filter((r) => r.action !== 'audit.dropped').slice(-MAX_QUEUED);
      this.checks.clear();
      this.log.error({ err: error, queued: this.queue.length }, 'audit log write failed; will retry');
    }
  }

  /** The chain as last verified. */
  chainStatus(): AuditChainStatus {
    return { ...this.chain };
  }

  private broken(verdict: Extract<AuditVerdict, { ok: false }>, when: string): void {
    const first = this.chain.state !== 'broken';
    this.chain = { state: 'broken', entries: 0, firstBadId: verdict.firstBadId, reason: verdict.reason, verifiedAtMs: Date.now() };
    if (!first) return;
    this.log.error({ firstBadId: verdict.firstBadId, reason: verdict.reason, when }, 'the audit log is BROKEN: rows were altered, removed or cut from the front (mamori audit verify)');
    this.record('node', 'audit.broken', { firstBadId: verdict.firstBadId, reason: verdict.reason });
  }

  /**
   * At start: signs the anchor of a new database (or of one this start upgraded), then checks
   * the chain quickly and starts the full pass in the background. Never throws: a broken log
   * is reported, the node runs on.
   */
  checkAtStart(): AuditChainStatus {
    try {
      const adoptionAllowed = schemaVersionAtOpen(this.db) < SIGNED_AUDIT_ANCHOR_VERSION;
      const adopted = this.store.signUnsignedAnchor(adoptionAllowed);
      if ('refused' in adopted) this.log.error({ reason: adopted.refused }, 'the unsigned audit anchor was not signed');
      if (adopted.signed && adopted.legacy) {
        this.log.warn({ lastId: adopted.lastId }, 'audit log anchor signed for the first time (database upgraded)');
        this.record('node', 'audit.anchor-adopted', { lastId: adopted.lastId });
      }
      const quick = this.store.quickVerify();
      if (!quick.ok) {
        this.broken(quick, 'start');
        return this.chainStatus();
      }
      this.chain = { state: 'verifying', entries: quick.entries, firstBadId: 0, reason: '', verifiedAtMs: Date.now() };
      this.verifyInBackground();
    } catch (error) {
      this.broken({ ok: false, firstBadId: 0, reason: `cannot be read: ${error instanceof Error ? error.message : String(error)}` }, 'start');
    }
    return this.chainStatus();
  }

  /** The full chain, a page per turn of the event loop; rows appended meanwhile are verified too. */
  private verifyInBackground(): void {
    if (this.background) clearImmediate(this.background);
    const steps = this.store.verifySteps();
    const step = () => {
      this.background = undefined;
      if (this.closed) return;
      try {
        const next = steps.next();
        if (!next.done) {
          this.background = setImmediate(step);
          return;
        }
        if (next.value.ok) {
          if (this.chain.state !== 'broken') this.chain = { state: 'ok', entries: next.value.entries, firstBadId: 0, reason: '', verifiedAtMs: Date.now() };
        } else this.broken(next.value, 'background verification');
      } catch (error) {
        this.log.error({ err: error }, 'audit log verification failed');
      }
    };
    this.background = setImmediate(step);
  }

  /** Prunes rows older than the retention now and then daily; never over a broken chain. */
  startRetention(retentionDays: number): void {
    const prune = () => {
      try {
        this.flush();
        if (this.chain.state === 'broken') {
          this.log.warn('audit log not pruned: the chain is broken');
          return;
        }
        const rows = this.store.prune();
        if (rows > 0) {
          // A pass under way started from the old anchor: start it again from the new one.
          if (this.chain.state === 'verifying') this.verifyInBackground();
          this.record('node', 'audit.pruned', { rows, retentionDays });
          this.log.info({ rows, retentionDays }, 'audit log pruned');
        }
      } catch (error) {
        this.log.error({ err: error }, 'audit log prune failed');
      }
    };
    prune();
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = setInterval(prune, DAY_MS);
    this.retentionTimer.unref();
  }

  /** Writes what is pending; nothing is recorded after this. */
  close(): void {
    if (this.closed) return;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.background) clearImmediate(this.background);
    this.background = undefined;
    clearInterval(this.flushTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.flush();
    this.closed = true;
  }
}
