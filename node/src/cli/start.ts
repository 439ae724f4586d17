// `mamori start`: runs one node until SIGINT or SIGTERM, then shuts down cleanly.
import pino from 'pino';
import { loadNodeConfig } from '../config/node-config';
import { MamoriNode } from '../exchange/node';
import { startExchangeServer } from '../rpc/server';

export async function startNode(configFile: string): Promise<void> {
  const config = loadNodeConfig(configFile);
  const log = pino({ level: config.logLevel, base: { member: config.member } });
  const node = await MamoriNode.open(config, log);
  let server;
  try {
    server = await startExchangeServer(node, config, log);
  } catch (error) {
    node.close();
    throw error;
  }
  log.info({ address: server.address, feedSeq: node.ownHead().seq }, 'node listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void server.shutdown().then(() => {
      node.close();
      log.info('stopped');
      log.flush?.();
      process.exitCode = 0;
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
