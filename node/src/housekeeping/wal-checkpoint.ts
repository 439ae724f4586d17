// Periodic WAL checkpoints on the node's one connection. better-sqlite3 runs every
// transaction synchronously and the writer commits a whole group inside one call
// (ledger-writer.ts flush), so a timer callback always runs between commits, never inside
// one; db.inTransaction guards the case anyway. PASSIVE never waits for anyone. Past a size
// limit the WAL is truncated instead, with the busy timeout at 0 for that one call: a
// TRUNCATE that finds a reader open degrades to a passive checkpoint rather than stalling
// checks for the busy timeout.
import * as fs from 'node:fs';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';

export interface WalCheckpointOptions {
  intervalMs: number;
  /** A WAL file larger than this is truncated by the next checkpoint, when no read is open. */
  truncateAboveBytes: number;
  /** True while a long read is open on another connection (a truncation would only wait for it). */
  longReadOpen?: () => boolean;
}

export interface WalCheckpointStats {
  checkpoints: { PASSIVE: number; TRUNCATE: number };
  /** WAL frames (pages) copied into the database file. */
  pagesCheckpointed: number;
  /** Checkpoints that could not finish because a reader held part of the WAL. */
  busy: number;
  lastDurationMs: number;
}

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

export class WalCheckpointer {
  readonly stats: WalCheckpointStats = { checkpoints: { PASSIVE: 0, TRUNCATE: 0 }, pagesCheckpointed: 0, busy: 0, lastDurationMs: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly walFile: string,
    private readonly options: WalCheckpointOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.runSafely(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private runSafely(): void {
    try {
      this.checkpoint();
    } catch (error) {
      this.log.warn({ err: error }, 'WAL checkpoint failed');
    }
  }

  /**
   * One checkpoint now: PASSIVE, then TRUNCATE when the WAL has grown past the limit and the
   * passive pass copied every frame (nobody reads an older snapshot). Undefined when the
   * connection is closed or inside a transaction.
   */
  checkpoint(): { mode: 'PASSIVE' | 'TRUNCATE'; walFrames: number; checkpointed: number; busy: boolean } | undefined {
    if (!this.db.open || this.db.inTransaction) return undefined;
    const walBytes = fileSize(this.walFile);
    const started = process.hrtime.bigint();
    const passive = (this.db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[])[0] as CheckpointRow;
    this.stats.checkpoints.PASSIVE++;
    // -1 when the database is not in WAL mode.
    this.stats.pagesCheckpointed += Math.max(0, passive.checkpointed);
    let mode: 'PASSIVE' | 'TRUNCATE' = 'PASSIVE';
    let busy = passive.busy === 1 || passive.checkpointed < passive.log;
    if (!busy && walBytes > this.options.truncateAboveBytes && !this.options.longReadOpen?.()) {
      const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
      this.db.pragma('busy_timeout = 0');
      try {
        const truncate = (this.db.pragma('wal_checkpoint(TRUNCATE)') as CheckpointRow[])[0] as CheckpointRow;
        busy = truncate.busy === 1;
      } finally {
        this.db.pragma(`busy_timeout = ${busyTimeout}`);
      }
      if (!busy) {
        mode = 'TRUNCATE';
        this.stats.checkpoints.TRUNCATE++;
      }
    }
    if (busy) this.stats.busy++;
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    this.stats.lastDurationMs = durationMs;
    this.log.debug({ mode, walBytes, walFrames: passive.log, checkpointed: passive.checkpointed, busy, durationMs }, 'WAL checkpoint');
    return { mode, walFrames: passive.log, checkpointed: passive.checkpointed, busy };
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
