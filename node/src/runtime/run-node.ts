// The composition root of a running node (`mamori start`, the dev consortium and tests): opens
// the node (open-node.ts), then starts its member-local API, its Replication service for
// peers, metrics, replication with every peer and the background work, and stops all of it
// in the reverse order. Nothing here speaks gRPC: rpc/ does, behind the functions it exports.
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/node-config';
import type { MamoriNode } from '../exchange/node';
import { serveNodeMetrics, type RunningMetricsServer } from '../metrics';
import { startOwnFeedRecovery } from '../replication/own-feed-recovery';
import { Replicator } from '../replication/replicator';
import { ConsortiumGossip } from '../replication/consortium-gossip';
import type { PeerLink } from '../replication/types';
import { dialPeer } from '../rpc/dial-peer';
import { readConfiguredTlsMaterial, TlsIdentity, type TlsMaterial } from '../rpc/peer-credentials';
import { checkEndpointCertificate } from './endpoint-certificate';
import { CertificateWatch } from './certificate-watch';
import { dialEvaluator } from '../rpc/evaluator-link';
import { SelectorEvaluation, type EvaluatorLink } from '../evaluation/selector-evaluation';
import { startExchangeServer, startReplicationServer, type RunningServer } from '../rpc/server';
import { bindFailure } from '../config/addresses';
import { configDigest } from './config-digest';
import { watchConsortiumFile } from './consortium-reload';
import { openNode, type OpenNode } from './open-node';
import { exchangePorts, metricsSources, replicationPorts } from './ports';

export interface RunningNode {
  node: MamoriNode;
  /** Every object of the node (stores, detectors, housekeeping), for operations tools and tests. */
  parts: OpenNode;
  exchange: RunningServer;
  replication: RunningServer | undefined;
  /** Prometheus metrics over HTTP, when the config has metricsListen. */
  metrics: RunningMetricsServer | undefined;
  replicator: Replicator;
  stop(): Promise<void>;
}

/** A node with its member-local API only: no peers, no background work (tools and in-process tests). */
export interface ExchangeNode {
  node: MamoriNode;
  parts: OpenNode;
  server: RunningServer;
  stop(): Promise<void>;
}

function peersOf(parts: OpenNode, config: NodeConfig): string[] {
  if (!config.tls && !config.insecureDev) return []; // no way to authenticate to peers: replicate with none
  const current = parts.membership.consortium.currentMembers().map((m) => m.id).filter((id) => id !== config.member);
  return config.peers ? current.filter((id) => config.peers?.includes(id)) : current;
}

/** Links to the peer evaluators, dialled when first needed and kept while the peer stays at its endpoint. */
function evaluatorLinks(parts: OpenNode, config: NodeConfig, tls: () => TlsMaterial | undefined): { link(peer: string): EvaluatorLink | undefined; close(): void } {
  const links = new Map<string, { endpoint: string; link: EvaluatorLink }>();
  return {
    link: (peer) => {
      if (!config.tls && !config.insecureDev) return undefined; // no way to authenticate to peers
      const member = parts.membership.consortium.member(peer);
      const known = links.get(peer);
      if (!member || (known && known.endpoint !== member.endpoint)) {
        known?.link.close();
        links.delete(peer);
      }
      if (!member) return undefined;
      let entry = links.get(peer);
      if (!entry) {
        entry = { endpoint: member.endpoint, link: dialEvaluator(config, peer, member.endpoint, tls()) };
        links.set(peer, entry);
      }
      return entry.link;
    },
    close: () => {
      for (const { link } of links.values()) link.close();
      links.clear();
    },
  };
}

function selectorEvaluation(parts: OpenNode, link: (peer: string) => EvaluatorLink | undefined): SelectorEvaluation {
  return new SelectorEvaluation({
    member: parts.config.member,
    evaluator: parts.evaluator,
    link,
    log: parts.log,
    publishedCounts: () => parts.oprfCounts.published(Date.now() - 48 * 3_600_000, 1_000),
  });
}

export async function runExchangeNode(config: NodeConfig, log: Logger): Promise<ExchangeNode> {
  const parts = await openNode(config, log);
  try {
    // No peers here: only this node's own evaluation is reachable.
    const server = await startExchangeServer(exchangePorts(parts, () => [], selectorEvaluation(parts, () => undefined)), config, log);
    return {
      node: parts.node,
      parts,
      server,
      stop: async () => {
        await server.shutdown();
        parts.close();
      },
    };
  } catch (error) {
    parts.close();
    throw error;
  }
}

