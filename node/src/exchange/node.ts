// A member's node as its clients see it: publish, retract, check, status. The objects it
// uses (stores, filter, writer, membership) are built and closed by the composition root
// (runtime/open-node.ts); everything else a node does is an object of its own there.
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import { MamoriError } from '../ledger/errors';
import { roleAllowsKind } from '../ledger/roles';
import type { PackedSelectors, ValidRetraction, ValidSelector } from '../ledger/validate';
import { bitmapBytes, PACKED_DIGEST_BYTES, setBit } from '../../../proto/ts/packed-check';
import type { SelectorIndex } from '../filter/selector-index';
import type { DamagedEntryStore } from '../integrity/damaged-entries';
import type { DerivedState } from '../integrity/derived-state';
import type { StartUpStats } from '../integrity/start-up';
import { keyEpochStatuses } from '../membership/epoch-acks';
import type { MemberState } from '../membership/member-state';
import { panSelectorPhase, requirePanSelectorAllowed } from '../membership/pan-selector-phase';
import type { NodeEvents } from '../metrics/observer';
import type { KeyEpochAckStore } from '../store/key-epoch-ack-store';
import type { LedgerStore, StoredListing } from '../store/ledger-store';
import type { WriteGroup } from '../store/ledger-writer';
import { isActive, NOT_LISTED, verdictFromListings, withCorroboration, type CheckVerdict } from '../verdict/evidence';
import type { NoticeSender } from '../ledger/issuer-notices';
import { noticeRecipients, routeToIssuers } from './issuer-routing';
import type { OwnFeed } from './own-feed';

export interface PublishOutcome {
  accepted: number;
  duplicates: number;
  duplicateIndices: number[];
  seq: number;
  entryHash: Buffer;
}

export interface RetractOutcome {
  retracted: number;
  notListed: number;
  seq: number;
}

/** What the node object is built from. */
export interface NodeParts {
  membership: MemberState;
  feed: OwnFeed;
  store: LedgerStore;
  index: SelectorIndex;
  keyEpochAcks: KeyEpochAckStore;
  damagedEntries: DamagedEntryStore;
  /** Checks of the rows a verdict reads against the signed entries (absent: not counted). */
  derivedState?: DerivedState;
  /** The start-up verification of the stored entries (absent: not reported). */
  startUp?: StartUpStats;
  events: NodeEvents;
  /** Tags the issuer notices of this member's card listings (exchange/issuer-routing.ts). */
  noticeKeys: NoticeSender;
}

export type NodeStatus = ReturnType<MamoriNode['status']>;

export class MamoriNode {
  readonly startedAtMs = Date.now();
  private readonly membership: MemberState;
  private readonly feed: OwnFeed;
  private readonly store: LedgerStore;
  private readonly index: SelectorIndex;

  constructor(private readonly parts: NodeParts) {
    ({ membership: this.membership, feed: this.feed, store: this.store, index: this.index } = parts);
  }

  get member(): string {
    return this.feed.member;
  }

  /**
   * Publishes the new indicators of a validated batch as one signed entry. Resolves after
   * the entry's transaction commits (group commit: writes queued meanwhile share it).
   */
  async publish(publication: PublishIndicators__Output, keyEpoch: number): Promise<PublishOutcome> {
    this.feed.assertOpen();
    const epoch = this.publicationEpoch(publication, keyEpoch);
    const kind = publication.kind as Parameters<typeof roleAllowsKind>[1];
    if (!roleAllowsKind(this.membership.roles, kind)) throw MamoriError.permissionDenied(`member "${this.member}" may not publish ${kind}`);
    const outcome = await this.feed.write((group) => this.preparePublish(publication, epoch, group));
    this.parts.events.published(outcome.accepted, outcome.duplicates);
    return outcome;
  }

