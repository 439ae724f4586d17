// Common point of purchase at the consortium's aggregator (docs/design.md#common-point). Issuers' fraud
// reports arrive as sealed entries every node stores; only this node can open them. Opened
// reports go into aggregator-local tables (common-point-store.ts); an analysis then counts,
// per merchant selector over the look-back window, the distinct issuers and fraud cards that
// name it, and the cards of those issuers that used it (its volume). With the consortium's
// baseline fraud rate p0 = fraud cards / active cards, a merchant is flagged when at least k
// issuers and minCards cards name it and P(X >= fraud cards | volume x p0) <= maxPValue:
// a merchant many fraud cards used only because many cards use it is not flagged. Only
// these aggregates are published, never an issuer or a card, and only coarsened
// (common-point-bands.ts). Analysis runs on a fixed schedule, never because a report
// arrived: a flag published right after a report would point at that report, and with k = 2
// the other reporter could read it by subtraction.
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
import { fraudCardBand, oneSignificantDigit, pValueBound } from './common-point-bands';
import { poissonUpperTail } from './poisson';

const DAY_MS = 24 * 60 * 60 * 1000;
const PENDING_PAGE = 1;
/** Examined, not opened and not refused: addressed to another member (a former aggregator). */
const NOT_ADDRESSED_HERE = 'not-addressed';

export interface CommonPointAnalysisSettings {
  k: number;
  lookBackDays: number;
  minCards: number;
  maxPValue: number;
  intervalMs: number;
  /** This member, the aggregator: reports addressed to another member (a former aggregator) are never opened. */
  aggregator?: string;
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
  private opening = false;
  private reopen = false;
  private analysing = false;
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

  /**
   * Opens reports committed while the node was down, then every new one as it commits;
   * analyses and publishes only every intervalMs.
   */
  attach(source: CommitSource): () => void {
    source.on('committed', this.onCommitted);
    this.openPendingSoon();
    this.timer = setInterval(() => void this.analyseOnSchedule(), this.settings.intervalMs);
    this.timer.unref();
    return () => {
      this.closed = true;
      source.off('committed', this.onCommitted);
      clearInterval(this.timer);
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
  }

  private openOne(entryId: number, origin: string, body: Buffer): void {
    const decoded = decodeEntryBody(body);
    const report = decoded.fraudReport;
    if (this.settings.aggregator !== undefined && report?.aggregator !== this.settings.aggregator) {
      this.store.recordRefused(entryId, origin, NOT_ADDRESSED_HERE);
      return;
    }
    const sealed = report?.sealed;
    const plain = sealed ? this.ports.open(Buffer.from(sealed)) : undefined;
    if (!plain) {
      this.log.warn({ origin, entryId }, 'a fraud report could not be opened with this member\'s key; ignored');
      this.store.recordRefused(entryId, origin, 'unopenable');
      return;
    }
    let contents: FraudReportContents__Output;
    try {
      contents = decodeFraudReportContents(plain);
      // The window is bounded by when the issuer's node signed the entry (or now, if that claims a
      // later time): a window ending in the future would never leave the look-back.
      const bounds = { notAfterMs: Math.min(Number(decoded.createdAtMs), Date.now()), lookBackDays: this.settings.lookBackDays };
      const valid = validateFraudReportContents(contents, 'contents', bounds);
      this.store.recordOpened({ entryId, origin, ...valid });
      this.emit('opened', entryId);
    } catch (error) {
      if (!(error instanceof MamoriError)) throw error;
      this.log.warn({ origin, entryId, code: error.code, field: error.field }, 'an invalid fraud report was ignored');
      this.store.recordRefused(entryId, origin, 'invalid');
    }
  }

  /** One analysis per tick; a tick that finds the previous one still publishing is skipped, not queued. */
  private async analyseOnSchedule(): Promise<void> {
    if (this.closed || this.analysing) return;
    this.analysing = true;
    try {
      const summary = this.analyse();
      if (summary.flags.length > 0) await this.ports.publish({ analysedAtMs: summary.analysedAtMs, flags: summary.flags });
      this.analyses++;
      this.log.info({ candidates: summary.candidates, flags: summary.flags.length, durationMs: summary.durationMs }, 'common-point analysis');
      this.emit('analysed', summary);
    } catch (error) {
      this.log.error({ err: error }, 'common-point analysis failed');
    } finally {
      this.analysing = false;
    }
  }

  /** Fraud reports opened and counted, and those refused (could not be opened, or invalid). */
  reportCounts(): { opened: number; refused: number } {
    return this.store.counts();
  }

  /**
   * The flags an analysis at a time would publish, coarsened: new merchants, or merchants
   * whose issuers or fraud-card band grew past what was last published.
   */
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
        const band = fraudCardBand(c.fraudCards);
        const published = this.store.published(c.merchant);
        if (c.issuers <= published.issuers && band <= published.fraudCards) continue;
        flags.push({
          merchant: { type: c.merchantType as ValidSelector['type'], digest: c.merchant },
          issuers: c.issuers,
          fraudCards: band,
          expectedFraudCards: oneSignificantDigit(expected),
          pValue: pValueBound(pValue),
          windowStartMs: baseline.windowStartMs,
          windowEndMs: baseline.windowEndMs,
        });
      }
    }
    return { analysedAtMs: nowMs, candidates: candidates.length, flags, durationMs: Date.now() - started };
  }
}
