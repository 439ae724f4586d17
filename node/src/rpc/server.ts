// The member-local gRPC server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { loadGrpcTypes } from '../../../proto/ts/loader';
import type { NodeConfig } from '../config/node-config';
import { ConfigError } from '../config/errors';
import type { MamoriNode } from '../exchange/node';
import { tokenAuthenticator } from './auth';
import { exchangeHandlers } from './exchange-handlers';

export interface RunningServer {
  port: number;
  address: string;
  shutdown(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** HTTP/2 receive windows for the server: stream and connection. */
const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * grpc-js lets a client set its HTTP/2 receive window but not a server. With Node's default
 * 64 KiB window, a bulk publisher can have only 64 KiB in flight while the node commits the
 * previous batch, and the import turns into round trips (measured: ~98k vs ~120k PANs/s for
 * 1M cards). grpc-js keeps the HTTP/2 settings and servers in private fields; if they are
 * not there (another grpc-js version), the defaults stay and only throughput is affected.
 */
function widenFlowControlWindows(server: grpc.Server, log: Logger): void {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<{ on(event: 'session', listener: (session: { setLocalWindowSize(size: number): void }) => void): void }, unknown>;
  };
  if (!internals.commonServerOptions || !(internals.http2Servers instanceof Map)) {
    log.debug('grpc-js internals not found; HTTP/2 windows left at their defaults');
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: RECEIVE_WINDOW_BYTES };
  const servers = internals.http2Servers;
  const originalSet = servers.set.bind(servers);
  servers.set = (http2Server, value) => {
    http2Server.on('session', (session) => {
      try {
        session.setLocalWindowSize(RECEIVE_WINDOW_BYTES);
      } catch {
        // an older Node without setLocalWindowSize: the default window stays
      }
    });
    return originalSet(http2Server, value);
  };
}

export async function startExchangeServer(node: MamoriNode, config: NodeConfig, log: Logger): Promise<RunningServer> {
  const host = config.listen.slice(0, config.listen.lastIndexOf(':'));
  if (!LOOPBACK.test(host)) {
    // Until mutual TLS is configured, the API is served on loopback only.
    throw new ConfigError(config.configFile, [`listen: "${host}" is not a loopback address; without TLS the node serves on loopback only`]);
  }
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  widenFlowControlWindows(server, log);
  const types = loadGrpcTypes();
  server.addService(types.mamori.v1.Exchange.service, exchangeHandlers(node, log, tokenAuthenticator(config.clientTokenDigests)));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(config.listen, grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
  const address = `${host}:${port}`;
  return {
    port,
    address,
    shutdown: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