  /**
   * The epoch an entry is signed under. Oblivious PAN selectors are under the consortium's
   * threshold PRF, not under a hashing key: an entry of nothing but oblivious selectors carries
   * key_epoch 0, and its request must give 0 (docs/oprf.md#key-epochs). Any other entry needs an
   * active epoch, as before. The PAN-selector phase decides which PAN types are taken.
   */
  private publicationEpoch(publication: PublishIndicators__Output, keyEpoch: number): number {
    const phase = panSelectorPhase(this.membership.consortium);
    let oblivious = true;
    publication.indicators.forEach((indicator, i) =>
      indicator.selectors.forEach((s, j) => {
        if (s.type !== 'SELECTOR_TYPE_PAN_OBLIVIOUS') oblivious = false;
        requirePanSelectorAllowed(phase, s.type, `publication.indicators[${i}].selectors[${j}]`, 'published');
      }),
    );
    if (!oblivious) return this.membership.requireActiveEpoch(keyEpoch);
    if (keyEpoch !== 0) throw MamoriError.invalidArgument('keyEpoch', 'must be 0 for oblivious PAN selectors: they are under no hashing-key epoch');
    return 0;
  }

  /** Tombstones this member's active listings of the given selectors. */
  async retract(retraction: ValidRetraction): Promise<RetractOutcome> {
    return this.feed.write((group) => this.prepareRetract(retraction, group));
  }

  private preparePublish(publication: PublishIndicators__Output, keyEpoch: number, group: WriteGroup): () => PublishOutcome {
    const seenInBatch = new Set<string>();
    const duplicateIndices: number[] = [];
    const fresh = publication.indicators.filter((indicator, index) => {
      const keys = indicator.selectors.map((sel) => sel.digest.toString('latin1'));
      const repeated = keys.some((k) => seenInBatch.has(k) || group.published.has(k));
      const listed = !repeated && indicator.selectors.every((sel, i) => !group.retracted.has(keys[i] as string) && this.hasActiveOwnListing(sel, group.now));
      if (repeated || listed) {
        duplicateIndices.push(index);
        return false;
      }
      keys.forEach((k) => seenInBatch.add(k));
      return true;
    });
    if (fresh.length === 0) {
      return () => ({ accepted: 0, duplicates: duplicateIndices.length, duplicateIndices, seq: 0, entryHash: Buffer.alloc(0) });
    }
    const op = routeToIssuers({ ...publication, indicators: fresh }, () => noticeRecipients(this.membership.consortium, this.member), this.parts.noticeKeys);
    const entry = this.feed.sign(group, keyEpoch, { publishIndicators: op }, { operation: 'publishIndicators', publication: op });
    seenInBatch.forEach((k) => group.published.add(k));
    return () => ({ accepted: fresh.length, duplicates: duplicateIndices.length, duplicateIndices, seq: entry.seq, entryHash: entry.hash });
  }

  private prepareRetract(retraction: ValidRetraction, group: WriteGroup): () => RetractOutcome {
    const inRequest = new Set<string>();
    const listed = retraction.selectors.filter((sel) => {
      const key = sel.digest.toString('latin1');
      // The same card twice in one request (two spellings of one number) is retracted once.
      if (inRequest.has(key)) return false;
      inRequest.add(key);
      return !group.retracted.has(key) && (group.published.has(key) || this.hasActiveOwnListing(sel, group.now));
    });
    if (listed.length === 0) return () => ({ retracted: 0, notListed: retraction.selectors.length, seq: 0 });
    const op: ValidRetraction = { ...retraction, selectors: listed };
    const epoch = listed.every((s) => s.type === 'SELECTOR_TYPE_PAN_OBLIVIOUS') ? 0 : this.membership.newestEpoch();
    const entry = this.feed.sign(group, epoch, { retract: op }, { operation: 'retract', retraction: op });
    for (const sel of listed) {
      const key = sel.digest.toString('latin1');
      group.retracted.add(key);
      group.published.delete(key);
    }
    return () => ({ retracted: listed.length, notListed: retraction.selectors.length - listed.length, seq: entry.seq });
  }

  private hasActiveOwnListing(selector: { type: string; digest: Buffer }, now: number): boolean {
    if (!this.index.mayContain(selector.digest)) return false;
    return this.listingsOf(selector).some((l) => l.origin === this.member && isActive(l, now));
  }

  /**
   * The stored listings of a selector: its digest and its type. The filter and the tables are
   * keyed by digest alone, so the type is compared here: a digest sent under a type it was not
   * listed with (a card's digest as a merchant domain) matches nothing.
   */
  private listingsOf(selector: { type: string; digest: Buffer }): StoredListing[] {
    return this.store.listings(selector.digest).filter((l) => l.selectorType === selector.type);
  }

