// The evaluation budgets of the consortium file's oprf section, enforced by each evaluator per
// requesting member (docs/oprf.md, "Budgets"):
//   perMemberBinHour        evaluations per (member, BIN) per hour bucket, BINs outside its binRanges
//   perMemberDay            evaluations per member per UTC day, BINs outside its binRanges
//   issuerPerMemberBinHour  the same per hour for a BIN inside the member's own binRanges (its own cards)
//   issuerPerMemberDay      the same per UTC day for its own BINs
// A request is counted whole or refused whole, before it is evaluated, so concurrent requests
// never overshoot; the counts are kept in SQLite (oprf_evaluations) and survive a restart.
import type { OprfBudgets } from '../config/schemas';
import { MamoriError } from '../ledger/errors';
import { type EvaluationCountStore, hourOf } from '../store/evaluation-count-store';
import { NextTurnWrite } from './next-turn';

export type BudgetName = keyof OprfBudgets;

/** A refusal: which budget, its limit, how much was used, and the BIN for the hourly ones. */
export class BudgetExceeded extends MamoriError {
  constructor(
    readonly budget: BudgetName,
    readonly limit: number,
    readonly used: number,
    readonly asked: number,
    readonly bin?: string,
  ) {
    const scope = budget.endsWith('Hour') ? `per (member, BIN) per hour` : 'per member per UTC day';
    const where = bin === undefined ? '' : ` for BIN ${bin}`;
    super('RESOURCE_EXHAUSTED', `evaluation budget ${budget} exhausted: limit ${limit} evaluations ${scope}; ${used} used${where}, this request asks ${asked}`);
  }
}

/** Keep this many hours of buckets (a day budget looks back at most 24). */
const KEEP_HOURS = 48;

/**
 * Counts are checked and updated in memory (loaded from SQLite at start), and written behind:
 * on the next turn of the event loop, every request counted meanwhile in one transaction. A
 * request then waits for no fsync, and the write itself commits without one
 * (EvaluationCountStore.transaction): a crash of the process keeps every count but those of
 * the last event-loop turn; a power loss may take those since the node's last fsync.
 */
export class EvaluationBudget {
  private hour = -1;
  /** member \0 bin \0 hour → count, for the hours of the current UTC day. */
  private readonly hourly = new Map<string, number>();
  /** member \0 day \0 own → count. */
  private readonly daily = new Map<string, number>();
  private pending: { member: string; hour: number; rows: { bin: string; own: boolean; count: number }[] }[] = [];
  private readonly nextTurn = new NextTurnWrite(() => this.flush());

  constructor(
    private readonly store: EvaluationCountStore,
    /** The budgets of the consortium file in force. */
    private readonly budgets: () => OprfBudgets,
    /** Whether a BIN is inside the member's binRanges in the consortium file in force. */
    private readonly isOwnBin: (member: string, bin: string) => boolean,
    private readonly clock: () => number = Date.now,
    private readonly onWriteError: (error: unknown) => void = () => undefined,
  ) {}

  /** Takes up the counts of the current day from the store; drops buckets older than KEEP_HOURS. */
  private roll(hour: number): void {
    if (hour === this.hour) return;
    const firstLoad = this.hour < 0;
    this.hour = hour;
    const dayStart = hour - (hour % 24);
    if (firstLoad) {
      this.flush();
      this.store.pruneBefore(hour - KEEP_HOURS);
      for (const r of this.store.all()) {
        if (r.hour < dayStart) continue;
        this.hourly.set(`${r.member}\0${r.bin}\0${r.hour}`, r.count);
        const day = `${r.member}\0${dayStart}\0${r.own ? 1 : 0}`;
        this.daily.set(day, (this.daily.get(day) ?? 0) + r.count);
      }
      return;
    }
    for (const key of this.hourly.keys()) if (Number(key.slice(key.lastIndexOf('\0') + 1)) < hour) this.hourly.delete(key);
    for (const key of this.daily.keys()) if (Number(key.split('\0')[1]) < dayStart) this.daily.delete(key);
    this.store.pruneBefore(hour - KEEP_HOURS);
  }

  /**
   * Checks every budget for a request of `member` over these BINs (one per item) and counts
   * it; throws BudgetExceeded, counting nothing, when any budget would be passed.
   */
  reserve(member: string, bins: readonly string[]): void {
    const hour = hourOf(this.clock());
    this.roll(hour);
    const dayStart = hour - (hour % 24);
    const limits = this.budgets();
    const perBin = new Map<string, number>();
    for (const bin of bins) perBin.set(bin, (perBin.get(bin) ?? 0) + 1);
    const rows: { bin: string; own: boolean; count: number }[] = [];
    let ownAsked = 0;
    let otherAsked = 0;
    for (const [bin, count] of perBin) {
      const own = this.isOwnBin(member, bin);
      const budget: BudgetName = own ? 'issuerPerMemberBinHour' : 'perMemberBinHour';
      const used = this.hourly.get(`${member}\0${bin}\0${hour}`) ?? 0;
      if (used + count > limits[budget]) throw new BudgetExceeded(budget, limits[budget], used, count, bin);
      if (own) ownAsked += count;
      else otherAsked += count;
      rows.push({ bin, own, count });
    }
    for (const [own, asked] of [
      [false, otherAsked],
      [true, ownAsked],
    ] as const) {
      if (asked === 0) continue;
      const budget: BudgetName = own ? 'issuerPerMemberDay' : 'perMemberDay';
      const used = this.daily.get(`${member}\0${dayStart}\0${own ? 1 : 0}`) ?? 0;
      if (used + asked > limits[budget]) throw new BudgetExceeded(budget, limits[budget], used, asked);
    }
    for (const r of rows) {
      const key = `${member}\0${r.bin}\0${hour}`;
      this.hourly.set(key, (this.hourly.get(key) ?? 0) + r.count);
      const day = `${member}\0${dayStart}\0${r.own ? 1 : 0}`;
      this.daily.set(day, (this.daily.get(day) ?? 0) + r.count);
    }
    this.pending.push({ member, hour, rows });
    this.nextTurn.request();
  }

  /** Writes the counts not yet written, in one transaction; on failure they stay queued for the next try. */
  flush(): void {
    this.nextTurn.cancel();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    try {
      this.store.transaction(() => {
        for (const p of batch) this.store.addMany(p.member, p.hour, p.rows);
      });
      this.pending = [];
    } catch (error) {
      this.onWriteError(error);
    }
  }
}

/** Whether a BIN lies inside one of a member's BIN ranges (a range is a BIN prefix of 6 to 8 digits). */
export function binInRanges(bin: string, ranges: readonly string[]): boolean {
  return ranges.some((range) => bin.startsWith(range));
}
