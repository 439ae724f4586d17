// `mamori start`: runs one node — its member-local API, its Replication service for peers,
// and replication with every peer — until SIGINT or SIGTERM, then shuts down cleanly.
// A new consortium file (members added or removed) is picked up without a restart.
import * as fs from 'node:fs';
import pino, { type Logger } from 'pino';
import { loadNodeConfig, type NodeConfig } from '../config/node-config';
import { Consortium } from '../membership/consortium';
import { MamoriNode } from '../exchange/node';
import { serveNodeMetrics, type RunningMetricsServer } from '../metrics';
import { Replicator } from '../replication/replicator';
import type { PeerLink } from '../replication/types';
import { grpcPeerLink } from '../rpc/grpc-peer-link';
import { peerChannelCredentials, readTlsMaterial } from '../rpc/peer-credentials';
import * as grpc from '@grpc/grpc-js';
import { insecureDevPeerMetadata } from '../rpc/insecure-dev';
import { startExchangeServer, startReplicationServer, type RunningServer } from '../rpc/server';
import { describeConsortiumChange, refusalReason } from '../membership/consortium-change';
import { configDigest } from './config-digest';
import { startOwnFeedRecovery, type RunningOwnFeedRecovery } from '../replication/own-feed-recovery';

export interface RunningNode {
  node: MamoriNode;
  exchange: RunningServer;
  replication: RunningServer | undefined;
  /** Prometheus metrics over HTTP, when the config has metricsListen. */
  metrics: RunningMetricsServer | undefined;
  replicator: Replicator;
  stop(): Promise<void>;
}

function peersOf(node: MamoriNode, config: NodeConfig): string[] {
  if (!config.tls && !config.insecureDev) return []; // no way to authenticate to peers: replicate with none
  const current = node.consortium.currentMembers().map((m) => m.id).filter((id) => id !== config.member);
  return config.peers ? current.filter((id) => config.peers?.includes(id)) : current;
}

