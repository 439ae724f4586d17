// One evaluation of oblivious PAN selectors (docs/oprf.md#the-client-sdk): blind the cards here,
// send the blinded elements and BINs to the member's own node (EvaluatePanSelectors), rebuild
// the evaluation plan from what came back (which evaluator answered which seed groups), check
// and combine the answers, unblind and finalize. The card numbers never leave this process.
//
// Elements that come back disputed or incomplete are asked again once, with verify (every seed
// group from two holders) and without the evaluators found faulty. What still fails, and an
// evaluation that fewer than t evaluators answered, is an SDK error: UNAVAILABLE (retryable,
// and a check answers it with the fail mode) or RESOURCE_EXHAUSTED when evaluators refused
// over a budget.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EvaluatePanSelectorsRequest } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsRequest';
import type { EvaluatePanSelectorsResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatorAnswer__Output } from '../../proto/gen/mamori/v1/EvaluatorAnswer';
import { oprfReady } from '../../proto/ts/oprf/group';
import {
  TPRF_MAX_BATCH,
  blindPan,
  combineAnswers,
  subsets,
  type BlindedPan,
  type ElementResult,
  type EvaluationPlan,
  type TprfDescription,
} from '../../proto/ts/oprf/threshold';
import { asClientError, MamoriClientError } from './errors';

/** Sends one EvaluatePanSelectors RPC; `deadline` is absolute (ms since the epoch). */
export type SendEvaluation = (request: EvaluatePanSelectorsRequest, deadline: number) => Promise<EvaluatePanSelectorsResponse__Output>;

/** The dealing in force, as the node states it. */
export interface SelectorParameters {
  setId: string;
  t: number;
  evaluators: string[];
  binDigits: 6 | 8;
  /** The public description the planner and the combiner need (no commitments: not checked here). */
  description: TprfDescription;
}

/** Per evaluator id, elements on which it answered wrongly (faulty) or was in an unresolvable conflict (disputed). */
export interface EvaluatorFaults {
  faulty: Record<string, number>;
  disputed: Record<string, number>;
}

export interface EvaluationStats extends EvaluatorFaults {
  /** EvaluatePanSelectors calls that carried cards (first tries and retries). */
  rounds: number;
  /** Cards sent, counting retries. */
  elements: number;
  /** Cards asked a second time with verify after a disputed or incomplete result. */
  retried: number;
  /** Cards for which no selector could be produced. */
  failed: number;
  /** Parameter fetches (empty requests). */
  parameterFetches: number;
}

/** What evaluate() gives per card: the 32-byte selector, or why there is none. */
export type SelectorOutcome = { selector: Buffer; setId: string } | { error: MamoriClientError };

/** Combining is CPU-bound (two scalar multiplications a card): this many cards, then the event loop gets a turn. */
const SLICE = 256;
/** Most faulty evaluators assumed at once (the verify plan's f). */
const MAX_FAULTY = 1;
/** The parameters are asked again in the background when older than this, so that a new dealing is noticed while every card is cached. */
export const PARAMETERS_REFRESH_MS = 60_000;

export class SelectorEvaluator {
  private params: SelectorParameters | undefined;
  private fetching: Promise<SelectorParameters> | undefined;
  private fetchedAt = 0;
  /** Some card of the last batch got no selector: logged when this changes, not per batch. */
  private failing = false;
  private readonly counts: EvaluationStats = { rounds: 0, elements: 0, retried: 0, failed: 0, parameterFetches: 0, faulty: {}, disputed: {} };

  constructor(
    private readonly send: SendEvaluation,
    private readonly settings: { verify: boolean; log: (message: string) => void; onSetChange: (setId: string) => void },
  ) {}

  get parameters(): SelectorParameters | undefined {
    return this.params;
  }

  stats(): EvaluationStats {
    return { ...this.counts, faulty: { ...this.counts.faulty }, disputed: { ...this.counts.disputed } };
  }

