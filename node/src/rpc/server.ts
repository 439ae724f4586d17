// The member-local gRPC server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { loadGrpcTypes } from './grpc-types';
import type { NodeConfig } from '../config/node-config';
import { ConfigError } from '../config/errors';
import { MamoriError } from '../ledger/errors';
import type { ExchangePorts, ReplicationPorts } from './ports';
import { clientTokensOf, keepRepeatedAuthorization, tokenAuthenticator } from './auth';
import { exchangeHandlers } from './exchange-handlers';
import { peerMemberOf, peerServerCredentials, readConfiguredTlsMaterial, type TlsIdentity } from './peer-credentials';
import { replicationHandlers, type PeerIdentifier } from './replication-handlers';
import { INSECURE_PEER_HEADER } from './insecure-dev';
import { addOperationsServices } from './operations';
import { limitsOf, serverOptions } from './limits';
import { StreamWatch } from './streams';
import { bindFailure, isLoopbackHost } from '../config/addresses';
import { malformedRequestInterceptor, tolerantDeserializers } from './malformed-requests';
import { currentMemberInterceptor } from './peer-gate';

export interface RunningServer {
  port: number;
  address: string;
  /** Health turns NOT_SERVING (also done by shutdown): say it first when the node begins to stop. */
  markNotServing(): void;
  shutdown(): Promise<void>;
}


/** HTTP/2 receive windows for the server: stream and connection. */
const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * (Also: the hook below keeps repeated authorization headers visible, rpc/auth.ts.)
 *
 * grpc-js lets a client set its HTTP/2 receive window but not a server. With Node's default
 * 64 KiB window, a bulk publisher can have only 64 KiB in flight while the node commits the
 * previous batch, and the import turns into round trips (measured: ~98k vs ~120k PANs/s for
 * 1M cards). grpc-js keeps the HTTP/2 settings and servers in private fields; if they are
 * not there (another grpc-js version), the defaults stay and only throughput is affected.
 */
