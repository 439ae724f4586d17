// Threshold-PRF evaluations this node answered, per (requesting member, BIN, hour bucket): what
// the budgets of the consortium file are checked against (evaluation/budget.ts). Counts, member
// ids and BINs only; never a blinded element.
import type Database from 'better-sqlite3';
import { commitWithoutFsync } from './database';

export const HOUR_MS = 3_600_000;

/** The hour bucket of a time: whole hours since the epoch (UTC). */
export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

export interface EvaluationCountRow {
  member: string;
  bin: string;
  hour: number;
  own: boolean;
  count: number;
}

export class EvaluationCountStore {
  private readonly statements;
  readonly addMany: (member: string, hour: number, rows: readonly { bin: string; own: boolean; count: number }[]) => void;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      hourCount: db.prepare('SELECT count FROM oprf_evaluations WHERE member = ? AND bin = ? AND hour = ?').pluck(),
      rangeCount: db.prepare('SELECT COALESCE(SUM(count), 0) FROM oprf_evaluations WHERE member = ? AND hour >= ? AND hour < ? AND own = ?').pluck(),
      add: db.prepare(
        `INSERT INTO oprf_evaluations (member, bin, hour, own, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (member, bin, hour) DO UPDATE SET count = count + excluded.count`,
      ),
      prune: db.prepare('DELETE FROM oprf_evaluations WHERE hour < ?'),
      all: db.prepare('SELECT member, bin, hour, own, count FROM oprf_evaluations ORDER BY member, bin, hour'),
    };
    this.addMany = db.transaction((member: string, hour: number, rows: readonly { bin: string; own: boolean; count: number }[]) => {
      for (const r of rows) this.statements.add.run(member, r.bin, hour, r.own ? 1 : 0, r.count);
    });
  }

  /** Evaluations of one member for one BIN in one hour bucket. */
  hourCount(member: string, bin: string, hour: number): number {
    return (this.statements.hourCount.get(member, bin, hour) as number | undefined) ?? 0;
  }

  /** Evaluations of one member in hour buckets [fromHour, toHour), own BINs or the others. */
  rangeCount(member: string, fromHour: number, toHour: number, own: boolean): number {
    return this.statements.rangeCount.get(member, fromHour, toHour, own ? 1 : 0) as number;
  }

  /** Runs fn in one transaction (the counts of several requests written together), without an fsync. */
  transaction<T>(fn: () => T): T {
    return commitWithoutFsync(this.db, fn);
  }

  /** Drops buckets before an hour; returns the rows deleted. */
  pruneBefore(hour: number): number {
    return this.statements.prune.run(hour).changes;
  }

  all(): EvaluationCountRow[] {
    return (this.statements.all.all() as { member: string; bin: string; hour: number; own: number; count: number }[]).map((r) => ({ ...r, own: r.own === 1 }));
  }
}
