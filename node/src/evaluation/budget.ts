// The evaluation budgets of the consortium file's oprf section, enforced by each evaluator per
// requesting member (docs/oprf.md, "Budgets"):
//   perMemberBinHour        evaluations per (member, BIN) per hour bucket, BINs outside its binRanges
//   perMemberDay            evaluations per member per UTC day, BINs outside its binRanges
//   issuerPerMemberBinHour  the same per hour for a BIN inside the member's own binRanges (its own cards)
//   issuerPerMemberDay      the same per UTC day for its own BINs
// A request is counted whole or refused whole: the check and the count are one SQLite
// transaction, so concurrent requests never overshoot and the counts survive a restart.
import type { OprfBudgets } from '../config/schemas';
import { MamoriError } from '../ledger/errors';
import { type EvaluationCountStore, hourOf } from '../store/evaluation-count-store';

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

export class EvaluationBudget {
  private prunedHour = -1;

  constructor(
    private readonly store: EvaluationCountStore,
    /** The budgets of the consortium file in force. */
    private readonly budgets: () => OprfBudgets,
    /** Whether a BIN is inside the member's binRanges in the consortium file in force. */
    private readonly isOwnBin: (member: string, bin: string) => boolean,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Checks every budget for a request of `member` over these BINs (one per item) and counts
   * it; throws BudgetExceeded, counting nothing, when any budget would be passed.
   */
  reserve(member: string, bins: readonly string[]): void {
    const now = this.clock();
    const hour = hourOf(now);
    const dayStart = hour - (hour % 24);
    const limits = this.budgets();
    const perBin = new Map<string, number>();
    for (const bin of bins) perBin.set(bin, (perBin.get(bin) ?? 0) + 1);
    this.store.transaction(() => {
      const rows: { bin: string; own: boolean; count: number }[] = [];
      let ownAsked = 0;
      let otherAsked = 0;
      for (const [bin, count] of perBin) {
        const own = this.isOwnBin(member, bin);
        const budget: BudgetName = own ? 'issuerPerMemberBinHour' : 'perMemberBinHour';
        const used = this.store.hourCount(member, bin, hour);
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
        const used = this.store.rangeCount(member, dayStart, dayStart + 24, own);
        if (used + asked > limits[budget]) throw new BudgetExceeded(budget, limits[budget], used, asked);
      }
      this.store.addMany(member, hour, rows);
    });
    if (hour !== this.prunedHour) {
      this.prunedHour = hour;
      this.store.pruneBefore(hour - KEEP_HOURS);
    }
  }
}

/** Whether a BIN lies inside one of a member's BIN ranges (a range is a BIN prefix of 6 to 8 digits). */
export function binInRanges(bin: string, ranges: readonly string[]): boolean {
  return ranges.some((range) => bin.startsWith(range));
}
