// Common point of purchase at the consortium's aggregator (DESIGN.md §8). Issuers' fraud
// reports arrive as sealed entries every node stores; only this node can open them. Opened
// reports go into aggregator-local tables (common-point-store.ts); an analysis then counts,
// per merchant selector over the look-back window, the distinct issuers and fraud cards that
// name it, and the cards of those issuers that used it (its volume). With the consortium's
// baseline fraud rate p0 = fraud cards / active cards, a merchant is flagged when at least k
// issuers and minCards cards name it and P(X >= fraud cards | volume x p0) <= maxPValue:
// a merchant many fraud cards used only because many cards use it is not flagged. Only
// these aggregates are published, never an issuer or a card.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { FraudReportContents__Output } from '../../../proto/gen/mamori/v1/FraudReportContents';
import type { AcceptedEntry } from '../ledger/acceptance';
import { decodeFraudReportContents, validateFraudReportContents, type ValidCommonPointFlag, type ValidCommonPointFlags } from '../ledger/common-point';
import { decodeEntryBody } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import type { ValidSelector } from '../ledger/validate';
import type { CommonPointStore } from '../store/common-point-store';
import type { CommitSource } from './card-testing';
import { poissonUpperTail } from './poisson';

const DAY_MS = 24 * 60 * 60 * 1000;
const PENDING_PAGE = 1;
/** After new reports, analyse this soon (or at the interval, if shorter): reports of one import arrive together. */
const DEBOUNCE_MS = 500;

export interface CommonPointAnalysisSettings {
  k: number;
  lookBackDays: number;
  minCards: number;
  maxPValue: number;
  intervalMs: number;
}

export interface AnalysisSummary {
  analysedAtMs: number;
  candidates: number;
  flags: ValidCommonPointFlag[];
  durationMs: number;
}

export interface CommonPointPorts {
  /** Opens a report sealed to this member; undefined when it cannot. */
  open(sealed: Buffer): Uint8Array | undefined;
  /** Publishes flags as one entry of this member's feed. */
  publish(flags: ValidCommonPointFlags): Promise<unknown>;
}

export class CommonPointAnalyser extends EventEmitter<{ analysed: [summary: AnalysisSummary]; opened: [entryId: number] }> {
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => {
    if (entries.some((e) => e.fraudReport)) this.openPendingSoon();
  };
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private opening = false;
  private reopen = false;
  private running: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Analyses run since start (Status and tests read it). */
  analyses = 0;

  constructor(
    private readonly store: CommonPointStore,
    private readonly settings: CommonPointAnalysisSettings,
    private readonly ports: CommonPointPorts,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Opens reports committed while the node was down, then every new one; analyses periodically. */
  attach(source: CommitSource): () => void {
    source.on('committed', this.onCommitted);
    this.openPendingSoon();
    this.timer = setInterval(() => this.analyseSoon(0), this.settings.intervalMs);
    this.timer.unref();
    return () => {
      this.closed = true;
      source.off('committed', this.onCommitted);
      clearInterval(this.timer);
      clearTimeout(this.debounce);
    };
  }

  private openPendingSoon(): void {
    if (this.opening) {
      this.reopen = true;
      return;
    }
    this.opening = true;
    setImmediate(() => this.openPending());
  }

  /** One page of pending reports per turn of the event loop: a large backlog does not stall the node. */
  private openPending(): void {
    if (this.closed) return;
    let page: ReturnType<CommonPointStore['pendingEntries']>;
    try {
      page = this.store.pendingEntries(this.store.lastRecordedEntry(), PENDING_PAGE);
      for (const row of page) this.openOne(row.entryId, row.origin, row.body);
    } catch (error) {
      this.opening = false;
      this.log.error({ err: error }, 'opening fraud reports failed');
      return;
    }
    if (page.length === PENDING_PAGE || this.reopen) {
      this.reopen = false;
      setImmediate(() => this.openPending());
      return;
    }
    this.opening = false;
    if (page.length > 0 || this.pendingAnalysis) this.analyseSoon(Math.min(DEBOUNCE_MS, this.settings.intervalMs));
  }

  private pendingAnalysis = false;

  private openOne(entryId: number, origin: string, body: Buffer): void {
    const sealed = decodeEntryBody(body).fraudReport?.sealed;
    const plain = sealed ? this.ports.open(Buffer.from(sealed)) : undefined;
    if (!plain) {
      this.log.warn({ origin, entryId }, 'a fraud report could not be opened with this member\'s key; ignored');
      this.store.recordRefused(entryId, origin, 'unopenable');
      return;
    }
    let contents: FraudReportContents__Output;
    try {
      contents = decodeFraudReportContents(plain);
      const valid = validateFraudReportContents(contents, 'contents');
      this.store.recordOpened({ entryId, origin, ...valid });
      this.pendingAnalysis = true;
      this.emit('opened', entryId);
    } catch (error) {
      if (!(error instanceof MamoriError)) throw error;
      this.log.warn({ origin, entryId, code: error.code, field: error.field }, 'an invalid fraud report was ignored');
      this.store.recordRefused(entryId, origin, 'invalid');
    }
  }

  private analyseSoon(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.pendingAnalysis = false;
      this.running = this.running.then(() => this.analyseAndPublish()).catch((error: unknown) => this.log.error({ err: error }, 'common-point analysis failed'));
    }, delayMs);
    this.debounce.unref();
  }

  private async analyseAndPublish(): Promise<void> {
    if (this.closed) return;
    const summary = this.analyse();
    if (summary.flags.length > 0) await this.ports.publish({ analysedAtMs: summary.analysedAtMs, flags: summary.flags });
    this.analyses++;
    this.log.info({ candidates: summary.candidates, flags: summary.flags.length, durationMs: summary.durationMs }, 'common-point analysis');
    this.emit('analysed', summary);
  }

  /** Fraud reports opened and counted, and those refused (could not be opened, or invalid). */
  reportCounts(): { opened: number; refused: number } {
    return this.store.counts();
  }

  /** The flags an analysis at a time would publish: new merchants, or more fraud cards than last published. */
  analyse(nowMs = Date.now()): AnalysisSummary {
    const started = Date.now();
    const sinceMs = nowMs - this.settings.lookBackDays * DAY_MS;
    const baseline = this.store.baseline(sinceMs);
    const candidates = this.store.candidates(sinceMs, this.settings.k, this.settings.minCards);
    const flags: ValidCommonPointFlag[] = [];
    if (baseline.activeCards > 0) {
      const rate = baseline.fraudCards / baseline.activeCards;
      for (const c of candidates) {
        const expected = c.volume * rate;
        const pValue = poissonUpperTail(c.fraudCards, expected);
        if (pValue > this.settings.maxPValue) continue;
        if (this.store.publishedFraudCards(c.merchant) >= c.fraudCards) continue;
        flags.push({
          merchant: { type: c.merchantType as ValidSelector['type'], digest: c.merchant },
          issuers: c.issuers,
          fraudCards: c.fraudCards,
          expectedFraudCards: expected,
          pValue,
          windowStartMs: baseline.windowStartMs,
          windowEndMs: baseline.windowEndMs,
        });
      }
    }
    return { analysedAtMs: nowMs, candidates: candidates.length, flags, durationMs: Date.now() - started };
  }
}
