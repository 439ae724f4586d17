// Merchant watch lists (docs/design.md#merchant-watch): an acquirer names the merchants it serves; its node
// alerts it when the aggregator's common-point flags name one ("common-point"), and when
// another acquirer lists one as fraudulent ("merchant-listing"). The list stays on this
// node. An alert's dedup key is the entry and position that raised it, so re-examining
// (at start-up, when a merchant is added to the list) never repeats one. Re-examination reads
// back only entries received in the last 24 hours — alerts live at least two days
// (alerts.retentionDays), so one pruned is never raised again under a new id — and runs in the
// background a page at a time, so neither a start nor a WatchMerchants call waits for it.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AcceptedEntry } from '../ledger/acceptance';
import { decodeEntryBody } from '../ledger/entry';
import type { StoredAlert } from '../store/alert-store';
import type { AlertSink } from './alert-feed';
import type { WatchedMerchant, WatchStore } from '../store/watch-store';
import type { CommitSource } from './card-testing';

export const COMMON_POINT_ALERT = 'common-point';
export const MERCHANT_LISTING_ALERT = 'merchant-listing';

interface SelectorLike {
  type: string;
  digest: Buffer;
}

/** What alerting reads of an entry, whether just accepted or decoded from the store. */
export interface WatchableEntry {
  origin: string;
  seq: number;
  publication?: { kind: string; reason: string; indicators: { selectors: SelectorLike[] }[] } | null;
  commonPointFlags?: {
    flags: { merchant: SelectorLike | null; issuers: number; fraudCards: number; expectedFraudCards: number; pValue: number; windowStartMs: number; windowEndMs: number }[];
  } | null;
}

/** Entries received this long before a re-examination are examined again (a crash may have come between a commit and its alert). */
const REEXAMINE_LOOK_BACK_MS = 24 * 60 * 60 * 1000;
/** Stored entries decoded between two turns of the event loop (up to 10,000 merchants each). */
const REEXAMINE_PAGE = 8;

export class MerchantWatch extends EventEmitter<{ alert: [alert: StoredAlert] }> {
  private watched = new Map<string, string>();
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => {
    for (const entry of entries) {
      try {
        this.examine(entry);
      } catch (error) {
        this.log.error({ err: error, origin: entry.origin, seq: entry.seq }, 'merchant watch failed');
      }
    }
  };

  constructor(
    private readonly watchStore: WatchStore,
    private readonly alerts: AlertSink,
    private readonly member: string,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  private detached = false;

  /**
   * Examines every commit from now on, and re-examines in the background recent stored entries
   * naming a watched merchant (a crash may have come between a commit and its alert).
   */
  attach(source: CommitSource): () => void {
    this.detached = false;
    this.load();
    source.on('committed', this.onCommitted);
    this.scheduleReexamination();
    return () => {
      this.detached = true;
      source.off('committed', this.onCommitted);
    };
  }

  /** Settles when every re-examination asked for so far is done, with the number of entries the last one examined. */
  reexamined: Promise<number> = Promise.resolve(0);

  get size(): number {
    return this.watched.size;
  }

  /** Adds (or removes) merchant selectors; an added merchant already flagged or listed alerts at once. */
  update(merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number): number {
    this.watchStore.update(merchants, remove, keyEpoch);
    this.load();
    if (!remove) this.scheduleReexamination();
    return this.watched.size;
  }

  private load(): void {
    this.watched = new Map(this.watchStore.watched().map((m) => [m.digest.toString('latin1'), m.type]));
  }

  private scheduleReexamination(): void {
    const sinceMs = Date.now() - REEXAMINE_LOOK_BACK_MS;
    this.reexamined = this.reexamined
      .then(() => this.reexamineStored(sinceMs))
      .catch((error: unknown) => {
        this.log.error({ err: error }, 'merchant watch: re-examination of stored entries failed');
        return 0;
      });
  }

  private async reexamineStored(sinceMs: number): Promise<number> {
    let examined = 0;
    let afterId = 0;
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.detached || this.watched.size === 0) return examined;
      const page = this.watchStore.entriesNamingWatched(sinceMs, afterId, REEXAMINE_PAGE);
      for (const ref of page) {
        afterId = ref.entryId;
        examined++;
        try {
          const body = decodeEntryBody(ref.body);
          this.examine({ origin: ref.origin, seq: ref.seq, publication: body.publishIndicators, commonPointFlags: body.commonPointFlags });
        } catch {
          // A damaged stored body (the scrub reports it) must not stop the others; its error may quote the body.
          this.log.error({ origin: ref.origin, seq: ref.seq }, 'merchant watch: a stored entry could not be re-examined');
        }
      }
      if (page.length < REEXAMINE_PAGE) return examined;
    }
  }

  private isWatched(selector: SelectorLike | null | undefined): selector is SelectorLike {
    return !!selector && this.watched.has(Buffer.from(selector.digest).toString('latin1'));
  }

  examine(entry: WatchableEntry): void {
    if (this.watched.size === 0) return;
    entry.commonPointFlags?.flags.forEach((flag, i) => {
      if (!this.isWatched(flag.merchant)) return;
      const payload = {
        merchant: { type: flag.merchant.type, digest: Buffer.from(flag.merchant.digest).toString('base64') },
        issuers: flag.issuers,
        fraudCards: flag.fraudCards,
        expectedFraudCards: flag.expectedFraudCards,
        pValue: flag.pValue,
        windowStartMs: flag.windowStartMs,
        windowEndMs: flag.windowEndMs,
      };
      this.raise(COMMON_POINT_ALERT, `${entry.origin}#${entry.seq}/${i}`, payload, { merchantType: flag.merchant.type, issuers: flag.issuers, fraudCards: flag.fraudCards });
    });
    const p = entry.publication;
    if (!p || p.kind !== 'INDICATOR_KIND_FRAUDULENT_MERCHANT' || entry.origin === this.member) return;
    p.indicators.forEach((indicator, i) => {
      const matched = indicator.selectors.filter((s) => this.isWatched(s));
      if (matched.length === 0) return;
      const payload = {
        origin: entry.origin,
        reason: p.reason,
        matched: matched.map((s) => s.type),
        merchants: matched.map((s) => ({ type: s.type, digest: Buffer.from(s.digest).toString('base64') })),
      };
      this.raise(MERCHANT_LISTING_ALERT, `${entry.origin}#${entry.seq}/${i}`, payload, { origin: entry.origin, reason: p.reason, matched: payload.matched });
    });
  }

  private raise(kind: string, dedupKey: string, payload: Record<string, unknown>, logged: Record<string, unknown>): void {
    const alert = this.alerts.insertAlert(this.member, kind, dedupKey, Date.now(), payload);
    if (!alert) return;
    this.log.warn({ alertId: alert.id, kind, ...logged }, 'watched merchant alert');
    this.emit('alert', alert);
  }
}
