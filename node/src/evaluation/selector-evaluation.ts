// The member-local side of EvaluatePanSelectors (docs/oprf.md): a client of this member sends
// blinded PANs; this node plans which evaluator answers which seed groups (planEvaluation), asks
// each of them — itself without a network call when it is an evaluator, the others over the
// peer connections — and hands every answer back. The client checks, combines and unblinds.
// The node sees blinded elements and BINs only, and logs counts only.
import type { Logger } from 'pino';
import { planEvaluation, TPRF_MAX_BATCH, type EvaluationPlan } from '../../../proto/ts/oprf/threshold';
import { type ErrorCode, MamoriError } from '../ledger/errors';
import type { EvaluateItem, EvaluateRequest, EvaluatorService } from './evaluator-service';
import { validateItems } from './evaluator-service';
import type { PublishedCountRow } from '../store/oprf-count-store';

/** How this node calls one evaluator's peer Evaluate RPC (rpc/evaluator-link.ts). Rejects with a MamoriError. */
export interface EvaluatorLink {
  evaluate(request: EvaluateRequest, deadlineMs: number): Promise<Buffer>;
  close(): void;
}

export interface EvaluatorAnswerResult {
  evaluator: string;
  /** The seed groups asked of it (labels), in the order of its elements. */
  groups: string[][];
  /** items × groups × 32 bytes, item-major; absent when it did not answer. */
  elements?: Buffer;
  errorCode?: string;
  errorMessage?: string;
}

export interface SelectorsResult {
  setId: string;
  threshold: number;
  evaluators: string[];
  binDigits: number;
  answers: EvaluatorAnswerResult[];
}

export interface SelectorEvaluationDeps {
  member: string;
  evaluator: EvaluatorService;
  /** A link to a peer evaluator, or undefined when it is not reachable from here (not a member, no peer transport). */
  link(peer: string): EvaluatorLink | undefined;
  log: Logger;
  clock?: () => number;
  /** Every evaluator's published evaluation counts of recent buckets (store/oprf-count-store.ts), newest first. */
  publishedCounts?: () => readonly PublishedCountRow[];
}

/** An evaluator that failed with UNAVAILABLE is tried last for this long. */
export const DOWN_FOR_MS = 10_000;

type Outcome = { ok: true; elements: Buffer } | { ok: false; code: ErrorCode; message: string };

export class SelectorEvaluation {
  readonly counters = { forwarded: 0, unavailable: 0 };
  private readonly downUntil = new Map<string, number>();
  private readonly clock: () => number;