  /** Checks selectors: a filter negative needs no SQLite; a positive is confirmed there. */
  check(selectors: readonly ValidSelector[], nowMs = Date.now()): CheckVerdict[] {
    this.feed.assertOpen();
    if (panSelectorPhase(this.membership.consortium) === 'oblivious') {
      // A keyed PAN check would make this node an online oracle for whoever holds the hashing key.
      selectors.forEach((s, i) => requirePanSelectorAllowed('oblivious', s.type, `selectors[${i}]`, 'checked'));
    }
    const events = this.parts.events;
    const started = events.observed ? process.hrtime.bigint() : 0n;
    const verdicts = selectors.map((s) => (this.index.mayContain(s.digest) ? this.confirm(s, nowMs) : NOT_LISTED));
    if (started !== 0n) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      events.checked(verdicts.length, verdicts.reduce((n, v) => (v.listed ? n + 1 : n), 0), seconds);
    }
    return verdicts;
  }

  /**
   * check() of a packed request: the filter reads each digest where it lies, and only a filter
   * positive becomes a selector to confirm in SQLite. Returns the bitmap of the listed digests
   * and their verdicts, in order.
   */
  checkPacked(packed: PackedSelectors, nowMs = Date.now()): { bitmap: Buffer; listed: CheckVerdict[] } {
    this.feed.assertOpen();
    if (panSelectorPhase(this.membership.consortium) === 'oblivious') requirePanSelectorAllowed('oblivious', packed.type, 'packedType', 'checked');
    const events = this.parts.events;
    const started = events.observed ? process.hrtime.bigint() : 0n;
    const bitmap = Buffer.alloc(bitmapBytes(packed.count));
    const listed: CheckVerdict[] = [];
    const digests = packed.digests;
    for (let i = 0, offset = 0; i < packed.count; i++, offset += PACKED_DIGEST_BYTES) {
      if (!this.index.mayContainAt(digests, offset)) continue;
      const verdict = this.confirm({ type: packed.type, digest: digests.subarray(offset, offset + PACKED_DIGEST_BYTES) }, nowMs);
      if (!verdict.listed) continue;
      setBit(bitmap, i);
      listed.push(verdict);
    }
    if (started !== 0n) events.checked(packed.count, listed.length, Number(process.hrtime.bigint() - started) / 1e9);
    return { bitmap, listed };
  }

  private confirm(selector: ValidSelector, now: number): CheckVerdict {
    const verdict = verdictFromListings(this.listingsOf(selector), now);
    return verdict.listed ? withCorroboration(verdict, this.store.sightingsOf(selector.digest)) : verdict;
  }

  status() {
    const counts = this.store.counts();
    const own = this.feed.head();
    return {
      member: this.member,
      roles: this.membership.roles,
      ownFeed: { origin: this.member, seq: own.seq, headHash: own.hash },
      feeds: [...this.feed.allHeads().entries()].map(([origin, h]) => ({ origin, seq: h.seq, headHash: h.hash })),
      entries: counts.entries,
      indicators: counts.indicators,
      filter: this.index.status(),
      keyEpoch: this.membership.hashingKeys()[0]?.epoch ?? 0,
      startedAtMs: this.startedAtMs,
      keyEpochs: keyEpochStatuses(this.membership.consortium, this.parts.keyEpochAcks.all()),
      damagedEntries: this.parts.damagedEntries.count(),
      derivedState: this.parts.derivedState?.status() ?? { damaged: 0, repaired: 0, unrepaired: 0, orphansRemoved: 0, snapshotsRejected: 0, fullChecks: 0 },
      ownFeedRecovery: this.feed.ownWrites.status(),
      startUpVerification: startUpStatus(this.parts.startUp),
    };
  }

  /** The committed head of this member's feed. */
  ownHead() {
    return this.feed.head();
  }
}

function startUpStatus(s: StartUpStats | undefined): { entriesVerified: number; checkpointRow: number; fullReason: string; durationMs: number } | undefined {
  return s && { entriesVerified: s.entriesVerified, checkpointRow: s.checkpointRowId, fullReason: s.fullReason ?? '', durationMs: s.entriesVerifiedMs };
}