/** Opens the node and starts its servers, replication and background work. */
export async function runNode(config: NodeConfig, log: Logger): Promise<RunningNode> {
  const parts = await openNode(config, log);
  const { audit, membership, feed } = parts;
  /** What has been started, each with its stop; stopped last-started first. */
  const started: { stop: () => void | Promise<void> }[] = [];
  const stopAll = async () => {
    for (const s of started.splice(0).reverse()) await s.stop();
  };
  try {
    // The member certificate in force: renewed without a restart (certificate-watch.ts).
    const identity = config.tls ? new TlsIdentity(readConfiguredTlsMaterial(config.configFile, 'tls', config.tls)) : undefined;
    if (identity) checkEndpointCertificate(config, membership.consortium, identity.current.cert);
    const certificates = identity && config.tls ? await CertificateWatch.open({ member: config.member, files: config.tls, identity, pollMs: config.consortiumPollMs, audit, log }) : undefined;
    if (certificates) started.push({ stop: certificates.start() });
    const connect = (peer: string): PeerLink => {
      const member = membership.consortium.member(peer);
      if (!member) throw new Error(`"${peer}" is no longer a member`);
      return dialPeer(config, peer, member.endpoint, identity?.current);
    };
    const memberKeys = (origin: string) => membership.memberKeys(origin);
    // The consortium document travels with replication (docs/design.md#membership-carried-by-replication).
    const gossip = new ConsortiumGossip(parts.consortiumIntake, log);
    const replicator = new Replicator(parts.ledger.port(), memberKeys, connect, log, {
      antiEntropyIntervalMs: config.antiEntropyIntervalMs,
      backoffBaseMs: 200,
      backoffMaxMs: 10_000,
      rejectionBackoffBaseMs: config.rejectionBackoff.baseMs,
      rejectionBackoffMaxMs: config.rejectionBackoff.maxMs,
      ownWrites: feed.ownWrites,
      readReplica: config.replicaOf !== undefined,
      consortium: gossip,
    });
    started.push({ stop: () => replicator.stop() });
    // Before the member-local API opens: no own entry is signed until the peers have said how
    // far they hold this member's feed (a node restored from a backup catches up first).
    // A read replica never signs: no recovery as a writer (its gate refuses every own write).
    const ownFeedRecovery =
      config.replicaOf === undefined
        ? startOwnFeedRecovery(
            { ledger: parts.ledger.port(), member: memberKeys, connect, ownOrigin: config.member, peers: () => peersOf(parts, config), gate: feed.ownWrites, log },
            config.ownFeedRecovery,
          )
        : { done: Promise.resolve('stopped' as const), stop: async () => undefined };
    started.push({ stop: () => ownFeedRecovery.stop() });
    // Servers close after replication and the scrub have stopped (see stop below): first in the list, last to stop.
    const servers: RunningServer[] = [];
    started.unshift({ stop: () => Promise.all(servers.map((s) => s.shutdown())).then(() => undefined) });
    // A key epoch issued while this node was down is acknowledged once own writes open (below).
    const acknowledgeKeyEpochs = () => {
      if (config.replicaOf !== undefined) return; // the member's acknowledgements are its signer's to sign
      void parts.acknowledger.acknowledge().catch((error: unknown) => log.error({ err: error }, 'key epoch acknowledgement failed'));
    };
    // Before the peer server opens: a document a peer offers at once is applied in full.
    parts.consortiumIntake.onChanged(() => {
      replicator.setPeers(peersOf(parts, config));
      parts.evaluator.reload();
      acknowledgeKeyEpochs();
      // Tell the peers connected now at once, rather than at their next Heads call.
      for (const { peer, link } of replicator.connectedLinks()) if (link.consortium) void gossip.offerTo(peer, link.consortium);
    });
    const links = evaluatorLinks(parts, config, () => identity?.current);
    started.push({ stop: () => links.close() });
    const selectors = selectorEvaluation(parts, links.link);
    const exchange = await startExchangeServer(exchangePorts(parts, () => replicator.status(), selectors, certificates), config, log);
    servers.push(exchange);
    const replication = await startReplicationServer(replicationPorts(parts), config, log, identity);
    if (replication) servers.push(replication);
    const metrics = config.metricsListen
      ? await serveNodeMetrics(metricsSources(parts, () => replicator.status(), certificates, selectors), config.metricsListen, log).catch((error: unknown) => {
          throw bindFailure(config, 'metricsListen', config.metricsListen as string, error);
        })
      : undefined;
    if (metrics) started.push({ stop: () => metrics.close() });
    replicator.setPeers(peersOf(parts, config));
    if (!config.tls && !config.insecureDev) log.warn('no tls in the node config: this node replicates with no peer');
    if (config.replicaOf !== undefined) log.info({ signer: config.replicaOf }, 'read replica: follows every feed and serves checks; writes are refused and go to the signer');
    audit.record('node', 'node.start', { consortiumVersion: membership.consortium.document.version, feedSeq: feed.head().seq, configDigest: configDigest(config) });
    audit.startRetention(config.audit.retentionDays);
    parts.detectionRetention.start();
    started.push({ stop: () => parts.detectionRetention.close() });
    // A key epoch issued while this node was down is acknowledged now (membership/epoch-acks.ts).
    void ownFeedRecovery.done.then((state) => {
      if (state !== 'stopped') acknowledgeKeyEpochs();
      // Evaluation counts (docs/oprf.md): closed buckets published once own writes are open.
      if (state !== 'stopped') parts.countPublisher.start();
    });
    started.push({ stop: () => parts.countPublisher.stop() });
    if (config.scrub.enabled) parts.scrub.start((origin, seq) => replicator.copiesOf(origin, seq));
    const stopWatching = watchConsortiumFile(config, parts.consortiumIntake, log);
    started.push({ stop: stopWatching });

    return {
      node: parts.node,
      parts,
      exchange,
      replication,
      metrics,
      replicator,
      stop: async () => {
        for (const s of servers) s.markNotServing();
        // Stopping the replicator ends any peer fetch a repair is waiting on: the scrub stops alongside.
        const scrubStopped = parts.scrub.stop();
        await stopAll();
        await scrubStopped;
        audit.record('node', 'node.stop', { feedSeq: feed.head().seq, configDigest: configDigest(config) });
        parts.close();
      },
    };
  } catch (error) {
    await stopAll();
    parts.close();
    throw error;
  }
}