  constructor(private readonly deps: SelectorEvaluationDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** Status's OprfStatus: the dealing, this node's state as an evaluator, and counts since start. */
  status(): object | undefined {
    const { evaluator } = this.deps;
    const section = evaluator.section;
    const state = evaluator.status();
    if (!section || !state) return undefined;
    return {
      setId: section.setId,
      threshold: section.t,
      evaluators: [...section.evaluators],
      evaluatorState: state.state,
      reason: state.reason,
      evaluated: evaluator.counters.evaluated,
      refusedBudget: evaluator.counters.refusedBudget,
      refusedInvalid: evaluator.counters.refusedInvalid,
      forwarded: this.counters.forwarded,
      forwardedUnavailable: this.counters.unavailable,
      counts: (this.deps.publishedCounts?.() ?? []).map((r) => ({ ...r })),
    };
  }

  /** Running totals for metrics (metrics/node-metrics.ts OprfCounts). */
  counts(): { evaluatorReady: boolean; evaluated: number; refusedBudget: number; refusedInvalid: number; forwarded: number; forwardedUnavailable: number } {
    const { evaluator } = this.deps;
    return { evaluatorReady: evaluator.ready, ...evaluator.counters, forwarded: this.counters.forwarded, forwardedUnavailable: this.counters.unavailable };
  }

  /** The parameters of the dealing in force (an empty request), or FAILED_PRECONDITION without one. */
  parameters(): SelectorsResult {
    const { section } = this.deps.evaluator.requireDealing();
    return { setId: section.setId, threshold: section.t, evaluators: [...section.evaluators], binDigits: section.binDigits, answers: [] };
  }

  async evaluate(items: readonly EvaluateItem[], options: { verify: boolean; exclude: readonly string[]; deadlineMs: number }): Promise<SelectorsResult> {
    const result = this.parameters();
    if (items.length === 0) return result;
    const { section, description } = this.deps.evaluator.requireDealing();
    if (items.length > TPRF_MAX_BATCH) throw MamoriError.invalidArgument('items', `at most ${TPRF_MAX_BATCH} per request, got ${items.length}`);
    await validateItems(items, section.binDigits);
    options.exclude.forEach((id, i) => {
      if (!description.evaluators.includes(id)) throw MamoriError.invalidArgument(`exclude[${i}]`, 'is not an evaluator of the dealing in force');
    });
    this.counters.forwarded++;
    const started = this.clock();
    const request = (groups: string[][]): EvaluateRequest => ({ setId: section.setId, groups, items });
    const answered = new Map<string, { groups: string[][]; elements: Buffer }>();
    const failed = new Map<string, { groups: string[][]; code: ErrorCode; message: string }>();

    const candidates = (): string[] => {
      const now = this.clock();
      // A read replica does not evaluate for its member: the other evaluators answer its clients.
      const selfReplica = this.deps.evaluator.status()?.state === 'replica';
      const usable = description.evaluators.filter((id) => !options.exclude.includes(id) && !failed.has(id) && !(selfReplica && id === this.deps.member));
      const rank = (id: string) => (id === this.deps.member ? 0 : (this.downUntil.get(id) ?? 0) > now ? 2 : 1);
      return usable.map((id, i) => ({ id, i })).sort((a, b) => rank(a.id) - rank(b.id) || a.i - b.i).map((x) => x.id);
    };
    const plan = (available: string[]): EvaluationPlan | undefined => {
      if (options.verify) {
        const verified = planEvaluation(description, available, { verify: true, maxFaulty: 1 });
        if (verified.ok) return verified;
      }
      const minimal = planEvaluation(description, available);
      return minimal.ok ? minimal : undefined;
    };

    // One round, and one re-plan with the others when an evaluator fails.
    let final: EvaluationPlan | undefined;
    for (let round = 0; round < 2; round++) {
      const current = plan(candidates());
      if (!current) break;
      final = current;
      const calls = [...current.requests.entries()].filter(([id, groups]) => !sameGroups(answered.get(id)?.groups, groups));
      const outcomes = await Promise.all(calls.map(([id, groups]) => this.ask(id, request(groups), options.deadlineMs).then((o) => [id, groups, o] as const)));
      for (const [id, groups, outcome] of outcomes) {
        if (outcome.ok) {
          answered.set(id, { groups, elements: outcome.elements });
        } else {
          answered.delete(id);
          failed.set(id, { groups, code: outcome.code, message: outcome.message });
          if (outcome.code === 'UNAVAILABLE') this.downUntil.set(id, this.clock() + DOWN_FOR_MS);
        }
      }
      if (outcomes.every(([, , o]) => o.ok)) break;
      final = undefined;
    }
    const complete = final !== undefined && [...final.requests.entries()].every(([id, groups]) => sameGroups(answered.get(id)?.groups, groups));
    this.deps.log.info(
      { method: 'EvaluatePanSelectors', items: items.length, answered: answered.size, failed: failed.size, complete, ms: this.clock() - started },
      complete ? 'selectors evaluated' : 'selectors not evaluated: too few evaluators answered',
    );
    if (!complete || !final) {
      this.counters.unavailable++;
      const used = answered.size;
      const reasons = [...failed.entries()].map(([id, f]) => `${id}: ${f.code} ${f.message}`).join('; ');
      const allBudget = failed.size > 0 && [...failed.values()].every((f) => f.code === 'RESOURCE_EXHAUSTED');
      if (allBudget) throw new MamoriError('RESOURCE_EXHAUSTED', `evaluators refused: ${reasons}`);
      throw new MamoriError('UNAVAILABLE', `${used} of the ${section.t} evaluators needed answered (threshold ${section.t} of ${section.n}); ${reasons || 'no evaluator reachable'}`);
    }
    for (const [id, groups] of final.requests) {
      const a = answered.get(id) as { elements: Buffer };
      result.answers.push({ evaluator: id, groups, elements: a.elements });
    }
    for (const [id, f] of failed) result.answers.push({ evaluator: id, groups: f.groups, errorCode: f.code, errorMessage: f.message });
    return result;
  }

  private async ask(id: string, request: EvaluateRequest, deadlineMs: number): Promise<Outcome> {
    try {
      if (id === this.deps.member) return { ok: true, elements: await this.deps.evaluator.evaluate(this.deps.member, request) };
      const link = this.deps.link(id);
      if (!link) return { ok: false, code: 'UNAVAILABLE', message: 'no peer connection to this evaluator' };
      const elements = await link.evaluate(request, deadlineMs);
      const expected = request.items.length * request.groups.length * 32;
      if (elements.length !== expected) return { ok: false, code: 'INTERNAL', message: `answered ${elements.length} bytes, expected ${expected}` };
      this.downUntil.delete(id);
      return { ok: true, elements };
    } catch (error) {
      if (error instanceof MamoriError && error.code !== 'INTERNAL') return { ok: false, code: error.code, message: error.message };
      this.deps.log.error({ err: error, evaluator: id }, 'evaluation failed with an internal error');
      return { ok: false, code: 'INTERNAL', message: 'internal error' };
    }
  }
}

function sameGroups(a: readonly (readonly string[])[] | undefined, b: readonly (readonly string[])[]): boolean {
  return a !== undefined && a.length === b.length && a.every((g, i) => g.length === b[i].length && g.every((l, j) => l === b[i][j]));
}

