// `mamori start`: runs one node (runtime/run-node.ts) until SIGINT or SIGTERM, then shuts it
// down cleanly. A new consortium file (members added or removed) is picked up without a restart.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { ConfigError } from '../config/errors';
import { loadNodeConfig, type NodeConfig } from '../config/node-config';
import { runNode } from '../runtime/run-node';

export async function startNode(configFile: string, options: { insecureDev?: boolean } = {}): Promise<void> {
  const loaded = loadNodeConfigOrJoinHint(configFile);
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

/** A member directory made by `mamori member init` has no operator key until `mamori member join`: say so. */
function loadNodeConfigOrJoinHint(configFile: string): NodeConfig {
  try {
    return loadNodeConfig(configFile);
  } catch (error) {
    const dir = path.dirname(configFile);
    if (error instanceof ConfigError && error.problems.some((p) => p.startsWith('operatorPublicKey:')) && fs.existsSync(path.join(dir, 'join-request.json'))) {
      throw new Error(`${configFile}: this member has not joined a consortium yet; send ${path.join(dir, 'join-request.json')} to the operator, then run "mamori member join --dir ${dir} --response join-response.json"`);
    }
    throw error;
  }
}
