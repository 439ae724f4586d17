// A member's node: its own feed, the stored ledger, the filter, and the member-local
// operations (publish, retract, check, status) the Exchange API serves.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { sodiumReady } from '../../../proto/ts/sodium';
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import type { NodeConfig } from '../config/node-config';
import { ConfigError } from '../config/errors';
import type { AcceptedEntry, MemberKeys } from '../ledger/acceptance';
import type { LedgerPort } from '../replication/types';
import { signNextEntry, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import type { Role } from '../ledger/roles';
import { roleAllowsKind } from '../ledger/roles';
import type { ValidRetraction, ValidSelector } from '../ledger/validate';
import { LedgerStore } from '../store/ledger-store';
import { databaseFile } from '../store/database';
import { isActive, NOT_LISTED, verdictFromListings, withCorroboration, type CheckVerdict } from './evidence';
import { loadFilter } from './filter-loader';
import { LedgerWriter, type WriteGroup } from './ledger-writer';
import { SelectorIndex } from './selector-index';
import { activeEpochs, Consortium, loadMemberIdentity, type EpochKey, type MemberIdentity } from './membership';
import { verifyStoredLedger } from './verify-ledger';
import { CardTestingDetector } from '../detection/card-testing';
import { CardListingDetector } from '../detection/card-listings';
import { AlertStore } from '../store/alert-store';
import type { ValidCardTestingReport } from '../ledger/validate';
import { roleAllowsOperation } from '../ledger/roles';
import type { NodeObserver } from './observer';
import { AuditLog } from './audit-log';
import { sightingsForEntry, type ValidSightingInput } from '../ledger/sightings';
import { epochsToAcknowledge, keyEpochStatuses } from './epoch-acks';
import { KeyEpochAckStore } from '../store/key-epoch-ack-store';
import { CommonPointAnalyser } from '../detection/common-point';
import { DetectionRetention } from './detection-retention';
import { MerchantWatch } from '../detection/merchant-watch';
import { CommonPointStore } from '../store/common-point-store';
import { WatchStore, type WatchedMerchant } from '../store/watch-store';
import { openSealed } from '../crypto/sealed-box';
import { noticeRecipients, routeToIssuers } from './issuer-routing';
import type { ValidCommonPointFlags, ValidFraudReportContents } from '../ledger/common-point';
import { LIMITS } from '../ledger/limits';
import { sealFraudReport } from './fraud-report';
import { DamagedEntryStore } from '../store/damaged-entries';
import { WalCheckpointer } from '../store/wal-checkpoint';
import { LedgerScrub, type PeerCopies } from './scrub';
import { OwnWriteGate } from '../replication/own-write-gate';


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

export class MamoriNode {
  private closed = false;
  readonly startedAtMs = Date.now();

  private constructor(
    readonly config: NodeConfig,
    readonly log: Logger,
    private readonly identity: MemberIdentity,
    private currentConsortium: Consortium,
    private epochKeys: EpochKey[],
    private readonly store: LedgerStore,
    readonly index: SelectorIndex,
    readonly writer: LedgerWriter,
  ) {
    this.frozen = new Set(store.frozenOrigins().map((f) => f.origin));
    const binRanges = () => this.currentConsortium.member(this.member)?.binRanges ?? [];
    this.cardTesting = new CardTestingDetector(new AlertStore(store.db), config.member, binRanges, config.cardTesting, log);
    this.detachCardTesting = this.cardTesting.attach(writer);
    this.cardListings = new CardListingDetector(new AlertStore(store.db), store.db, config.member, binRanges, log, (sealed) => openSealed(sealed, identity.box));
    // The Alerts stream wakes on cardTesting's event: card-listing alerts wake it the same way.
    this.cardListings.on('alert', (alert) => this.cardTesting.emit('alert', alert));
    this.detachCardListings = this.cardListings.attach(writer);
    this.audit = new AuditLog(store.db, log);
    this.keyEpochAcks = new KeyEpochAckStore(store.db);
    this.merchantWatch = new MerchantWatch(new WatchStore(store.db), new AlertStore(store.db), config.member, log);
    this.detachMerchantWatch = this.merchantWatch.attach(writer);
    const commonPoint = this.currentConsortium.commonPoint;
    if (commonPoint?.aggregator === config.member) {
      const settings = { ...commonPoint, intervalMs: config.commonPointIntervalMs };
      const ports = { open: (sealed: Buffer) => openSealed(sealed, identity.box), publish: (flags: ValidCommonPointFlags) => this.publishCommonPointFlags(flags) };
      this.commonPoint = new CommonPointAnalyser(new CommonPointStore(store.db), settings, ports, log);
      this.detachCommonPoint = this.commonPoint.attach(writer);
    }
    this.detectionRetention = new DetectionRetention(
      { alerts: new AlertStore(store.db), commonPoint: this.commonPoint && new CommonPointStore(store.db), audit: this.audit, log },
      { alertRetentionDays: config.alerts.retentionDays, cardTestingWindowMinutes: config.cardTesting.windowMinutes, commonPointLookBackDays: this.commonPoint && commonPoint?.lookBackDays },
    );
    this.commonPoint?.on('analysed', () => this.detectionRetention.pruneLogged());
    this.damagedEntries = new DamagedEntryStore(store.db);
    this.scrub = new LedgerScrub(
      { store, damage: this.damagedEntries, members: () => this.storedEntryKeys(), databaseFile: this.databaseFile, log },
      config.scrub,
    );
    this.walCheckpoints = new WalCheckpointer(
      store.db,
      `${this.databaseFile}-wal`,
      { intervalMs: config.walCheckpointIntervalMs, truncateAboveBytes: config.walTruncateAboveBytes, longReadOpen: () => this.scrub.longReadOpen },
      log,
    );
    this.walCheckpoints.start();
  }

  /** Prunes alerts, card-testing reports and the aggregator's opened fraud reports past retention; started by `mamori start`. */
  readonly detectionRetention: DetectionRetention;
  /** Entries the scrub found damaged and could not repair yet (origin and seq). */
  readonly damagedEntries: DamagedEntryStore;
  /** The background re-verification of stored entries (scrub.ts); started by startScrub. */
  readonly scrub: LedgerScrub;
  readonly walCheckpoints: WalCheckpointer;

  get databaseFile(): string {
    return databaseFile(this.config.dataDir);
  }

  /** Keys that verify stored entries: current members, and former ones for their earlier entries. */
  private storedEntryKeys(): Map<string, MemberKeys> {
    const keys = new Map<string, MemberKeys>();
    for (const m of this.currentConsortium.document.members) {
      const k = this.currentConsortium.memberKeys(m.id) ?? this.currentConsortium.formerMemberKeys(m.id);
      if (k) keys.set(m.id, k);
    }
    return keys;
  }

  /** Starts the scrub (when the config enables it), repairing from the copies peers hold. */
  startScrub(peerCopies: PeerCopies): void {
    if (this.config.scrub.enabled) this.scrub.start(peerCopies);
  }

  /** Alerts on this member's watched merchants: common-point flags and other acquirers' listings. */
  readonly merchantWatch: MerchantWatch;
  private readonly detachMerchantWatch: () => void;
  /** Common-point analysis, on the consortium's aggregator only (the consortium file in force at start). */
  readonly commonPoint?: CommonPointAnalyser;
  private readonly detachCommonPoint: () => void = () => undefined;

  private readonly keyEpochAcks: KeyEpochAckStore;

  /** The tamper-evident audit log (audit-log.ts): counts only, never a card, key or selector. */
  readonly audit: AuditLog;

  /** Card-testing detection and this member's alerts (what the Alerts stream serves). */
  readonly cardTesting: CardTestingDetector;
  private readonly detachCardTesting: () => void;

  /** Alerts for new compromised-card listings in this member's BIN ranges (stored with the other alerts). */
  readonly cardListings: CardListingDetector;
  private readonly detachCardListings: () => void;

  private readonly frozen: Set<string>;
  /** Held while this node may be behind its own feed (own-feed recovery): nothing new is signed. */
  readonly ownWrites = new OwnWriteGate();
  private readonly observers = new Set<NodeObserver>();

  /** Metrics: told of every check and publication; returns the unsubscribe. */
  observe(observer: NodeObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  get consortium(): Consortium {
    return this.currentConsortium;
  }

  /** A new signed consortium file (members added or removed) takes effect at once. */
  replaceConsortium(next: Consortium): void {
    if (!next.member(this.member)) throw MamoriError.failedPrecondition(`the new consortium file no longer lists "${this.member}"`);
    // New hashing-key epochs (a rotation) come with the file: open them before switching.
    const epochKeys = next.openEpochKeys(this.identity, this.config.consortiumFile);
    this.currentConsortium = next;
    this.epochKeys = epochKeys;
  }

  memberKeys(origin: string): MemberKeys | undefined {
    return this.currentConsortium.memberKeys(origin);
  }

  /** The writer and stored ledger, as replication uses them. */
  ledgerPort(): LedgerPort {
    return {
      enqueue: (prepare) => this.writer.enqueue(prepare),
      committedHeads: () => this.writer.allHeads(),
      storedEntry: (origin, seq) => this.store.entryAt(origin, seq),
      isFrozen: (origin) => this.frozen.has(origin),
      ownOrigin: this.member,
      recordEquivocation: (evidence) => {
        this.store.recordEquivocation(evidence);
        this.frozen.add(evidence.origin);
      },
    };
  }

  /** A page of one origin's stored entries, for a peer's Fetch. */
  entriesOf(origin: string, fromSeq: number, limit: number): { seq: number; body: Buffer; signature: Buffer }[] {
    return this.store.entriesOf(origin, fromSeq, limit);
  }

  frozenOrigins(): { origin: string; sinceMs: number; reason: string }[] {
    return this.store.frozenOrigins();
  }

  /** An operator's decision: accept an origin's entries again (the evidence stays). */
  unfreeze(origin: string): boolean {
    this.frozen.delete(origin);
    return this.store.unfreeze(origin);
  }

  static async open(config: NodeConfig, log: Logger): Promise<MamoriNode> {
    await sodiumReady();
    const identity = loadMemberIdentity(config.memberKeyFile);
    if (identity.member !== config.member) {
      throw new ConfigError(config.memberKeyFile, [`member: is "${identity.member}" but the node config is for "${config.member}"`]);
    }
    const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
    const self = consortium.member(config.member);
    if (!self) throw new ConfigError(config.consortiumFile, [`document.members: has no member "${config.member}"`]);
    if (self.signingPublicKey !== identity.signing.publicKey.toString('base64')) {
      throw new ConfigError(config.memberKeyFile, ['signing.publicKey: does not match this member\'s key in the consortium file']);
    }
    const epochKeys = consortium.openEpochKeys(identity, config.consortiumFile);

    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const started = Date.now();
    const store = LedgerStore.open(databaseFile(config.dataDir), { maxDatabaseMb: config.storage?.maxDatabaseMb });
    try {
      // Another member's damaged entry is marked and left to the scrub, which repairs it from
      // a peer; damage in this member's own feed, or rows of an origin that was never a
      // member, still refuse the start (an operator looks).
      const damage = new DamagedEntryStore(store.db);
      const keysOf = (origin: string) => consortium.memberKeys(origin) ?? consortium.formerMemberKeys(origin);
      const heads = verifyStoredLedger(
        store,
        keysOf,
        (damaged) => {
          if (damaged.origin === config.member || !keysOf(damaged.origin)) return false;
          damage.mark(damaged.origin, damaged.seq, damaged.reason);
          log.error({ origin: damaged.origin, seq: damaged.seq, reason: damaged.reason }, 'stored entry of another origin is damaged; starting, the scrub repairs it from a peer');
          return true;
        },
      );
      const verifiedMs = Date.now() - started;
      const loaded = loadFilter(store, config.dataDir, config.filter);
      log.info(
        { entriesVerifiedMs: verifiedMs, filterSource: loaded.source, filterReason: loaded.reason, readyMs: Date.now() - started },
        'ledger verified and filter ready',
      );
      const settings = { ...config.filter, dataDir: config.dataDir, snapshotIntervalMs: config.snapshotIntervalMs };
      const index = new SelectorIndex(loaded.filter, store, settings, log, loaded.source === 'snapshot');
      const writer = new LedgerWriter(store, heads, index, log);
      return new MamoriNode(config, log, identity, consortium, epochKeys, store, index, writer);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  get member(): string {
    return this.config.member;
  }

  get roles(): Role[] {
    return (this.consortium.member(this.member)?.roles ?? []) as Role[];
  }

  ownHead(): FeedHead {
    return this.writer.committedHead(this.member);
  }

  /** Keys a member-local client needs to hash card numbers itself: the active epochs, newest first. */
  hashingKeys(nowMs = Date.now()): EpochKey[] {
    return activeEpochs(this.epochKeys, nowMs);
  }

  /** Epochs not active yet, soonest first: a client takes them up at their activation. */
  upcomingHashingKeys(nowMs = Date.now()): EpochKey[] {
    return this.epochKeys.filter((k) => k.activeFromMs > nowMs).sort((a, b) => a.activeFromMs - b.activeFromMs);
  }

  /**
   * Publishes one KeyEpochAck per epoch this member holds and has not acknowledged yet
   * (epoch-acks.ts). Decided inside the writer against committed acks and those already in
   * the group, so restarts and concurrent calls never ack an epoch twice.
   */
  async acknowledgeKeyEpochs(): Promise<{ epoch: number; seq: number }[]> {
    this.assertOpen();
    const acked = await this.writer.enqueue((group) => {
      const done = this.keyEpochAcks.epochsAcknowledgedBy(this.member);
      for (const e of group.entries) if (e.origin === this.member && e.keyEpochAck) done.add(e.keyEpochAck.epoch);
      const entries = epochsToAcknowledge(this.currentConsortium, this.epochKeys, done, group.now).map((epoch) =>
        this.signOwn(group, epoch, { keyEpochAck: { epoch } }, { operation: 'keyEpochAck', keyEpochAck: { epoch } }),
      );
      return () => entries.map((e) => ({ epoch: e.keyEpoch, seq: e.seq }));
    });
    for (const a of acked) {
      this.log.info({ epoch: a.epoch, seq: a.seq }, 'key epoch acknowledged');
      this.audit.record('node', 'keys.epoch-ack', { epoch: a.epoch, seq: a.seq });
    }
    return acked;
  }

  private requireActiveEpoch(epoch: number): number {
    const active = activeEpochs(this.epochKeys);
    if (active.length === 0) throw MamoriError.failedPrecondition('no hashing-key epoch is active; ask the consortium operator for a new epoch');
    if (!active.some((k) => k.epoch === epoch)) {
      throw MamoriError.invalidArgument('keyEpoch', `epoch ${epoch} is not active; active epochs: ${active.map((k) => k.epoch).join(', ')}`);
    }
    return epoch;
  }

  /**
   * Publishes the new indicators of a validated batch as one signed entry. Resolves after
   * the entry's transaction commits (group commit: writes queued meanwhile share it).
   */
  async publish(publication: PublishIndicators__Output, keyEpoch: number): Promise<PublishOutcome> {
    this.assertOpen();
    this.requireActiveEpoch(keyEpoch);
    const kind = publication.kind as Parameters<typeof roleAllowsKind>[1];
    if (!roleAllowsKind(this.roles, kind)) throw MamoriError.permissionDenied(`member "${this.member}" may not publish ${kind}`);
    const outcome = await this.writer.enqueue((group) => this.preparePublish(publication, keyEpoch, group));
    for (const o of this.observers) o.published?.(outcome.accepted, outcome.duplicates);
    return outcome;
  }

  /** Tombstones this member's active listings of the given selectors. */
  async retract(retraction: ValidRetraction): Promise<RetractOutcome> {
    this.assertOpen();
    return this.writer.enqueue((group) => this.prepareRetract(retraction, group));
  }

  private preparePublish(publication: PublishIndicators__Output, keyEpoch: number, group: WriteGroup): () => PublishOutcome {
    const seenInBatch = new Set<string>();
    const duplicateIndices: number[] = [];
    const fresh = publication.indicators.filter((indicator, index) => {
      const keys = indicator.selectors.map((sel) => sel.digest.toString('latin1'));
      const repeated = keys.some((k) => seenInBatch.has(k) || group.published.has(k));
      const listed = !repeated && indicator.selectors.every((sel, i) => !group.retracted.has(keys[i] as string) && this.hasActiveOwnListing(sel.digest, group.now));
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
    const op = routeToIssuers({ ...publication, indicators: fresh }, () => noticeRecipients(this.currentConsortium, this.member));
    const entry = this.signOwn(group, keyEpoch, { publishIndicators: op }, { operation: 'publishIndicators', publication: op });
    seenInBatch.forEach((k) => group.published.add(k));
    return () => ({ accepted: fresh.length, duplicates: duplicateIndices.length, duplicateIndices, seq: entry.seq, entryHash: entry.hash });
  }

  /** Publishes a validated card-testing report as one signed entry (acquirers and PSPs only). */
  async reportCardTesting(report: ValidCardTestingReport): Promise<PublishOutcome> {
    this.assertOpen();
    if (!roleAllowsOperation(this.roles, 'cardTestingReport')) {
      throw MamoriError.permissionDenied(`member "${this.member}" may not report card testing (acquirers and PSPs only)`);
    }
    return this.writer.enqueue((group) => {
      const entry = this.signOwn(group, this.newestEpoch(), { cardTestingReport: report }, { operation: 'cardTestingReport', cardTestingReport: report });
      return () => ({ accepted: 1, duplicates: 0, duplicateIndices: [], seq: entry.seq, entryHash: entry.hash });
    });
  }

  /**
   * Seals a validated fraud report to the consortium's aggregator and publishes it (issuers
   * only), as several entries when it is larger than one entry may be.
   */
  async reportFraud(contents: ValidFraudReportContents, keyEpoch: number): Promise<PublishOutcome> {
    this.assertOpen();
    if (!roleAllowsOperation(this.roles, 'fraudReport')) throw MamoriError.permissionDenied(`member "${this.member}" may not report fraud (issuers only)`);
    this.requireActiveEpoch(keyEpoch);
    const aggregator = this.currentConsortium.commonPoint?.aggregator;
    const boxKey = this.currentConsortium.aggregatorBoxPublicKey();
    if (!aggregator || !boxKey) throw MamoriError.failedPrecondition('the consortium file names no common-point aggregator (commonPoint.aggregator)');
    const reports = sealFraudReport(contents, aggregator, boxKey);
    return this.writer.enqueue((group) => {
      const entries = reports.map((report) => this.signOwn(group, keyEpoch, { fraudReport: report }, { operation: 'fraudReport', fraudReport: report }));
      const last = entries[entries.length - 1] as AcceptedEntry;
      return () => ({ accepted: contents.cards.length, duplicates: 0, duplicateIndices: [], seq: last.seq, entryHash: last.hash });
    });
  }

  /** Publishes an analysis's flags (the aggregator only), as few entries as the limits allow. */
  async publishCommonPointFlags(flags: ValidCommonPointFlags): Promise<void> {
    this.assertOpen();
    const per = LIMITS.maxCommonPointFlagsPerEntry;
    await this.writer.enqueue((group) => {
      for (let i = 0; i < flags.flags.length; i += per) {
        const part: ValidCommonPointFlags = { analysedAtMs: flags.analysedAtMs, flags: flags.flags.slice(i, i + per) };
        this.signOwn(group, this.newestEpoch(), { commonPointFlags: part }, { operation: 'commonPointFlags', commonPointFlags: part });
      }
      return () => undefined;
    });
  }

  /** Changes this member's merchant watch list (kept by this node only); returns how many selectors it holds. */
  watchMerchants(merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number): number {
    this.assertOpen();
    if (!remove) this.requireActiveEpoch(keyEpoch);
    return this.merchantWatch.update(merchants, remove, keyEpoch);
  }

  private prepareRetract(retraction: ValidRetraction, group: WriteGroup): () => RetractOutcome {
    const inRequest = new Set<string>();
    const listed = retraction.selectors.filter((sel) => {
      const key = sel.digest.toString('latin1');
      // The same card twice in one request (two spellings of one number) is retracted once.
      if (inRequest.has(key)) return false;
      inRequest.add(key);
      return !group.retracted.has(key) && (group.published.has(key) || this.hasActiveOwnListing(sel.digest, group.now));
    });
    if (listed.length === 0) return () => ({ retracted: 0, notListed: retraction.selectors.length, seq: 0 });
    const op: ValidRetraction = { ...retraction, selectors: listed };
    const entry = this.signOwn(group, this.newestEpoch(), { retract: op }, { operation: 'retract', retraction: op });
    for (const sel of listed) {
      const key = sel.digest.toString('latin1');
      group.retracted.add(key);
      group.published.delete(key);
    }
    return () => ({ retracted: listed.length, notListed: retraction.selectors.length - listed.length, seq: entry.seq });
  }

  private newestEpoch(): number {
    const [newest] = activeEpochs(this.epochKeys);
    if (!newest) throw MamoriError.failedPrecondition('no hashing-key epoch is active; ask the consortium operator for a new epoch');
    return newest.epoch;
  }

  /** Signs the next entry of this member's feed onto the group; stored when the group commits. */
  private signOwn(
    group: WriteGroup,
    keyEpoch: number,
    operation: Parameters<typeof signNextEntry>[3],
    parts: Pick<AcceptedEntry, 'operation' | 'publication' | 'retraction' | 'cardTestingReport' | 'sightings' | 'keyEpochAck' | 'fraudReport' | 'commonPointFlags'>,
  ): AcceptedEntry {
    this.ownWrites.assertAcceptingWrites();
    const createdAtMs = Date.now();
    const head = group.head(this.member);
    const signed = signNextEntry(this.member, head, keyEpoch, operation, this.identity.signing.secretKey, createdAtMs);
    const accepted: AcceptedEntry = { origin: this.member, seq: head.seq + 1, createdAtMs, keyEpoch, ...signed, ...parts };
    group.append(accepted);
    return accepted;
  }

  private hasActiveOwnListing(digest: Buffer, now: number): boolean {
    if (!this.index.mayContain(digest)) return false;
    return this.store.listings(digest).some((l) => l.origin === this.member && isActive(l, now));
  }

  /** Checks selectors: a filter negative needs no SQLite; a positive is confirmed there. */
  check(selectors: readonly ValidSelector[], nowMs = Date.now()): CheckVerdict[] {
    this.assertOpen();
    const started = this.observers.size > 0 ? process.hrtime.bigint() : 0n;
    const verdicts = selectors.map((s) => (this.index.mayContain(s.digest) ? this.confirm(s.digest, nowMs) : NOT_LISTED));
    if (started !== 0n) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const hits = verdicts.reduce((n, v) => (v.listed ? n + 1 : n), 0);
      for (const o of this.observers) o.checked?.(verdicts.length, hits, seconds);
    }
    return verdicts;
  }

  private confirm(digest: Buffer, now: number): CheckVerdict {
    const verdict = verdictFromListings(this.store.listings(digest), now);
    return verdict.listed ? withCorroboration(verdict, this.store.sightingsOf(digest)) : verdict;
  }

  /**
   * Signs validated sightings as one entry of this member's feed. A client's BIN marks a
   * sighting as the card issuer's when it lies in this member's BIN ranges (issuers only);
   * the BIN itself goes no further.
   */
  async reportSightings(inputs: readonly ValidSightingInput[], keyEpoch: number): Promise<{ recorded: number; seq: number }> {
    this.assertOpen();
    this.requireActiveEpoch(keyEpoch);
    const ranges = this.roles.includes('issuer') ? (this.consortium.member(this.member)?.binRanges ?? []) : [];
    const sightings = sightingsForEntry(inputs, ranges);
    return this.writer.enqueue((group) => {
      const entry = this.signOwn(group, keyEpoch, { sightings: { sightings } }, { operation: 'sightings', sightings });
      return () => ({ recorded: sightings.length, seq: entry.seq });
    });
  }


  status() {
    const counts = this.store.counts();
    const own = this.ownHead();
    return {
      member: this.member,
      roles: this.roles,
      ownFeed: { origin: this.member, seq: own.seq, headHash: own.hash },
      feeds: [...this.writer.allHeads().entries()].map(([origin, h]) => ({ origin, seq: h.seq, headHash: h.hash })),
      entries: counts.entries,
      indicators: counts.indicators,
      filter: this.index.status(),
      keyEpoch: activeEpochs(this.epochKeys)[0]?.epoch ?? 0,
      startedAtMs: this.startedAtMs,
      keyEpochs: keyEpochStatuses(this.currentConsortium, this.keyEpochAcks.all()),
      damagedEntries: this.damagedEntries.count(),
      ownFeedRecovery: this.ownWrites.status(),
    };
  }

  integrityCheck(): string {
    return this.store.integrityCheck();
  }

  private assertOpen(): void {
    if (this.closed) throw new MamoriError('UNAVAILABLE', 'the node is shutting down');
  }

  close(): void {
    if (this.closed) return;
    this.index.close();
    this.walCheckpoints.stop();
    void this.scrub.close();
    this.detachCardTesting();
    this.detachMerchantWatch();
    this.detachCommonPoint();
    this.detachCardListings();
    this.detectionRetention.close();
    this.audit.close();
    this.closed = true;
    this.writer.close();
    this.store.close();
  }
}

