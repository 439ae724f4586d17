// `mamori start`: runs one node (runtime/run-node.ts) until SIGINT or SIGTERM, then shuts it
// down cleanly. A new consortium file (members added or removed) is picked up without a restart.
import pino from 'pino';
import { loadNodeConfig, type NodeConfig } from '../config/node-config';
import { runNode } from '../runtime/run-node';

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
