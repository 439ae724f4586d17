// The client's oblivious PAN selectors (docs/oprf.md#the-client-sdk): the cache, the
// coalescer and the evaluation behind MamoriClient.panSelectors() and preEvaluate(), and the
// cache's export and import. Card numbers are normalized here and refused by position before
// any I/O; only blinded elements and BINs leave the process.
import * as fs from 'node:fs';
import { normalizePan } from '../../proto/ts/normalize';
import { TPRF_MAX_BATCH } from '../../proto/ts/oprf/threshold';
import { writeFileAtomic } from '../../proto/ts/trust/atomic-file';
import { sodiumReady } from '../../proto/ts/sodium';
import { MamoriClientError } from './errors';
import type { ResolvedSelectorOptions } from './options';
import type { FilterMirror } from './mirror';
import { MirrorVerdicts } from './mirror-verdicts';
import { SelectorCoalescer, type CoalescingStats } from './pan-selectors';
import { SelectorCache, type SelectorCacheStats } from './selector-cache';
import { SelectorEvaluator, type EvaluationStats, type SendEvaluation } from './selector-evaluation';

export interface PanSelectorOptions {
  /** This call's budget in ms (default: the client's adminDeadlineMs). */
  deadlineMs?: number;
}

export interface PreEvaluateProgress {
  /** Cards done (cached before, or evaluated now). */
  done: number;
  /** Of which evaluated by this run. */
  evaluated: number;
  /** Cards given so far (the total once the input is exhausted). */
  seen: number;
  elapsedMs: number;
}

export interface PreEvaluateOptions {
  /** Called after every batch. */
  onProgress?: (progress: PreEvaluateProgress) => void;
  /** Cards per batch (default and most: 10,000). */
  batchSize?: number;
  /** Batches outstanding at once (default 2, 1–16). */
  maxInFlight?: number;
  /** Budget of one batch in ms (default 120,000). */
  batchDeadlineMs?: number;
}

export interface PreEvaluateResult extends PreEvaluateProgress {
  /** Selectors in the cache when done (bounded by options.selectors.cacheSize). */
  cacheSize: number;
}

export interface SelectorStats extends CoalescingStats {
  /** The dealing the cached selectors belong to (undefined until the node has said). */
  setId: string | undefined;
  evaluation: EvaluationStats;
  cache: SelectorCacheStats;
}

const PRE_EVALUATE_DEADLINE_MS = 120_000;

export class ObliviousSelectors {
  private readonly cache: SelectorCache;
  private readonly evaluator: SelectorEvaluator;
  private readonly coalescer: SelectorCoalescer;

  constructor(
    send: SendEvaluation,
    private readonly options: ResolvedSelectorOptions & { adminDeadlineMs: number; log: (message: string) => void; countInvalid: () => void },
  ) {
    this.cache = new SelectorCache(options.cacheSize, options.cacheKey);
    this.evaluator = new SelectorEvaluator(send, {
      verify: options.verify,
      log: options.log,
      onSetChange: (setId) => {
        const dropped = this.cache.useSet(setId);
        if (dropped > 0) options.log(`PAN selector cache: ${dropped} selectors of the previous dealing dropped`);
      },
    });
    this.coalescer = new SelectorCoalescer(this.cache, this.evaluator, options);
  }

  async panSelectors(pans: readonly string[], options: PanSelectorOptions = {}): Promise<Buffer[]> {
    const budget = options.deadlineMs ?? this.options.adminDeadlineMs;
    if (!(typeof budget === 'number' && budget > 0 && budget <= 600_000)) {
      throw new MamoriClientError('INVALID_ARGUMENT', `deadlineMs: expected a number from 1 to 600000, got ${String(budget)}`);
    }
    const digits = this.normalize(pans, 0);
    if (digits.length === 0) return [];
    await sodiumReady(); // the cache files cards under a keyed BLAKE2b handle
    this.evaluator.refreshIfOld(Date.now() + this.options.adminDeadlineMs);
    return this.coalescer.selectors(digits, Date.now() + budget, budget);
  }

  /** The cached selector of a normalized card, without I/O (a check's mirror-speed path). */
  cached(digits: string): Buffer | undefined {
    return this.cache.get(this.cache.handleOf(digits));
  }

  /** The cache slot of a normalized card, or -1 (a check's mirror-speed path; no I/O). */
  cachedSlot(digits: string): number {
    return this.cache.slotOfDigits(digits);
  }

  /** A slot's selector as a view of the cache's bytes, valid until the cache's next insertion (SelectorCache.selectorAt). */
  selectorAt(slot: number): Buffer {
    return this.cache.selectorAt(slot);
  }

