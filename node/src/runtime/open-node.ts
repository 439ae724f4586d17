// Opens a node: every store once, the ledger verified, the filter loaded, the writer, the
// detectors, housekeeping and the node object wired together. What it starts (WAL checkpoints,
// detectors on the writer) it stops in close(), in reverse order; runtime/run-node.ts adds the
// servers, replication and the background work on top.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { sodiumReady } from '../../../proto/ts/sodium';
import type { NodeConfig } from '../config/node-config';
import { ConfigError } from '../config/errors';
import { openSealed } from '../crypto/sealed-box';
import { AlertFeed } from '../detection/alert-feed';
import { CardListingDetector } from '../detection/card-listings';
import { CardTestingDetector } from '../detection/card-testing';
import { CommonPointAnalyser } from '../detection/common-point';
import { MerchantWatch } from '../detection/merchant-watch';
import { IssuerNoticeKeys } from '../exchange/issuer-routing';
import { MamoriNode } from '../exchange/node';
import { OwnFeed } from '../exchange/own-feed';
import { MemberReports } from '../exchange/reports';
import { loadFilter } from '../filter/filter-loader';
import { SelectorIndex } from '../filter/selector-index';
import { AuditLog } from '../housekeeping/audit-log';
import { DetectionRetention } from '../housekeeping/detection-retention';
import { WalCheckpointer } from '../housekeeping/wal-checkpoint';
import { DamagedEntryStore } from '../integrity/damaged-entries';
import { DerivedState } from '../integrity/derived-state';
import { loadOrCreateNodeKey } from '../integrity/node-key';
import { LedgerScrub } from '../integrity/scrub';
import { verifyAtStart, type StartUpStats } from '../integrity/start-up';
import { VerificationCheckpoints } from '../integrity/verification-checkpoint';
import { KeyEpochAcknowledger } from '../membership/acknowledge-epochs';
import { Consortium, loadMemberIdentity, type MemberIdentity } from '../membership/consortium';
import { MemberState } from '../membership/member-state';
import { ConsortiumIntake } from '../membership/consortium-intake';
import { NodeEvents } from '../metrics/observer';
import { ReplicatedLedger } from '../replication/ledger-port';
import { OwnWriteGate } from '../replication/own-write-gate';
import { CommonPointStore } from '../store/common-point-store';
import { KeyEpochAckStore } from '../store/key-epoch-ack-store';
import { databaseFile } from '../store/database';
import { LedgerStore } from '../store/ledger-store';
import { LedgerWriter } from '../store/ledger-writer';
import { WatchStore } from '../store/watch-store';
import { EvaluationCountStore } from '../store/evaluation-count-store';
import { EvaluatorService } from '../evaluation/evaluator-service';
import { oprfReady } from '../../../proto/ts/oprf/group';
import { OprfCountStore } from '../store/oprf-count-store';
import { EvaluationCountPublisher } from '../evaluation/count-publisher';
import { OprfEnumerationDetector } from '../detection/oprf-enumeration';
import { auditPublicKeyOf, auditSigningKeyOf } from '../membership/audit-key';

/** Every object of an open node; each built once. */
export interface OpenNode {
  config: NodeConfig;
  log: Logger;
  node: MamoriNode;
  membership: MemberState;
  feed: OwnFeed;
  reports: MemberReports;
  acknowledger: KeyEpochAcknowledger;
  ledger: ReplicatedLedger;
  writer: LedgerWriter;
  index: SelectorIndex;
  events: NodeEvents;
  alerts: AlertFeed;
  merchantWatch: MerchantWatch;
  /** Common-point analysis, on the consortium's aggregator only (the consortium file in force at start). */
  commonPoint: CommonPointAnalyser | undefined;
  audit: AuditLog;
  /** Where a newer consortium document enters, from the file or a peer (membership/consortium-intake.ts). */
  consortiumIntake: ConsortiumIntake;
  /** This node as a threshold-PRF evaluator (seeds opened from the consortium file in force). */
  evaluator: EvaluatorService;
  /** This evaluator's published evaluation counts (started by run-node), and every evaluator's stored ones. */
  countPublisher: EvaluationCountPublisher;
  oprfCounts: OprfCountStore;
  detectionRetention: DetectionRetention;
  damagedEntries: DamagedEntryStore;
  derivedState: DerivedState;
  scrub: LedgerScrub;
  walCheckpoints: WalCheckpointer;
  databaseFile: string;
  integrityCheck(): string;
  close(): void;
}

