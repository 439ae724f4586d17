// What the gRPC handlers need from the node, as narrow interfaces (the way replication/ gets
// PeerLink and LedgerPort): the composition root (runtime/) hands each server its ports, and
// no handler reaches through a node object into its parts.
import type { AcceptedEntry } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import type { WatchedMerchant } from '../store/watch-store';
import type { MamoriNode } from '../exchange/node';
import type { MemberReports } from '../exchange/reports';
import type { BloomParams } from '../filter/digest-bloom';
import type { EpochKey } from '../membership/consortium';
import type { NodeObserver } from '../metrics/observer';
import type { PeerStatus } from '../replication/replicator';
import type { FrozenOrigin } from '../replication/ledger-port';
import type { StoredAlert } from '../store/alert-store';
import type { EvaluateRequest } from '../evaluation/evaluator-service';
import type { SelectorsResult } from '../evaluation/selector-evaluation';
import type { AuditChainStatus } from '../housekeeping/audit-log';

/** Entries as they commit: what Follow relays and the mirror streams. */
export interface CommittedEntries {
  on(event: 'committed', listener: (entries: readonly AcceptedEntry[]) => void): unknown;
  off(event: 'committed', listener: (entries: readonly AcceptedEntry[]) => void): unknown;
}

/** The member-local audit trail: counts only. */
export interface AuditRecorder {
  record(actor: string, action: string, details?: object): void;
  checked(caller: string, selectors: number, hits: number): void;
}

/** This member's alerts: pages by id, and an event when a new one is stored. */
export interface AlertSource {
  after(afterId: number, limit: number): StoredAlert[];
  on(event: 'alert', listener: () => void): unknown;
  off(event: 'alert', listener: () => void): unknown;
}

/** The node's Bloom filter for a client's mirror: a copy, and word when it is replaced. */
export interface FilterSource {
  copy(): { params: BloomParams; items: number; bits: Buffer };
  on(event: 'replaced', listener: () => void): unknown;
  off(event: 'replaced', listener: () => void): unknown;
}

/** The consortium in force and this member's hashing keys. */
export interface MembershipView {
  isMember(origin: string): boolean;
  hashingKeys(): EpochKey[];
  upcomingHashingKeys(): EpochKey[];
  requireActiveEpoch(epoch: number): number;
  /** The consortium's PAN-selector phase (membership/pan-selector-phase.ts). */
  panSelectorPhase(): 'keyed' | 'dual' | 'oblivious';
  /** The consortium's commonPoint.lookBackDays, when it names an aggregator. */
  commonPointLookBackDays(): number | undefined;
}

/** Origins frozen for equivocation, and the operator's unfreeze. */
export interface FrozenOrigins {
  frozenOrigins(): FrozenOrigin[];
  unfreeze(origin: string): boolean;
}

/** Counters the servers report to (metrics). */
export type RpcObserver = Required<Pick<NodeObserver, 'rateLimited' | 'streamReset' | 'authFailed'>>;

/** What Status shows of the node's own safeguards: the audit chain and refused authentications. */
export interface SecurityView {
  auditChain(): AuditChainStatus;
  /** Failed authentications on the member-local API since start, by reason. */
  authFailures(): Record<string, number>;
}

/** Threshold-PRF evaluation for this member's clients (evaluation/selector-evaluation.ts). */
export interface SelectorEvaluationPort {
  parameters(): SelectorsResult;
  evaluate(items: EvaluateRequest['items'], options: { verify: boolean; exclude: readonly string[]; deadlineMs: number }): Promise<SelectorsResult>;
  /** The OprfStatus of Status; undefined without an oprf section. */
  status(): object | undefined;
}

/** This node as an evaluator for peers (evaluation/evaluator-service.ts): elements, item-major. */
export interface PeerEvaluationPort {
  evaluate(member: string, request: EvaluateRequest): Promise<Buffer>;
}

/** Everything the member-local Exchange service uses. */
export interface ExchangePorts {
  node: Pick<MamoriNode, 'publish' | 'retract' | 'check' | 'checkPacked' | 'status'>;
  reports: Pick<MemberReports, 'reportCardTesting' | 'reportFraud' | 'reportSightings'>;
  membership: MembershipView;
  frozen: FrozenOrigins;
  alerts: AlertSource;
  watchList: { update(merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number): number };
  audit: AuditRecorder;
  filter: FilterSource;
  committed: CommittedEntries;
  peers(): PeerStatus[];
  observer: RpcObserver;
  /** Absent: EvaluatePanSelectors answers FAILED_PRECONDITION. */
  selectors?: SelectorEvaluationPort;
  security: SecurityView;
  /** The ConsortiumStatus of Status (membership/consortium-intake.ts). */
  consortium: { status(): object };
  /** The CertificateStatus of Status (runtime/certificate-watch.ts); absent without TLS. */
  certificate?: { status(): object };
  /** On a read replica: the FAILED_PRECONDITION every write call gets (rpc/replica-writes.ts). */
  writeRefusal(): Error | undefined;
  /** On a read replica: its signer as replicaOf names it (Status replica_of); empty on a signer. */
  replicaOf: string;
}

/** The consortium document in force, and where a newer one is handed in (membership/consortium-intake.ts). */
export interface ConsortiumDocumentPort {
  version(): number;
  signedDocument(): Buffer;
  /** Throws a MamoriError naming the field when the document is refused. */
  offer(signedDocument: Buffer, source: string): { taken: boolean; versionInForce: number };
}

/** Everything the Replication service for peers uses. */
export interface ReplicationPorts {
  isMember(origin: string): boolean;
  consortium: ConsortiumDocumentPort;
  heads(): ReadonlyMap<string, FeedHead>;
  entriesOf(origin: string, fromSeq: number, limit: number): { seq: number; body: Buffer; signature: Buffer }[];
  committed: CommittedEntries;
  observer: RpcObserver;
  /** Absent: Evaluate answers FAILED_PRECONDITION. */
  evaluator?: PeerEvaluationPort;
}
