// The channel to the member's node: one grpc-js client, unary calls that always carry a
// deadline, and a count of every RPC sent (what stats() reports and tests assert on). The only
// SDK module that imports grpc-js: the mirror's channel is opened here too, and the rest of the
// SDK names grpc-js types through the aliases below.
import * as grpc from '@grpc/grpc-js';
import { checkServerIdentity } from 'node:tls';
import { loadMamoriPackageDefinition, type MamoriGrpcTypes } from '../../proto/ts/loader';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import { MamoriClientError } from './errors';

export type ChannelCredentials = grpc.ChannelCredentials;
export type ClientReadableStream<T> = grpc.ClientReadableStream<T>;
export type ServiceError = grpc.ServiceError;

let grpcTypes: MamoriGrpcTypes | undefined;

/** The generated gRPC package object (service constructors). */
function loadGrpcTypes(): MamoriGrpcTypes {
  grpcTypes ??= grpc.loadPackageDefinition(loadMamoriPackageDefinition()) as unknown as MamoriGrpcTypes;
  return grpcTypes;
}

/** What opening the channel needs of the client's options. */
export interface ChannelSettings {
  readonly target: string;
  readonly token: string;
  readonly credentials: ChannelCredentials | undefined;
  readonly reconnect: { readonly initialBackoffMs: number; readonly maxBackoffMs: number };
}

/**
 * Mutual TLS to a node's member API served beyond loopback: trust only this CA, present this
 * client certificate. The node's certificate must name the target's host, or serverName when
 * given (a node reached through an address its certificate does not list).
 */
export function mutualTlsCredentials(material: { ca: Buffer; cert: Buffer; key: Buffer; serverName?: string }): ChannelCredentials {
  const { serverName } = material;
  return grpc.credentials.createSsl(material.ca, material.key, material.cert, serverName ? { checkServerIdentity: (_host, cert) => checkServerIdentity(serverName, cert) } : {});
}

/** A channel of its own for the filter mirror's long stream, and the metadata that carries the token. */
export function openMirrorChannel(target: string, token: string, credentials: ChannelCredentials | undefined): { stub: ExchangeClient; metadata: grpc.Metadata } {
  const { Exchange } = loadGrpcTypes().mamori.v1;
  const stub = new Exchange(target, credentials ?? grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5000,
    'grpc-node.flow_control_window': 4 * 1024 * 1024,
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return { stub, metadata };
}

/**
 * What the SDK uses of a grpc-js bidirectional call: write, half-close, cancel, and the events
 * 'data', 'status' (the call's end, OK or not) and 'error' (the same end as a ServiceError).
 */
export interface DuplexCall<Req, Res> {
  write(message: Req): boolean;
  end(): void;
  cancel(): void;
  on(event: 'data', listener: (message: Res) => void): this;
  on(event: 'status', listener: (status: { code: number; details: string }) => void): this;
  on(event: 'error', listener: (error: ServiceError) => void): this;
}

/** True for the error a stream ends with when this side cancelled it. */
export function isCancelled(error: ServiceError): boolean {
  return error.code === grpc.status.CANCELLED;
}

/** The unary RPCs the client sends (stats() counts each). */
export const UNARY_METHODS = ['Publish', 'Retract', 'Check', 'Status', 'GetHashingKeys', 'Unfreeze', 'ReportCardTesting', 'ReportSightings', 'ReportFraud', 'WatchMerchants', 'EvaluatePanSelectors'] as const;
export type UnaryMethod = (typeof UNARY_METHODS)[number];
/** The bidirectional streams the client opens (request-stream.ts). */
export type DuplexMethod = 'CheckStream' | 'EvaluatePanSelectorsStream';

export class Transport {
  readonly stub: ExchangeClient;
  private readonly metadata: grpc.Metadata;
  private closed = false;
  /** RPCs sent, by method. */
  readonly sent = Object.fromEntries(UNARY_METHODS.map((m) => [m, 0])) as Record<UnaryMethod, number>;

  constructor(options: ChannelSettings) {
    const { Exchange } = loadGrpcTypes().mamori.v1;
    this.stub = new Exchange(options.target, options.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      // grpc-js reconnects by itself; short backoffs so a restarted node is used again within a second or two.
      'grpc.initial_reconnect_backoff_ms': options.reconnect.initialBackoffMs,
      'grpc.max_reconnect_backoff_ms': options.reconnect.maxBackoffMs,
    });
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${options.token}`);
    // Fail fast while the node is unreachable instead of queueing until the deadline: a check
    // then gets its fallback answer at once. (False is grpc-js's default; stated because it matters.)
    this.metadata.setOptions({ waitForReady: false });
  }

  /** One unary call; `deadline` is an absolute time in ms (grpc-js has no default deadline). */
  unary<Res>(method: UnaryMethod, request: object, deadline: number): Promise<Res> {
    // grpc-js throws synchronously on a closed channel; a batch flushed after close() must reject instead.
    if (this.closed) return Promise.reject(MamoriClientError.closed());
    this.sent[method]++;
    return new Promise((resolve, reject) => {
      const fn = this.stub[method] as unknown as (
        req: object,
        md: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, r?: Res) => void,
      ) => unknown;
      fn.call(this.stub, request, this.metadata, { deadline }, (error, response) => {
        if (error) reject(MamoriClientError.fromGrpc(error));
        else resolve(response as Res);
      });
    });
  }

  /** A server-streaming call with the client token; no deadline (it follows until cancelled). */
  serverStream<Res>(method: 'Alerts', request: object): grpc.ClientReadableStream<Res> {
    if (this.closed) throw MamoriClientError.closed();
    return this.stub[method](request, this.metadata) as unknown as grpc.ClientReadableStream<Res>;
  }

  /** A bidirectional stream with the client token; no deadline (each message has its own, kept by the caller). */
  duplex<Req, Res>(method: DuplexMethod): DuplexCall<Req, Res> {
    if (this.closed) throw MamoriClientError.closed();
    return this.stub[method](this.metadata) as unknown as DuplexCall<Req, Res>;
  }

  /** Resolves once the channel is connected; rejects with UNAVAILABLE at the deadline. */
  waitForReady(deadline: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.stub.waitForReady(deadline, (error) => (error ? reject(new MamoriClientError('UNAVAILABLE', `node not reachable: ${error.message}`, { cause: error })) : resolve())),
    );
  }

  close(): void {
    this.closed = true;
    this.stub.close();
  }
}
