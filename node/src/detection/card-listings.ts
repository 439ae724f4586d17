// Card-listing alerts (DESIGN.md §8): an issuer learns at once when another member lists
// compromised cards in its own BIN ranges. Every node sees every publication (entries are
// replicated) and alerts only its own member, once per entry (dedup key origin/seq), with the
// PAN selector digests of this issuer's cards: the issuer finds them by hashing its own card
// base under the entry's key epoch. Listings are not anonymous (check evidence names the
// origin), so the alert names it too. The digests stay in the member-local alert stream and
// are never logged.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import { ROUTING_BIN_DIGITS } from '../../../proto/ts/routing-bin';
import type { AcceptedEntry } from '../ledger/acceptance';
import { decodeEntryBody } from '../ledger/entry';
import type { AlertStore, StoredAlert } from '../store/alert-store';
import { CardListingStore } from '../store/card-listing-store';
import type { CommitSource } from './card-testing';

export const CARD_LISTING_ALERT = 'card-listing';

export interface CardListingAlertPayload {
  origin: string;
  seq: number;
  keyEpoch: number;
  reason: string;
  exposed: string[];
  eventId: string;
  confidence: number;
  validUntilMs: number;
  cards: number;
  /** PAN selector digests, hex. */
  panDigests: string[];
}

/** Entries received this long before a start are re-examined (a crash may have come between a commit and its alert). */
const START_UP_LOOK_BACK_MS = 24 * 60 * 60 * 1000;
const START_UP_PAGE = 32;

export class CardListingDetector extends EventEmitter<{ alert: [alert: StoredAlert] }> {
  private readonly listings: CardListingStore;
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => this.committed(entries);

  constructor(
    private readonly store: AlertStore,
    db: ConstructorParameters<typeof CardListingStore>[0],
    private readonly member: string,
    /** This member's BIN ranges, from the consortium file in force. */
    private readonly binRanges: () => readonly string[],
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.listings = new CardListingStore(db, CARD_LISTING_ALERT);
  }

  /** Examines every commit from now on, after re-examining recent publications that have no alert yet. */
  attach(source: CommitSource, nowMs = Date.now()): () => void {
    source.on('committed', this.onCommitted);
    try {
      this.reexamine(nowMs - START_UP_LOOK_BACK_MS);
    } catch (error) {
      this.log.error({ err: error }, 'card-listing re-examination at start-up failed');
    }
    return () => source.off('committed', this.onCommitted);
  }

  private ownedRanges(): Set<string> {
    return new Set(this.binRanges().map((range) => range.slice(0, ROUTING_BIN_DIGITS)));
  }

  private reexamine(sinceMs: number): void {
    if (this.ownedRanges().size === 0) return;
    let afterId = 0;
    for (;;) {
      const page = this.listings.unalertedAfter(this.member, sinceMs, afterId, START_UP_PAGE);
      for (const row of page) {
        const body = decodeEntryBody(row.body);
        if (body.publishIndicators) this.examine(row.origin, row.seq, body.keyEpoch, body.publishIndicators);
        afterId = row.entryId;
      }
      if (page.length < START_UP_PAGE) return;
    }
  }

  private committed(entries: readonly AcceptedEntry[]): void {
    for (const entry of entries) {
      if (!entry.publication || entry.origin === this.member) continue;
      try {
        this.examine(entry.origin, entry.seq, entry.keyEpoch, entry.publication);
      } catch (error) {
        this.log.error({ err: error, origin: entry.origin, seq: entry.seq }, 'card-listing detection failed');
      }
    }
  }

  private examine(origin: string, seq: number, keyEpoch: number, publication: PublishIndicators__Output): void {
    if (origin === this.member || publication.kind !== 'INDICATOR_KIND_COMPROMISED_CARD') return;
    const owned = this.ownedRanges();
    if (owned.size === 0) return;
    const panDigests: string[] = [];
    for (const indicator of publication.indicators) {
      const bin = indicator.bin ?? '';
      if (bin.length < ROUTING_BIN_DIGITS || !owned.has(bin.slice(0, ROUTING_BIN_DIGITS))) continue;
      for (const selector of indicator.selectors) {
        if (selector.type === 'SELECTOR_TYPE_PAN') panDigests.push(Buffer.from(selector.digest).toString('hex'));
      }
    }
    if (panDigests.length === 0) return;
    const payload: CardListingAlertPayload = {
      origin,
      seq,
      keyEpoch,
      reason: String(publication.reason),
      exposed: publication.exposed.map(String),
      eventId: publication.eventId ?? '',
      confidence: publication.confidence,
      validUntilMs: publication.validUntilMs,
      cards: panDigests.length,
      panDigests,
    };
    const alert = this.store.insertAlert(this.member, CARD_LISTING_ALERT, `${origin}/${seq}`, Date.now(), { ...payload });
    if (!alert) return;
    this.log.warn({ alertId: alert.id, origin, seq, cards: panDigests.length, reason: payload.reason }, 'card-listing alert');
    this.emit('alert', alert);
  }
}