function widenFlowControlWindows(server: grpc.Server, log: Logger): void {
  const internals = server as unknown as {
    commonServerOptions?: { settings?: Record<string, unknown> };
    http2Servers?: Map<
      {
        on(event: 'session', listener: (session: { setLocalWindowSize(size: number): void }) => void): void;
        prependListener(event: 'stream', listener: typeof keepRepeatedAuthorization): void;
      },
      unknown
    >;
  };
  if (!internals.commonServerOptions || !(internals.http2Servers instanceof Map)) {
    log.debug('grpc-js internals not found; HTTP/2 windows left at their defaults');
    return;
  }
  internals.commonServerOptions.settings = { ...internals.commonServerOptions.settings, initialWindowSize: RECEIVE_WINDOW_BYTES };
  const servers = internals.http2Servers;
  const originalSet = servers.set.bind(servers);
  servers.set = (http2Server, value) => {
    // Before grpc-js reads the headers: repeated authorization headers stay visible (auth.ts).
    http2Server.prependListener('stream', keepRepeatedAuthorization);
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

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

async function startGrpcServer(
  field: 'listen' | 'peerListen',
  credentials: grpc.ServerCredentials,
  services: [grpc.ServiceDefinition, grpc.UntypedServiceImplementation][],
  config: NodeConfig,
  log: Logger,
  /** Run first, on every call of every service here, health and reflection included. */
  gates: grpc.ServerInterceptor[] = [],
): Promise<RunningServer> {
  // Message sizes both ways, concurrent streams, keepalive, connection age, deadlines (limits.ts).
  const options = serverOptions(limitsOf(config), config.maxMessageBytes);
  // Undecodable requests: INVALID_ARGUMENT instead of grpc-js's INTERNAL (malformed-requests.ts).
  options.interceptors = [...gates, ...(options.interceptors ?? []), malformedRequestInterceptor()];
  const server = new grpc.Server(options);
  widenFlowControlWindows(server, log);
  for (const [definition, handlers] of services) server.addService(tolerantDeserializers(definition), handlers);
  // Health and reflection: no bearer token needed (see operations.ts); on the peer server, mutual
  // TLS and the current-member gate (peer-gate.ts) still apply.
  const health = addOperationsServices(server, services.map(([definition]) => definition));
  const listen = field === 'listen' ? config.listen : (config.peerListen as string);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, credentials, (error, boundPort) => (error ? reject(bindFailure(config, field, listen, error)) : resolve(boundPort)));
  }).catch((error: unknown) => {
    server.forceShutdown();
    throw error;
  });
  health.serving();
  return {
    port,
    address: `${hostOf(listen)}:${port}`,
    markNotServing: () => health.notServing(),
    shutdown: () =>
      new Promise<void>((resolve) => {
        health.notServing();
        // Follow and mirror streams never end by themselves: give unary calls a moment, then cut.
        const force = setTimeout(() => server.forceShutdown(), 1000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/**
 * The member-local Exchange API, each call authenticated by the client token. On loopback
 * without TLS; beyond loopback only with apiTls: mutual TLS, client certificates from the
 * member's own API CA (docs/operations.md#member-api-tls).
 */
export async function startExchangeServer(ports: ExchangePorts, config: NodeConfig, log: Logger): Promise<RunningServer> {
  const host = hostOf(config.listen);
  if (!isLoopbackHost(host) && !config.apiTls) {
    throw new ConfigError(config.configFile, [
      `listen: "${host}" is not a loopback address; the member-local API is served beyond loopback only with apiTls (mutual TLS: mamori member api-tls)`,
    ]);
  }
  const credentials = config.apiTls ? peerServerCredentials(readConfiguredTlsMaterial(config.configFile, 'apiTls', config.apiTls)) : grpc.ServerCredentials.createInsecure();
  const limits = limitsOf(config);
  const streams = new StreamWatch(limits.streamStallMs, () => ports.observer.streamReset());
  const authenticate = tokenAuthenticator(clientTokensOf(config), log, (reason) => ports.observer.authFailed(reason));
  const handlers = exchangeHandlers(ports, { limits, maxMessageBytes: config.maxMessageBytes }, log, authenticate, streams);
  return startGrpcServer('listen', credentials, [[loadGrpcTypes().mamori.v1.Exchange.service, handlers]], config, log);
}

/**
 * The Replication service for peers: mutual TLS pinned to the consortium CA, the peer
 * identified by its certificate, every call (health and reflection too) refused unless that
 * certificate names a current member. Without TLS only in insecureDev mode, on loopback,
 * where a peer names itself in metadata (and health and reflection stay open).
 */
export async function startReplicationServer(ports: ReplicationPorts, config: NodeConfig, log: Logger, identity?: TlsIdentity): Promise<RunningServer | undefined> {
  if (!config.peerListen) return undefined;
  let credentials: grpc.ServerCredentials;
  let identify: PeerIdentifier;
  const gates: grpc.ServerInterceptor[] = [];
  if (config.tls) {
    // A TlsIdentity lets a renewed certificate be presented without a restart (runtime/certificate-watch.ts).
    credentials = peerServerCredentials(identity ?? readConfiguredTlsMaterial(config.configFile, 'tls', config.tls));
    identify = peerMemberOf;
    // A certificate from the consortium CA that names no current member gets no answer from any service.
    gates.push(currentMemberInterceptor((member) => ports.isMember(member), log, [OFFER_CONSORTIUM_PATH]));
  } else {
    if (!config.insecureDev) {
      throw new ConfigError(config.configFile, ['tls: is required to serve peers on peerListen (or set insecureDev: true for loopback experiments)']);
    }
    if (!isLoopbackHost(hostOf(config.peerListen))) {
      throw new ConfigError(config.configFile, [`peerListen: insecureDev serves peers on loopback only, not "${hostOf(config.peerListen)}"`]);
    }
    credentials = grpc.ServerCredentials.createInsecure();
    identify = insecureDevPeer;
  }
  const limits = limitsOf(config);
  const streams = new StreamWatch(limits.streamStallMs, () => ports.observer.streamReset());
  const handlers = replicationHandlers(ports, limits, log, identify, streams);
  return startGrpcServer('peerListen', credentials, [[loadGrpcTypes().mamori.v1.Replication.service, handlers]], config, log, gates);
}

/** The one Replication call open to a caller that is not a current member (peer-gate.ts). */
const OFFER_CONSORTIUM_PATH = '/mamori.v1.Replication/OfferConsortium';

/** insecureDev only: the peer's member id from metadata, trusted as given. */
function insecureDevPeer(call: { metadata: grpc.Metadata }): string {
  const [value] = call.metadata.get(INSECURE_PEER_HEADER);
  if (typeof value !== 'string') throw MamoriError.unauthenticated(`insecureDev: the peer must name itself in ${INSECURE_PEER_HEADER}`);
  return value;
}
