// Calls any Mamori RPC with a request given as raw bytes: the client's serializer passes the
// Buffer through, so malformed protobuf reaches the server exactly as generated. Every call
// ends in an outcome: a gRPC status name, or STREAMING for a server stream that was accepted
// and then cancelled by us (Follow, MirrorFilter, following Alerts and the bidirectional streams never end by themselves).
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { loadMamoriPackageDefinition } from '../../proto/ts/loader';

export interface FuzzMethod {
  service: string; // mamori.v1.Exchange
  name: string; // Check
  path: string; // /mamori.v1.Exchange/Check
  requestType: string; // mamori.v1.CheckRequest
  requestStream: boolean;
  responseStream: boolean;
  deserialize: (bytes: Buffer) => unknown;
}

/** Every method of every service in the package definition: a new RPC is fuzzed without a change here. */
export function mamoriMethods(): FuzzMethod[] {
  const definition = loadMamoriPackageDefinition();
  // The request type of a method is a copy of the package's entry: match it by its descriptor name.
  const typeName = (value: protoLoader.MessageTypeDefinition<object, object>) => {
    const name = (value.type as { name?: string }).name;
    return Object.keys(definition).find((key) => key.endsWith(`.${name}`) && 'format' in (definition[key] as object));
  };
  const methods: FuzzMethod[] = [];
  for (const [service, value] of Object.entries(definition)) {
    if ('format' in value) continue; // a message or enum type, not a service
    for (const [name, method] of Object.entries(value as protoLoader.ServiceDefinition)) {
      const requestType = typeName(method.requestType);
      if (!requestType) throw new Error(`no request type found for ${method.path}`);
      if (method.requestStream && !method.responseStream) throw new Error(`${method.path}: client streams are not fuzzed yet`);
      methods.push({ service, name, path: method.path, requestType, requestStream: method.requestStream, responseStream: method.responseStream, deserialize: method.responseDeserialize as (b: Buffer) => unknown });
    }
  }
  return methods;
}

export type Outcome = keyof typeof grpc.status | 'STREAMING';

export interface CallResult {
  outcome: Outcome;
  details: string;
  response?: unknown;
}

export interface RawCallOptions {
  metadata: grpc.Metadata;
  /** Absolute deadline in ms, or undefined to send none. */
  deadline?: number;
  /** A stream that has not ended after this long is cancelled (outcome STREAMING). */
  streamCancelMs: number;
}

const statusName = (code: number) => (grpc.status[code] ?? `CODE_${code}`) as Outcome;
const passThrough = (b: Buffer) => b;

export function rawUnary(client: grpc.Client, method: FuzzMethod, request: Buffer, options: RawCallOptions): Promise<CallResult> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method.path, passThrough, method.deserialize, request, options.metadata, options.deadline === undefined ? {} : { deadline: options.deadline }, (error, response) => {
      if (error) resolve({ outcome: statusName(error.code), details: error.details });
      else resolve({ outcome: 'OK', details: '', response });
    });
  });
}

/**
 * A server stream: ends with the server's status, or, once the server has accepted it (headers
 * or a message) and a moment has passed without a status, we cancel it: STREAMING.
 */
export function rawServerStream(client: grpc.Client, method: FuzzMethod, request: Buffer, options: RawCallOptions): Promise<CallResult> {
  const callOptions = options.deadline === undefined ? {} : { deadline: options.deadline };
  return followStream(client.makeServerStreamRequest(method.path, passThrough, method.deserialize, request, options.metadata, callOptions), options);
}

/** A bidirectional stream (CheckStream, the evaluation streams) given the request as its one message, then followed as a server stream. */
export function rawBidiStream(client: grpc.Client, method: FuzzMethod, request: Buffer, options: RawCallOptions): Promise<CallResult> {
  const call = client.makeBidiStreamRequest(method.path, passThrough, method.deserialize, options.metadata, options.deadline === undefined ? {} : { deadline: options.deadline });
  call.write(request);
  return followStream(call, options);
}

function followStream(call: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<Buffer, unknown>, options: RawCallOptions): Promise<CallResult> {
  return new Promise((resolve) => {
    let accepted = false;
    let cancelledByUs = false;
    let settled = false;
    const settle = (result: CallResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(safety);
      resolve(result);
    };
    const cancelSoon = () => {
      if (accepted) return;
      accepted = true;
      // A status sent right after the headers still wins; after that the stream is live.
      setTimeout(() => {
        cancelledByUs = true;
        call.cancel();
      }, 50);
    };
    const safety = setTimeout(() => {
      cancelledByUs = true;
      call.cancel();
    }, options.streamCancelMs);
    call.on('metadata', cancelSoon);
    call.on('data', cancelSoon);
    call.on('error', () => undefined); // the status event says everything
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.CANCELLED && cancelledByUs) settle({ outcome: 'STREAMING', details: '' });
      else settle({ outcome: statusName(status.code), details: status.details });
    });
  });
}

export function rawCallOf(client: grpc.Client, method: FuzzMethod, request: Buffer, options: RawCallOptions): Promise<CallResult> {
  if (method.requestStream) return rawBidiStream(client, method, request, options);
  return method.responseStream ? rawServerStream(client, method, request, options) : rawUnary(client, method, request, options);
}
