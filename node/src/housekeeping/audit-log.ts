// What the node records in its audit log (store/audit-store.ts), and when it writes it.
// Nothing here ever sees a card number, a key or a selector: callers pass counts, member
// ids, entry seqs and the first 8 hex digits of a client token's digest.
//
// Writes stay off the hot path: events are queued and written together on the next turn of
// the event loop (one transaction for a burst of publications); checks are only counted in
// memory, per caller, and written as one row per caller every flushIntervalMs and on close.
import type { Logger } from 'pino';
import type Database from 'better-sqlite3';
import { AuditStore } from '../store/audit-store';

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

/** The actor of a member-local call: the short form of its client token digest. */
export function callerActor(tokenDigest: string): string {
  return /^[0-9a-f]{8}/.test(tokenDigest) ? `client:${tokenDigest.slice(0, 8)}` : 'client:unknown';
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

  constructor(db: Database.Database, private readonly log: Logger, flushIntervalMs = 5_000) {
    this.store = new AuditStore(db);
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

  /** One Check call: counted in memory, written per caller at the next flush. */
  checked(caller: string, selectors: number, hits: number): void {
    if (this.closed) return;
    const actor = callerActor(caller);
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

  /** Prunes rows older than the retention now and then daily. */
  startRetention(retentionDays: number): void {
    const prune = () => {
      try {
        this.flush();
        const rows = this.store.prune(Date.now() - retentionDays * DAY_MS);
        if (rows > 0) {
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
    clearInterval(this.flushTimer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.flush();
    this.closed = true;
  }
}