/** Checks the member key file against the config and the consortium file; returns both loaded. */
function loadMembership(config: NodeConfig): { membership: MemberState; identity: MemberIdentity } {
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
  // A replica without the signing key, or a signer with it: never a node that signs by accident.
  if (config.replicaOf !== undefined && identity.signing.secretKey) {
    throw new ConfigError(config.memberKeyFile, ["signing.secretKey: a read replica (replicaOf in the node config) runs without the member's signing key; use the key file \"mamori member replica\" writes"]);
  }
  if (config.replicaOf === undefined && !identity.signing.secretKey) {
    throw new ConfigError(config.memberKeyFile, ['signing.secretKey: missing: this is a read replica\'s key file; set replicaOf in the node config, or add the signing key to promote the node to signer']);
  }
  // An audit key whose endorsement does not verify is refused before anything is opened.
  auditPublicKeyOf(identity, identity.signing.publicKey, config.memberKeyFile);
  const membership = new MemberState(config.member, identity, config.consortiumFile, consortium, consortium.openEpochKeys(identity, config.consortiumFile));
  return { membership, identity };
}

export async function openNode(config: NodeConfig, log: Logger): Promise<OpenNode> {
  await sodiumReady();
  await oprfReady();
  const { membership, identity } = loadMembership(config);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The data directory holds the ledger, the audit log and the filter: this member's only.
  if ((fs.statSync(config.dataDir).mode & 0o077) !== 0) {
    log.warn({ dataDir: config.dataDir }, 'the data directory was readable by others: narrowed to 0700');
    fs.chmodSync(config.dataDir, 0o700);
  }
  const started = Date.now();
  const file = databaseFile(config.dataDir);
  // The node-local key (integrity/node-key.ts): MACs the derived rows and the filter snapshot.
  const nodeKey = loadOrCreateNodeKey(config.dataDir);
  const store = LedgerStore.open(file, { maxDatabaseMb: config.storage?.maxDatabaseMb, derivedKey: nodeKey.key });
  const stops: (() => void)[] = [() => store.close()];
  const closeAll = () => {
    for (const stop of stops.splice(0).reverse()) stop();
  };
  try {
    const consortium = membership.consortium;
    const damagedEntries = new DamagedEntryStore(store.db);
    const keysOf = (origin: string) => consortium.memberKeys(origin) ?? consortium.formerMemberKeys(origin);
    const checkpoints = new VerificationCheckpoints(store.db, nodeKey.key);
    const verification = verifyAtStart(store, {
      ownOrigin: config.member,
      keysOf,
      damage: damagedEntries,
      checkpoints,
      mode: config.scrub.startUpVerification,
      scrubEnabled: config.scrub.enabled,
      log,
    });
    const heads = verification.heads;
    const verifiedMs = Date.now() - started;
    const startUp: StartUpStats = { entriesVerified: verification.entriesVerified, checkpointRowId: verification.checkpointRowId, fullReason: verification.fullReason, entriesVerifiedMs: verifiedMs };
    // The rows a Check reads, against the entries just verified (before the filter: a rebuild reads them).
    const derivedState = new DerivedState(store, nodeKey.key, keysOf, log);
    if (nodeKey.created && store.maxEntryId() > 0) {
      log.warn('node-local key created for a database that holds entries: derived-state digests are recomputed from the signed entries and the filter snapshot rebuilt');
      store.db.exec('DELETE FROM derived_digests');
    }
    derivedState.checkAtStart();
    const loaded = loadFilter(store, config.dataDir, config.filter, nodeKey.key);
    if (loaded.rejected && !nodeKey.created) derivedState.snapshotRejected(loaded.rejected);
    log.info(
      { entriesVerified: verification.entriesVerified, fromCheckpointRow: verification.checkpointRowId, entriesVerifiedMs: verifiedMs, derivedCheckedMs: derivedState.stats.startUpCheckMs, filterSource: loaded.source, filterReason: loaded.reason, readyMs: Date.now() - started },
      'ledger verified and filter ready',
    );
    const settings = { ...config.filter, dataDir: config.dataDir, snapshotIntervalMs: config.snapshotIntervalMs, snapshotKey: nodeKey.key };
    const index = new SelectorIndex(loaded.filter, store, settings, log, loaded.source === 'snapshot');
    derivedState.attachFilter((digests) => index.added(digests));
    const writer = new LedgerWriter(store, heads, index, log);
    stops.push(() => writer.close(), () => index.close());

    const events = new NodeEvents();
    const ownWrites = new OwnWriteGate();
    if (config.replicaOf !== undefined) ownWrites.refuseAsReplica(config.member, config.replicaOf);
    const feed = new OwnFeed(config.member, identity.signing.secretKey, writer, ownWrites);
    stops.push(() => feed.close());
    const keyEpochAcks = new KeyEpochAckStore(store.db);
    const noticeKeys = IssuerNoticeKeys.forMember(identity.box, () => membership.consortium);
    const node = new MamoriNode({ membership, feed, store, index, keyEpochAcks, damagedEntries, derivedState, startUp, events, noticeKeys });
    const reports = new MemberReports(feed, membership);
    const audit = new AuditLog(store.db, log, {
      member: config.member,
      ...auditSigningKeyOf(identity, config.memberKeyFile),
      retentionDays: config.audit.retentionDays,
    });
    stops.push(() => audit.close());
    const oprfCounts = new OprfCountStore(store.db);
    const countSettings = () => membership.consortium.document.oprf?.counts;
    const binRangesOf = (member: string) => membership.consortium.member(member)?.binRanges ?? [];
    const countPublisher = new EvaluationCountPublisher({
      member: config.member,
      store: oprfCounts,
      settings: countSettings,
      publish: (entries) => reports.publishOprfEvaluationCounts(entries),
      binRangesOf,
      log,
    });
    stops.push(() => countPublisher.stop());
    const evaluator = new EvaluatorService({
      member: config.member,
      box: identity.box,
      section: () => membership.consortium.document.oprf,
      binRanges: (member) => membership.consortium.member(member)?.binRanges ?? [],
      counts: new EvaluationCountStore(store.db),
      tally: countPublisher,
      audit,
      log,
      replica: config.replicaOf !== undefined,
    });
    stops.push(() => evaluator.close());
    audit.checkAtStart();
    const consortiumIntake = new ConsortiumIntake({ membership, consortiumFile: config.consortiumFile, operatorPublicKey: config.operatorPublicKey, audit, log });
    const acknowledger = new KeyEpochAcknowledger(feed, membership, keyEpochAcks, audit, log);

    // Detection: each detector examines every commit; alerts go to the one feed.
    const alerts = new AlertFeed(store.db, config.member);
    const binRanges = () => membership.binRanges();
    const open = (sealed: Buffer) => openSealed(sealed, identity.box);
    const cardTesting = new CardTestingDetector(alerts, config.member, binRanges, config.cardTesting, log);
    stops.push(cardTesting.attach(writer));
    const cardListings = new CardListingDetector(alerts, store.db, config.member, binRanges, log, noticeKeys);
    stops.push(cardListings.attach(writer));
    const oprfEnumeration = new OprfEnumerationDetector(alerts, oprfCounts, config.member, countSettings, binRangesOf, log);
    stops.push(oprfEnumeration.attach(writer));
    const merchantWatch = new MerchantWatch(new WatchStore(store.db), alerts, config.member, log);
    stops.push(merchantWatch.attach(writer));
    const aggregator = consortium.commonPoint;
    let commonPoint: CommonPointAnalyser | undefined;
    let commonPointStore: CommonPointStore | undefined;
    // A replica of the aggregator analyses nothing: it could not publish the flags.
    if (aggregator?.aggregator === config.member && config.replicaOf === undefined) {
      commonPointStore = new CommonPointStore(store.db);
      const analysis = { ...aggregator, intervalMs: config.commonPointIntervalMs };
      commonPoint = new CommonPointAnalyser(commonPointStore, analysis, { open, publish: (flags) => reports.publishCommonPointFlags(flags) }, log);
      stops.push(commonPoint.attach(writer));
    }

    // Housekeeping and integrity.
    const detectionRetention = new DetectionRetention(
      { alerts, commonPoint: commonPointStore, audit, log },
      { alertRetentionDays: config.alerts.retentionDays, cardTestingWindowMinutes: config.cardTesting.windowMinutes, commonPointLookBackDays: commonPoint && aggregator?.lookBackDays },
    );
    stops.push(() => detectionRetention.close());
    commonPoint?.on('analysed', () => detectionRetention.pruneLogged());
    const scrub = new LedgerScrub({ store, damage: damagedEntries, members: () => membership.storedEntryKeys(), databaseFile: file, log, derived: derivedState, checkpoints }, config.scrub);
    stops.push(() => void scrub.close());
    const walCheckpoints = new WalCheckpointer(
      store.db,
      `${file}-wal`,
      { intervalMs: config.walCheckpointIntervalMs, truncateAboveBytes: config.walTruncateAboveBytes, longReadOpen: () => scrub.longReadOpen },
      log,
    );
    walCheckpoints.start();
    stops.push(() => walCheckpoints.stop());

    return {
      config,
      log,
      node,
      membership,
      feed,
      reports,
      acknowledger,
      ledger: new ReplicatedLedger(store, writer, config.member),
      writer,
      index,
      events,
      alerts,
      merchantWatch,
      commonPoint,
      audit,
      evaluator,
      consortiumIntake,
      countPublisher,
      oprfCounts,
      detectionRetention,
      damagedEntries,
      derivedState,
      scrub,
      walCheckpoints,
      databaseFile: file,
      integrityCheck: () => store.integrityCheck(),
      close: closeAll,
    };
  } catch (error) {
    closeAll();
    throw error;
  }
}
