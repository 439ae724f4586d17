// The narrow views each outer layer gets of an open node: the gRPC services (rpc/ports.ts) and
// the metrics (metrics/node-metrics.ts). Built here so no layer reaches through the node.
import type { MetricsSources } from '../metrics/node-metrics';
import type { PeerStatus } from '../replication/replicator';
import type { ExchangePorts, ReplicationPorts } from '../rpc/ports';
import type { OpenNode } from './open-node';
import { panSelectorPhase } from '../membership/pan-selector-phase';
import type { SelectorEvaluation } from '../evaluation/selector-evaluation';
import type { CertificateWatch } from './certificate-watch';

export function exchangePorts(open: OpenNode, peers: () => PeerStatus[] = () => [], selectors?: SelectorEvaluation, certificate?: CertificateWatch): ExchangePorts {
  const { membership } = open;
  return {
    node: open.node,
    reports: open.reports,
    membership: {
      isMember: (origin) => membership.memberKeys(origin) !== undefined,
      hashingKeys: () => membership.hashingKeys(),
      upcomingHashingKeys: () => membership.upcomingHashingKeys(),
      requireActiveEpoch: (epoch) => membership.requireActiveEpoch(epoch),
      panSelectorPhase: () => panSelectorPhase(membership.consortium),
      commonPointLookBackDays: () => membership.consortium.commonPoint?.lookBackDays,
    },
    frozen: open.ledger,
    alerts: open.alerts,
    watchList: open.merchantWatch,
    audit: open.audit,
    filter: open.index,
    committed: open.writer,
    peers,
    observer: open.events,
    selectors,
    security: {
      auditChain: () => open.audit.chainStatus(),
      authFailures: () => ({ ...open.events.totals.authFailures }),
    },
    consortium: open.consortiumIntake,
    certificate,
    writeRefusal: () => open.feed.ownWrites.writeRefusal,
    replicaOf: open.config.replicaOf ?? '',
  };
}

export function replicationPorts(open: OpenNode): ReplicationPorts {
  return {
    isMember: (origin) => open.membership.memberKeys(origin) !== undefined,
    consortium: open.consortiumIntake,
    heads: () => open.writer.allHeads(),
    entriesOf: (origin, fromSeq, limit) => open.ledger.entriesOf(origin, fromSeq, limit),
    committed: open.writer,
    observer: open.events,
    evaluator: open.evaluator,
  };
}

export function metricsSources(open: OpenNode, peers: () => PeerStatus[] = () => [], certificate?: CertificateWatch, selectors?: SelectorEvaluation): MetricsSources {
  return {
    member: open.config.member,
    status: () => open.node.status(),
    frozenOrigins: () => open.ledger.frozenOrigins(),
    databaseFile: open.databaseFile,
    storage: open.writer,
    scrub: open.scrub,
    walCheckpoints: open.walCheckpoints,
    watchedMerchants: () => open.merchantWatch.size,
    commonPoint: open.commonPoint,
    events: open.events,
    auditChain: () => open.audit.chainStatus(),
    peers,
    consortium: open.consortiumIntake,
    certificate,
    oprf: selectors && (() => selectors.counts()),
  };
}