  /** The dealing's parameters, from one empty request (shared by concurrent callers), or the ones held. */
  loadParameters(deadline: number, refresh = false): Promise<SelectorParameters> {
    if (this.params && !refresh) return Promise.resolve(this.params);
    this.fetching ??= (async () => {
      try {
        await oprfReady();
        this.counts.parameterFetches++;
        const params = this.adopt(await this.send({ items: [] }, deadline));
        this.fetchedAt = Date.now();
        return params;
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }

  /** Starts a background parameter fetch when the ones held are old (a new dealing empties the cache). */
  refreshIfOld(deadline: number): void {
    if (this.params && !this.fetching && Date.now() - this.fetchedAt > PARAMETERS_REFRESH_MS) this.loadParameters(deadline, true).catch(() => undefined);
  }

  /** Selectors for normalized card numbers (at most TPRF_MAX_BATCH), one outcome per card. */
  async evaluate(digits: readonly string[], deadline: number): Promise<SelectorOutcome[]> {
    if (digits.length === 0) return [];
    if (digits.length > TPRF_MAX_BATCH) throw new MamoriClientError('INVALID_ARGUMENT', `pans: at most ${TPRF_MAX_BATCH} cards per evaluation`);
    let params = await this.loadParameters(deadline);
    let batch = await blindAll(digits, params.binDigits);
    let first: RoundResult;
    try {
      first = await this.round(batch, { verify: this.settings.verify, exclude: [] }, deadline);
    } catch (error) {
      // The node refused the request as such: perhaps the dealing (or the BIN length) changed.
      // Ask for the parameters again and, if they did change, evaluate once more under them.
      const e = asClientError(error);
      if (e.code !== 'FAILED_PRECONDITION' && e.code !== 'INVALID_ARGUMENT') throw e;
      const before = params;
      params = await this.loadParameters(deadline, true);
      if (sameParameters(before, params)) throw e;
      if (params.binDigits !== before.binDigits) batch = await blindAll(digits, params.binDigits);
      first = await this.round(batch, { verify: this.settings.verify, exclude: [] }, deadline);
    }
    if (first.binDigits !== batch[0]?.bin.length) {
      // The answers came under a dealing with another BIN length: blinded under the wrong public input.
      batch = await blindAll(digits, first.binDigits);
      first = await this.round(batch, { verify: this.settings.verify, exclude: [] }, deadline);
    }
    const outcomes: SelectorOutcome[] = new Array(digits.length);
    const again: number[] = [];
    const faulty = new Set<string>();
    first.results.forEach((r, i) => {
      if (r.status === 'ok') outcomes[i] = { selector: Buffer.from(r.selector), setId: first.setId };
      else again.push(i);
      for (const id of r.faulty) faulty.add(id);
    });
    if (again.length === 0) {
      this.recovered();
      return outcomes;
    }

    // Once more for the disputed and incomplete: every group from two holders, faulty evaluators left out.
    this.counts.retried += again.length;
    const retry = again.map((i) => batch[i] as BlindedPan);
    let second: RoundResult | undefined;
    let failure: MamoriClientError | undefined;
    try {
      second = await this.round(retry, { verify: true, exclude: [...faulty].sort() }, deadline);
      if (second.setId !== first.setId) second = undefined; // a new dealing meanwhile: not comparable; fail these
    } catch (error) {
      failure = asClientError(error);
    }
    again.forEach((i, j) => {
      const r = second?.results[j];
      if (r?.status === 'ok') {
        outcomes[i] = { selector: Buffer.from(r.selector), setId: first.setId };
        return;
      }
      this.counts.failed++;
      outcomes[i] = { error: failure ?? unresolved(first.results[i] as ElementResult, r) };
    });
    const failed = again.filter((i) => 'error' in (outcomes[i] as SelectorOutcome));
    if (failed.length === 0) this.recovered();
    else if (!this.failing) {
      this.failing = true;
      const reason = (outcomes[failed[0] as number] as { error: MamoriClientError }).error.message;
      this.settings.log(`PAN selector evaluation: ${again.length} card(s) disputed or incomplete, asked again with verify; ${failed.length} still without a selector (${reason}); logged again when every card is answered`);
    }
    return outcomes;
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.settings.log('PAN selector evaluation: every card answered again');
  }

  /** One EvaluatePanSelectors call and the combination of its answers. */
  private async round(batch: readonly BlindedPan[], how: { verify: boolean; exclude: string[] }, deadline: number): Promise<RoundResult> {
    this.counts.rounds++;
    this.counts.elements += batch.length;
    const request: EvaluatePanSelectorsRequest = { items: batch.map((b) => ({ bin: b.bin, blinded: b.blindedElement })), verify: how.verify, exclude: how.exclude };
    const response = await this.send(request, deadline);
    const params = this.adopt(response);
    const { plan, answers } = planFromAnswers(params.description, response.answers, batch.length);
    const results: ElementResult[] = [];
    for (let start = 0; start < batch.length; start += SLICE) {
      if (start > 0) await nextTurn();
      const end = Math.min(batch.length, start + SLICE);
      const slice = new Map([...answers].map(([id, rows]) => [id, rows.length === batch.length ? rows.slice(start, end) : rows]));
      const combined = combineAnswers(plan, batch.slice(start, end), slice);
      results.push(...combined.results);
      for (const [id, n] of combined.faultyCounts) this.counts.faulty[id] = (this.counts.faulty[id] ?? 0) + n;
      for (const [id, n] of combined.disputedCounts) this.counts.disputed[id] = (this.counts.disputed[id] ?? 0) + n;
    }
    return { results, setId: params.setId, binDigits: params.binDigits };
  }

  /** Takes the parameters a response states; a new dealing is announced (the cache drops the old one's selectors). */
  private adopt(response: EvaluatePanSelectorsResponse__Output): SelectorParameters {
    const next = parametersOf(response);
    if (this.params && sameParameters(this.params, next)) return this.params;
    const changed = this.params !== undefined && this.params.setId !== next.setId;
    if (changed) this.settings.log(`PAN selectors: the consortium's dealing changed (${this.params?.setId} → ${next.setId}); cached selectors of the old one are dropped`);
    this.params = next;
    this.settings.onSetChange(next.setId);
    return next;
  }
}

interface RoundResult {
  results: ElementResult[];
  setId: string;
  binDigits: 6 | 8;
}

function sameParameters(a: SelectorParameters, b: SelectorParameters): boolean {
  return a.setId === b.setId && a.t === b.t && a.binDigits === b.binDigits && a.evaluators.join('\n') === b.evaluators.join('\n');
}

/** Blinds every card under its BIN (its first binDigits digits), yielding to the event loop between slices. */
async function blindAll(digits: readonly string[], binDigits: 6 | 8): Promise<BlindedPan[]> {
  await oprfReady();
  const out: BlindedPan[] = [];
  for (let start = 0; start < digits.length; start += SLICE) {
    if (start > 0) await nextTurn();
    for (let i = start; i < Math.min(digits.length, start + SLICE); i++) {
      const pan = digits[i] as string;
      out.push(blindPan(pan, pan.slice(0, binDigits)));
    }
  }
  return out;
}

/** The parameters of a response, checked: a node that states nonsense is an INTERNAL error, not a crash. */
export function parametersOf(response: EvaluatePanSelectorsResponse__Output): SelectorParameters {
  const bad = (problem: string) => new MamoriClientError('INTERNAL', `the node's EvaluatePanSelectors answer ${problem}`);
  const { setId, threshold: t, evaluators, binDigits } = response;
  if (typeof setId !== 'string' || setId === '') throw bad('names no set_id');
  if (!Array.isArray(evaluators) || evaluators.length < 2 || evaluators.length > 16 || new Set(evaluators).size !== evaluators.length || evaluators.some((e) => e === '')) {
    throw bad('lists no valid evaluators (2 to 16 distinct ids)');
  }
  if (!Number.isInteger(t) || t < 2 || t > evaluators.length) throw bad(`states threshold ${t} for ${evaluators.length} evaluators`);
  if (binDigits !== 6 && binDigits !== 8) throw bad(`states bin_digits ${binDigits}; expected 6 or 8`);
  const n = evaluators.length;
  const description: TprfDescription = {
    version: 1,
    setId,
    n,
    t,
    evaluators: [...evaluators],
    seeds: subsets(n, t - 1).map((excluded) => ({
      label: excluded.join('.'),
      excluded,
      holders: Array.from({ length: n }, (_, i) => i + 1).filter((i) => !excluded.includes(i)),
      commitment: '',
    })),
  };
  return { setId, t, evaluators: [...evaluators], binDigits, description };
}

/**
 * The plan the node followed, rebuilt from its answers: each distinct seed group with the
 * evaluators that answered it, and each evaluator's elements as [card][group]. Answers naming
 * an unknown evaluator or a seed that evaluator does not hold are left out; an answer of the
 * wrong size stays in (empty), so that the combiner names its evaluator faulty. When the
 * answers left do not cover every seed, fewer than t evaluators answered: UNAVAILABLE, or
 * RESOURCE_EXHAUSTED when evaluators refused over a budget.
 */
export function planFromAnswers(
  d: TprfDescription,
  raw: readonly EvaluatorAnswer__Output[],
  items: number,
): { plan: EvaluationPlan; answers: Map<string, Uint8Array[][]> } {
  const refused: EvaluatorAnswer__Output[] = [];
  const groups: { labels: string[]; askedFrom: string[] }[] = [];
  const groupOf = new Map<string, number>();
  const requests = new Map<string, string[][]>();
  const groupIndexes = new Map<string, number[]>();
  const answers = new Map<string, Uint8Array[][]>();
  for (const a of raw) {
    if (a.errorCode) {
      refused.push(a);
      continue;
    }
    const index = d.evaluators.indexOf(a.evaluator) + 1;
    if (index === 0 || answers.has(a.evaluator) || a.groups.length === 0) continue;
    const labelSets = a.groups.map((g) => [...g.labels].sort());
    const holds = labelSets.every((labels) => labels.length > 0 && labels.every((l) => d.seeds.some((s) => s.label === l && s.holders.includes(index))));
    if (!holds || new Set(labelSets.flat()).size !== labelSets.flat().length) continue;
    const indexes = labelSets.map((labels) => {
      const key = labels.join(',');
      let g = groupOf.get(key);
      if (g === undefined) {
        g = groups.length;
        groups.push({ labels, askedFrom: [] });
        groupOf.set(key, g);
      }
      groups[g]?.askedFrom.push(a.evaluator);
      return g;
    });
    requests.set(a.evaluator, labelSets);
    groupIndexes.set(a.evaluator, indexes);
    const width = labelSets.length * 32;
    const elements = a.elements ?? Buffer.alloc(0);
    const rows: Uint8Array[][] = [];
    if (elements.length === items * width) {
      for (let e = 0; e < items; e++) rows.push(labelSets.map((_, g) => elements.subarray(e * width + g * 32, e * width + (g + 1) * 32)));
    }
    answers.set(a.evaluator, rows);
  }
  // The groups must partition the seeds: overlapping groups are not a plan of this protocol.
  const seen = new Map<string, number>();
  groups.forEach((g, i) => {
    for (const l of g.labels) {
      if (seen.has(l) && seen.get(l) !== i) throw new MamoriClientError('INTERNAL', `the evaluators' seed groups overlap on seed ${l}: not a plan the client can combine`);
      seen.set(l, i);
    }
  });
  const uncovered = d.seeds.filter((s) => !seen.has(s.label)).map((s) => s.label);
  if (uncovered.length > 0) {
    const answered = [...answers.keys()];
    const why = refused.map((a) => `${a.evaluator}: ${a.errorCode}${a.errorMessage ? ` (${a.errorMessage})` : ''}`).join('; ');
    const budget = refused.some((a) => a.errorCode === 'RESOURCE_EXHAUSTED');
    throw new MamoriClientError(
      budget ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE',
      `PAN selectors need answers from ${d.t} of ${d.n} evaluators; ${answered.length} answered${answered.length ? ` (${answered.join(', ')})` : ''}, seeds ${uncovered.join(', ')} uncovered${why ? `; ${why}` : ''}`,
    );
  }
  const plan: EvaluationPlan = {
    groups,
    requests,
    groupIndexes,
    verifiable: groups.every((g) => g.askedFrom.length >= MAX_FAULTY + 1),
    maxFaulty: MAX_FAULTY,
    evaluatorMults: groups.reduce((sum, g) => sum + g.askedFrom.length, 0),
  };
  return { plan, answers };
}

/** The error of a card still without a selector after the retry. */
function unresolved(first: ElementResult, second: ElementResult | undefined): MamoriClientError {
  const last = second ?? first;
  const names = (ids: readonly string[]) => (ids.length ? ids.join(', ') : 'none identified');
  const detail =
    last.status === 'disputed'
      ? `the evaluators' answers conflict (disputed: ${names(last.disputed)}; faulty: ${names(last.faulty)})`
      : `too few correct answers are left (faulty: ${names(last.faulty)})`;
  // Disputed evaluators count as unreachable for this card: fewer than t evaluators, as for a timeout.
  return new MamoriClientError('UNAVAILABLE', `no PAN selector after a verified retry: ${detail}`);
}