  /** The mirror's verdicts on the cached selectors, kept in their slots from now on. */
  verdictsFrom(mirror: FilterMirror): MirrorVerdicts {
    return new MirrorVerdicts(this.cache, mirror);
  }

  /** Selectors of cards already normalized (and refused by position by the caller), in order. */
  async selectorsOfDigits(digits: readonly string[], deadline: number, budget: number): Promise<Buffer[]> {
    if (digits.length === 0) return [];
    await sodiumReady();
    this.evaluator.refreshIfOld(Date.now() + this.options.adminDeadlineMs);
    return this.coalescer.selectors(digits, deadline, budget);
  }

  async preEvaluate(pans: Iterable<string> | AsyncIterable<string>, options: PreEvaluateOptions = {}): Promise<PreEvaluateResult> {
    if (pans === null || typeof pans !== 'object' || !(Symbol.iterator in pans || Symbol.asyncIterator in pans)) {
      throw new MamoriClientError('INVALID_ARGUMENT', 'pans: expected an array or an (async) iterable of card numbers');
    }
    await sodiumReady();
    const batchSize = checkWhole('options.batchSize', options.batchSize ?? TPRF_MAX_BATCH, 1, TPRF_MAX_BATCH);
    const maxInFlight = checkWhole('options.maxInFlight', options.maxInFlight ?? 2, 1, 16);
    const budget = checkWhole('options.batchDeadlineMs', options.batchDeadlineMs ?? PRE_EVALUATE_DEADLINE_MS, 1, 3_600_000);
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new MamoriClientError('INVALID_ARGUMENT', 'options.onProgress: expected a function');
    const started = Date.now();
    const progress: PreEvaluateProgress = { done: 0, evaluated: 0, seen: 0, elapsedMs: 0 };
    const outstanding = new Set<Promise<void>>();
    let failure: unknown;
    const run = (chunk: string[]): void => {
      const tally = { cached: 0, sent: 0 };
      const work = this.coalescer.selectors(chunk, Date.now() + budget, budget, { tally, ownBatch: true }).then(
        () => {
          progress.done += chunk.length;
          progress.evaluated += tally.sent;
          progress.elapsedMs = Date.now() - started;
          options.onProgress?.({ ...progress });
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      outstanding.add(work);
      void work.finally(() => outstanding.delete(work));
    };
    let chunk: string[] = [];
    for await (const pan of pans as AsyncIterable<string>) {
      if (failure) break;
      chunk.push(this.normalizeOne(pan, progress.seen));
      progress.seen++;
      if (chunk.length < batchSize) continue;
      run(chunk);
      chunk = [];
      while (outstanding.size >= maxInFlight) await Promise.race(outstanding);
    }
    if (chunk.length > 0 && !failure) run(chunk);
    await Promise.all(outstanding);
    if (failure) throw failure;
    progress.elapsedMs = Date.now() - started;
    return { ...progress, cacheSize: this.cache.size };
  }

  exportCache(): string {
    return this.cache.export();
  }

  importCache(text: string): { imported: number; skipped: number } {
    if (typeof text !== 'string') throw new MamoriClientError('INVALID_ARGUMENT', 'data: expected the string exportSelectorCache() returned');
    return this.cache.import(text);
  }

  /** Writes the exported cache to a file (mode 0600), atomically: a reader sees the old file or the new one. */
  saveCache(file: string): { entries: number } {
    writeFileAtomic(file, this.cache.export(), { mode: 0o600 });
    return { entries: this.cache.size };
  }

  loadCache(file: string): { imported: number; skipped: number } {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new MamoriClientError('INVALID_ARGUMENT', `file: cannot read the selector cache (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return this.cache.import(text);
  }

  stats(): SelectorStats {
    return { ...this.coalescer.stats(), setId: this.cache.setId, evaluation: this.evaluator.stats(), cache: this.cache.stats() };
  }

  private normalize(pans: readonly string[], offset: number): string[] {
    if (!Array.isArray(pans)) throw new MamoriClientError('INVALID_ARGUMENT', 'pans: expected an array of card numbers');
    return pans.map((pan, i) => this.normalizeOne(pan, offset + i));
  }

  /** The card's digits, or INVALID_PAN naming `pans[i]` and the reason (never the digits). */
  private normalizeOne(pan: unknown, index: number): string {
    const normalized = typeof pan === 'string' ? normalizePan(pan) : { ok: false as const, reason: `is not a string (${typeof pan})` };
    if (normalized.ok) return normalized.digits;
    this.options.countInvalid();
    throw new MamoriClientError('INVALID_PAN', `pans[${index}]: card number ${normalized.reason}`);
  }
}

function checkWhole(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new MamoriClientError('INVALID_ARGUMENT', `${field}: expected a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
