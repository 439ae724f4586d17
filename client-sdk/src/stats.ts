// What the client counts and reports about itself. The log lines are written on changes of
// state only (degraded → healthy, mirror usable → not), never per check: at thousands of
// checks a second, a line per degraded answer would drown the operator.
import type { BatcherStats } from './batcher';
import type { MamoriClientError } from './errors';
import type { FilterMirror } from './mirror';
import type { SelectorStats } from './oblivious-selectors';
import type { CheckMode, FailMode } from './options';
import type { Action } from './policy';
import type { CheckSource } from './results';
import type { UnaryMethod } from './transport';

export interface ClientStats {
  /** RPCs this client sent, by method and in total. */
  rpcs: Record<UnaryMethod, number> & { total: number };
  /** Cards checked (well-formed ones), by where the answer came from. */
  checks: { total: number; mirror: number; node: number; fallback: number };
  /** Card numbers refused as malformed, before any I/O. */
  invalidPans: number;
  /** Mirror-mode checks that went to the node because the mirror could not answer (not loaded, stale). */
  mirrorUnusable: number;
  batching: BatcherStats;
  /** Oblivious PAN selectors: cache, coalescing, evaluation rounds, and faulty / disputed evaluators. */
  selectors: SelectorStats;
}

export type MirrorStatus = ReturnType<FilterMirror['status']>;

export interface SdkStatus {
  mode: CheckMode;
  /** Where negative checks are answered now: in-process by the mirror, or by the node. */
  checksVia: 'mirror' | 'node';
  /** In mirror mode, why checks currently go to the node. */
  fallbackReason: string | undefined;
  mirror: MirrorStatus | undefined;
  failMode: FailMode;
  deadlineMs: number;
  /** Epochs of the hashing keys held in memory (empty until loaded). */
  keyEpochs: number[];
  /** Since when checks are answered by the fail mode; undefined while the node answers. */
  degradedSinceMs: number | undefined;
  stats: ClientStats;
}

export class ClientCounters {
  checks = 0;
  invalid = 0;
  private readonly bySource: Record<CheckSource, number> = { mirror: 0, node: 0, fallback: 0 };
  private unusable = 0;
  private mirrorWasUsable: boolean | undefined;
  degradedSinceMs: number | undefined;

  answered(source: CheckSource): void {
    this.bySource[source]++;
  }

  degraded(log: (m: string) => void, error: MamoriClientError, action: Action): void {
    this.bySource.fallback++;
    if (this.degradedSinceMs === undefined) {
      this.degradedSinceMs = Date.now();
      log(`checks degraded: ${error.code} (${error.message}); the fail mode answers "${action}" until the node answers again`);
    }
  }

  recovered(log: (m: string) => void): void {
    if (this.degradedSinceMs === undefined) return;
    log(`checks answered by the node again after ${Date.now() - this.degradedSinceMs} ms degraded`);
    this.degradedSinceMs = undefined;
  }

  mirrorUnusable(log: (m: string) => void, reason: () => string | undefined): void {
    this.unusable++;
    if (this.mirrorWasUsable !== false) log(`mirror cannot answer (${reason() ?? 'not loaded'}); checks go to the node`);
    this.mirrorWasUsable = false;
  }

  mirrorUsable(log: (m: string) => void): void {
    if (this.mirrorWasUsable === false) log('mirror answering again');
    this.mirrorWasUsable = true;
  }

  snapshot(sent: Record<UnaryMethod, number>, batching: BatcherStats, selectors: SelectorStats): ClientStats {
    const rpcs = { ...sent, total: Object.values(sent).reduce((a, b) => a + b, 0) };
    return { rpcs, checks: { total: this.checks, ...this.bySource }, invalidPans: this.invalid, mirrorUnusable: this.unusable, batching, selectors };
  }
}
