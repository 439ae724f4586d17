// Coalesces concurrent checks into Check RPCs. A grpc-js unary call costs about as much as
// checking a thousand selectors, so 64 callers must not become 64 calls: what arrives within
// one window (by default, one event-loop turn) travels together, up to maxSize selectors per
// RPC. While maxInFlight RPCs are outstanding, arrivals keep filling the open batch, so the
// batches grow with load instead of the number of calls.
//
// Every request carries its own deadline and timer: a caller gets its answer (or
// DEADLINE_EXCEEDED) by its deadline whether its batch was sent, is still waiting for a slot,
// or shares an RPC with callers whose budget is longer.
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import { asClientError, MamoriClientError } from './errors';
import { BatchQueue } from './batch-queue';

export interface PanSelector {
  /** Keyed under a hashing-key epoch, or the consortium's oblivious selector (docs/oprf.md). */
  type: 'SELECTOR_TYPE_PAN' | 'SELECTOR_TYPE_PAN_OBLIVIOUS';
  digest: Buffer;
}

export interface BatcherOptions {
  windowMs: number;
  maxSize: number;
  maxInFlight: number;
}

/** Sends one Check RPC; `deadline` is absolute (ms since the epoch). */
export type SendCheck = (selectors: PanSelector[], deadline: number) => Promise<CheckResponse__Output>;

interface Request {
  selectors: readonly PanSelector[];
  results: CheckResult__Output[];
  missing: number;
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
  resolve(results: CheckResult__Output[]): void;
  reject(error: MamoriClientError): void;
}

/** Selectors [start, end) of one request. */
interface Slice {
  request: Request;
  start: number;
  end: number;
}

interface Batch {
  slices: Slice[];
  size: number;
  windowElapsed: boolean;
}

export interface BatcherStats {
  batches: number;
  selectors: number;
  largestBatch: number;
  inFlight: number;
  queuedSelectors: number;
}

export class CheckBatcher {
  private readonly queue: BatchQueue<Batch>;
  private batches = 0;
  private selectorsSent = 0;
  private largestBatch = 0;

  constructor(
    private readonly send: SendCheck,
    private readonly options: BatcherOptions,
  ) {
    this.queue = new BatchQueue<Batch>(options, () => ({ slices: [], size: 0, windowElapsed: false }), (batch) => this.dispatch(batch));
  }

  /** Answers for `selectors`, in order; rejects with DEADLINE_EXCEEDED at `deadline`. */
  check(selectors: readonly PanSelector[], deadline: number, budgetMs: number): Promise<CheckResult__Output[]> {
    if (selectors.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const request: Request = { selectors, results: new Array(selectors.length), missing: selectors.length, deadline, timer: undefined, done: false, resolve, reject };
      const left = deadline - Date.now();
      if (left <= 0) return void settle(request, MamoriClientError.deadlineExceeded('the check', budgetMs));
      request.timer = setTimeout(() => settle(request, MamoriClientError.deadlineExceeded('the check', budgetMs)), left);
      this.enqueue(request);
      this.queue.pump();
    });
  }

  stats(): BatcherStats {
    const queued = this.queue.queued.reduce((n, b) => n + b.size, 0);
    return { batches: this.batches, selectors: this.selectorsSent, largestBatch: this.largestBatch, inFlight: this.queue.inFlight, queuedSelectors: queued };
  }

  private enqueue(request: Request): void {
    let start = 0;
    while (start < request.selectors.length) {
      const batch = this.queue.open();
      const end = Math.min(request.selectors.length, start + this.options.maxSize - batch.size);
      batch.slices.push({ request, start, end });
      batch.size += end - start;
      start = end;
      if (batch.size >= this.options.maxSize) this.queue.closeOpen();
    }
  }

  private async dispatch(batch: Batch): Promise<void> {
    // Callers that timed out while the batch waited are not sent.
    const slices = batch.slices.filter((s) => !s.request.done);
    if (slices.length === 0) return;
    const selectors: PanSelector[] = [];
    let deadline = 0;
    for (const s of slices) {
      for (let i = s.start; i < s.end; i++) selectors.push(s.request.selectors[i] as PanSelector);
      deadline = Math.max(deadline, s.request.deadline);
    }
    this.batches++;
    this.selectorsSent += selectors.length;
    this.largestBatch = Math.max(this.largestBatch, selectors.length);
    let response: CheckResponse__Output;
    try {
      response = await this.send(selectors, deadline);
    } catch (error) {
      const failure = asClientError(error);
      for (const s of slices) settle(s.request, failure);
      return;
    }
    if (response.results.length !== selectors.length) {
      const failure = new MamoriClientError('INTERNAL', `the node answered ${response.results.length} of ${selectors.length} selectors`);
      for (const s of slices) settle(s.request, failure);
      return;
    }
    let offset = 0;
    for (const s of slices) {
      const count = s.end - s.start;
      if (!s.request.done) deliver(s, response.results.slice(offset, offset + count));
      offset += count;
    }
  }
}

function deliver(slice: Slice, results: CheckResult__Output[]): void {
  const request = slice.request;
  for (let i = 0; i < results.length; i++) request.results[slice.start + i] = results[i] as CheckResult__Output;
  request.missing -= results.length;
  if (request.missing === 0) settle(request, undefined);
}

function settle(request: Request, error: MamoriClientError | undefined): void {
  if (request.done) return;
  request.done = true;
  if (request.timer) clearTimeout(request.timer);
  if (error) request.reject(error);
  else request.resolve(request.results);
}