/** Opens the node and starts its servers and replication (used by `mamori start` and tests). */
export async function runNode(config: NodeConfig, log: Logger): Promise<RunningNode> {
  const node = await MamoriNode.open(config, log);
  const servers: RunningServer[] = [];
  let metrics: RunningMetricsServer | undefined;
  let ownFeedRecovery: RunningOwnFeedRecovery | undefined;
  try {
    const connect = (peer: string): PeerLink => {
      const member = node.consortium.member(peer);
      if (!member) throw new Error(`"${peer}" is no longer a member`);
      if (config.tls) return grpcPeerLink(member.endpoint, peerChannelCredentials(readTlsMaterial(config.tls), peer), config.maxMessageBytes);
      return grpcPeerLink(member.endpoint, grpc.credentials.createInsecure(), config.maxMessageBytes, insecureDevPeerMetadata(config.member));
    };
    const replicator = new Replicator(node.ledgerPort(), (origin) => node.memberKeys(origin), connect, log, {
      antiEntropyIntervalMs: config.antiEntropyIntervalMs,
      backoffBaseMs: 200,
      backoffMaxMs: 10_000,
      ownWrites: node.ownWrites,
    });
    // Before the member-local API opens: no own entry is signed until the peers have said how
    // far they hold this member's feed (a node restored from a backup catches up first).
    ownFeedRecovery = startOwnFeedRecovery(
      { ledger: node.ledgerPort(), member: (origin) => node.memberKeys(origin), connect, ownOrigin: config.member, peers: () => peersOf(node, config), gate: node.ownWrites, log },
      config.ownFeedRecovery,
    );
    const exchange = await startExchangeServer(node, config, log, () => replicator.status());
    servers.push(exchange);
    const replication = await startReplicationServer(node, config, log);
    if (replication) servers.push(replication);
    if (config.metricsListen) metrics = await serveNodeMetrics(node, () => replicator.status(), config.metricsListen, log);
    replicator.setPeers(peersOf(node, config));
    if (!config.tls && !config.insecureDev) log.warn('no tls in the node config: this node replicates with no peer');
    node.audit.record('node', 'node.start', { consortiumVersion: node.consortium.document.version, feedSeq: node.ownHead().seq, configDigest: configDigest(config) });
    node.audit.startRetention(config.audit.retentionDays);
    node.detectionRetention.start();
    // A key epoch issued while this node was down is acknowledged now (epoch-acks.ts).
    const acknowledgeKeyEpochs = () => void node.acknowledgeKeyEpochs().catch((error: unknown) => log.error({ err: error }, 'key epoch acknowledgement failed'));
    void ownFeedRecovery.done.then((state) => {
      if (state !== 'stopped') acknowledgeKeyEpochs();
    });
    node.startScrub((origin, seq) => replicator.copiesOf(origin, seq));

    // Membership changes: poll the consortium file; a valid new version replaces the old.
    let lastMtime = fs.statSync(config.consortiumFile).mtimeMs;
    const reload = () => {
      try {
        const mtime = fs.statSync(config.consortiumFile).mtimeMs;
        if (mtime === lastMtime) return;
        lastMtime = mtime;
        const next = Consortium.load(config.consortiumFile, config.operatorPublicKey);
        if (next.document.version <= node.consortium.document.version) {
          log.warn({ version: next.document.version }, 'consortium file not newer than the one in force; ignored');
          node.audit.record('node', 'consortium.refused', {
            versionInForce: node.consortium.document.version,
            version: next.document.version,
            reason: 'not newer than the version in force',
          });
          return;
        }
        const change = describeConsortiumChange(node.consortium, next);
        node.replaceConsortium(next);
        replicator.setPeers(peersOf(node, config));
        log.info({ version: next.document.version, members: next.currentMembers().map((m) => m.id) }, 'consortium file reloaded');
        node.audit.record('node', 'consortium.reload', change);
        acknowledgeKeyEpochs();
      } catch (error) {
        log.error({ err: error }, 'new consortium file refused; the one in force stays');
        node.audit.record('node', 'consortium.refused', { versionInForce: node.consortium.document.version, reason: refusalReason(error) });
      }
    };
    const poll = setInterval(reload, config.consortiumPollMs);
    poll.unref();

    return {
      node,
      exchange,
      replication,
      metrics,
      replicator,
      stop: async () => {
        for (const s of servers) s.markNotServing();
        clearInterval(poll);
        await ownFeedRecovery?.stop();
        await metrics?.close();
        // Stopping the replicator ends any peer fetch a repair is waiting on.
        const scrubStopped = node.scrub.stop();
        await replicator.stop();
        await scrubStopped;
        await Promise.all(servers.map((s) => s.shutdown()));
        node.audit.record('node', 'node.stop', { feedSeq: node.ownHead().seq, configDigest: configDigest(config) });
        node.close();
      },
    };
  } catch (error) {
    await ownFeedRecovery?.stop();
    await metrics?.close();
    await Promise.all(servers.map((s) => s.shutdown()));
    node.close();
    throw error;
  }
}

export async function startNode(configFile: string, options: { insecureDev?: boolean } = {}): Promise<void> {
  const loaded = loadNodeConfig(configFile);
  // --insecure-dev drops TLS for replication; startReplicationServer then insists on loopback.
  const config: NodeConfig = options.insecureDev ? Object.freeze({ ...loaded, insecureDev: true, tls: undefined }) : loaded;
  const log = pino({ level: config.logLevel, base: { member: config.member } });
  const running = await runNode(config, log);
  log.info({ address: running.exchange.address, peerAddress: running.replication?.address, metricsAddress: running.metrics?.address, feedSeq: running.node.ownHead().seq }, 'node listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void running.stop().then(() => {
      log.info('stopped');
      log.flush?.();
      process.exitCode = 0;
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
