// Card-listing alerts (docs/design.md#card-listings): an issuer learns at once when another member lists
// compromised cards in its own BIN ranges. Every node sees every publication (entries are
// replicated); the publishing node sealed to each issuer the indexes of that issuer's cards and
// tagged each notice with a key only it and that issuer can derive (ledger/issuer-notices.ts),
// so only the node holding this member's box key can tell which notice, and which cards, are its. It alerts only its own member, once per entry (dedup key origin/seq), with the
// PAN selector digests of those cards: the issuer finds them by hashing its own card
// base under the entry's key epoch. Listings are not anonymous (check evidence names the
// origin), so the alert names it too. The digests stay in the member-local alert stream and
// are never logged.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import type { AcceptedEntry } from '../ledger/acceptance';
import { decodeEntryBody } from '../ledger/entry';
import { openIssuerNotice, type NoticeReader } from '../ledger/issuer-notices';
import type { StoredAlert } from '../store/alert-store';
import type { AlertSink } from './alert-feed';
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
/** Entries decoded between two turns of the event loop (up to 10,000 cards each). */
const START_UP_PAGE = 8;

export class CardListingDetector extends EventEmitter<{ alert: [alert: StoredAlert] }> {
  private readonly listings: CardListingStore;
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => this.committed(entries);

  constructor(
    private readonly store: AlertSink,
    db: ConstructorParameters<typeof CardListingStore>[0],
    private readonly member: string,
    /** This member's BIN ranges, from the consortium file in force: a member without any is sent no notices. */
    private readonly binRanges: () => readonly string[],
    private readonly log: Logger,
    /** Recognises and opens the notices addressed to this member (its X25519 secret key stays with the caller). */
    private readonly notices: NoticeReader,
  ) {
    super();
    this.setMaxListeners(0);
    this.listings = new CardListingStore(db, CARD_LISTING_ALERT);
  }

  /**
   * Examines every commit from now on, and re-examines in the background recent publications
   * that have no alert yet: a page at a time between other work, so a start after a large import
   * by another member is not held up by decoding it. `reexamined` settles when that is done.
   */
  attach(source: CommitSource, nowMs = Date.now()): () => void {
    let detached = false;
    source.on('committed', this.onCommitted);
    this.reexamined = this.reexamine(nowMs - START_UP_LOOK_BACK_MS, () => detached).catch((error: unknown) => {
      this.log.error({ err: error }, 'card-listing re-examination at start-up failed');
      return 0;
    });
    return () => {
      detached = true;
      source.off('committed', this.onCommitted);
    };
  }

  /** Settles with the number of entries re-examined since the last attach. */
  reexamined: Promise<number> = Promise.resolve(0);

  private ownsRanges(): boolean {
    return this.binRanges().length > 0;
  }

  private async reexamine(sinceMs: number, detached: () => boolean): Promise<number> {
    let examined = 0;
    let afterId = 0;
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (detached() || !this.ownsRanges()) return examined;
      const page = this.listings.unalertedAfter(this.member, sinceMs, afterId, START_UP_PAGE);
      for (const row of page) {
        const body = decodeEntryBody(row.body);
        if (body.publishIndicators) this.examine(row.origin, row.seq, body.keyEpoch, body.publishIndicators);
        afterId = row.entryId;
        examined++;
      }
      if (page.length < START_UP_PAGE) {
        if (examined > 0) this.log.info({ entries: examined }, 'card-listing: recent publications re-examined');
        return examined;
      }
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
    if (!this.ownsRanges()) return;
    const indexes = openIssuerNotice(publication.issuerNotices, origin, this.member, publication.indicators.length, this.notices);
    if (indexes === undefined) return;
    if (indexes === 'unreadable') {
      // The entry is signed by its origin, so this is the origin's fault; nothing of the notice is logged.
      this.log.warn({ origin, seq }, 'card-listing: the issuer notice addressed to this member does not open; ignored');
      return;
    }
    const panDigests: string[] = [];
    for (const index of indexes) {
      const indicator = publication.indicators[index];
      if (!indicator) continue;
      for (const selector of indicator.selectors) {
        if (selector.type === 'SELECTOR_TYPE_PAN' || selector.type === 'SELECTOR_TYPE_PAN_OBLIVIOUS') panDigests.push(Buffer.from(selector.digest).toString('hex'));
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
