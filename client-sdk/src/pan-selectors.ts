// PAN selectors for many callers at once (docs/oprf.md#the-client-sdk): a cached card answers
// from memory; cards not seen before that arrive together (the same event-loop turn, or within
// windowMs) travel in one EvaluatePanSelectors call of up to 10,000 cards; a card already being
// evaluated is not sent again, its callers wait for the same answer. While maxInFlight
// evaluations are outstanding, new cards keep filling the next batch, so batches grow with load
// rather than the number of calls. Nothing here is keyed by a card number: the cache and the
// in-flight map use the cache's keyed hash.
import { TPRF_MAX_BATCH } from '../../proto/ts/oprf/threshold';
import { withDeadline } from './deadline';
import { asClientError, type MamoriClientError } from './errors';
import type { SelectorCache } from './selector-cache';
import type { SelectorEvaluator } from './selector-evaluation';
import { BatchQueue } from './batch-queue';

export interface CoalescerOptions {
  windowMs: number;
  maxInFlight: number;
}

interface Waiting {
  handle: string;
  digits: string;
  resolve(selector: Buffer): void;
  reject(error: MamoriClientError): void;
}

interface Batch {
  cards: Waiting[];
  deadline: number;
  windowElapsed: boolean;
}

export interface CoalescingStats {
  /** Cards asked for (well-formed ones). */
  requested: number;
  /** Answered from the cache. */
  cached: number;
  /** Joined an evaluation of the same card already under way. */
  joined: number;
  /** Sent for evaluation. */
  evaluated: number;
  /** Evaluation batches sent (each one EvaluatePanSelectors call, plus a retry when needed). */
  batches: number;
  largestBatch: number;
  inFlight: number;
  queued: number;
}

export class SelectorCoalescer {
  private readonly pending = new Map<string, Promise<Buffer>>();
  private readonly queue: BatchQueue<Batch>;
  private readonly counts = { requested: 0, cached: 0, joined: 0, evaluated: 0, batches: 0, largestBatch: 0 };

  constructor(
    private readonly cache: SelectorCache,
    private readonly evaluator: SelectorEvaluator,
    options: CoalescerOptions,
  ) {
    this.queue = new BatchQueue<Batch>(options, () => ({ cards: [], deadline: 0, windowElapsed: false }), (batch) => this.dispatch(batch));
  }

  /** Selectors of normalized card numbers, in order; rejects at `deadline` (the evaluation goes on and fills the cache). */
  selectors(
    digits: readonly string[],
    deadline: number,
    budgetMs: number,
    how: { tally?: { cached: number; sent: number }; ownBatch?: boolean } = {},
  ): Promise<Buffer[]> {
    const tally = how.tally;
    // A caller's own batch (preEvaluate): its cards do not join, nor wait for, other callers' batch.
    const own: Batch | undefined = how.ownBatch ? { cards: [], deadline, windowElapsed: true } : undefined;
    const out = new Array<Buffer>(digits.length);
    const waits: Promise<unknown>[] = [];
    this.counts.requested += digits.length;
    for (let i = 0; i < digits.length; i++) {
      const d = digits[i] as string;
      const handle = this.cache.handleOf(d);
      const hit = this.cache.get(handle);
      if (hit) {
        out[i] = hit;
        this.counts.cached++;
        if (tally) tally.cached++;
        continue;
      }
      let pending = this.pending.get(handle);
      if (pending) this.counts.joined++;
      else {
        pending = this.enqueue(handle, d, deadline, own);
        if (tally) tally.sent++;
      }
      waits.push(pending.then((selector) => (out[i] = selector)));
    }
    if (own && own.cards.length > 0) this.queue.add(own);
    if (waits.length === 0) return Promise.resolve(out);
    this.queue.pump();
    return withDeadline(
      Promise.all(waits).then(() => out),
      deadline,
      budgetMs,
      'evaluating PAN selectors',
    );
  }

  stats(): CoalescingStats {
    const queued = this.queue.queued.reduce((n, b) => n + b.cards.length, 0);
    return { ...this.counts, inFlight: this.queue.inFlight, queued };
  }

  private enqueue(handle: string, digits: string, deadline: number, own: Batch | undefined): Promise<Buffer> {
    const promise = new Promise<Buffer>((resolve, reject) => {
      if (own) {
        // Callers of preEvaluate keep their batch size (at most TPRF_MAX_BATCH, checked there).
        own.cards.push({ handle, digits, resolve, reject });
        return;
      }
      const batch = this.queue.open();
      batch.cards.push({ handle, digits, resolve, reject });
      batch.deadline = Math.max(batch.deadline, deadline);
      if (batch.cards.length >= TPRF_MAX_BATCH) this.queue.closeOpen();
    });
    this.pending.set(handle, promise);
    // A caller that gave up (deadline) leaves the promise without a handler; the result still fills the cache.
    promise.catch(() => undefined);
    return promise;
  }

  private async dispatch(batch: Batch): Promise<void> {
    const cards = batch.cards;
    this.counts.batches++;
    this.counts.evaluated += cards.length;
    this.counts.largestBatch = Math.max(this.counts.largestBatch, cards.length);
    try {
      const outcomes = await this.evaluator.evaluate(
        cards.map((c) => c.digits),
        batch.deadline,
      );
      cards.forEach((c, i) => {
        const outcome = outcomes[i];
        if (outcome && 'selector' in outcome) {
          this.cache.put(c.handle, outcome.selector, outcome.setId);
          c.resolve(outcome.selector);
        } else c.reject(outcome?.error ?? asClientError(new Error('no outcome for a card')));
      });
    } catch (error) {
      const failure = asClientError(error);
      for (const c of cards) c.reject(failure);
    } finally {
      for (const c of cards) this.pending.delete(c.handle);
    }
  }
}
