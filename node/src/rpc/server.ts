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
