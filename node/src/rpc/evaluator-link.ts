// The gRPC side of an EvaluatorLink: calls a peer evaluator with the credentials replication
// uses (mutual TLS pinned to the consortium CA and the peer's member id, or insecureDev
// metadata on loopback), with a deadline. Requests go as messages of one open EvaluateStream
// (replication-handlers.ts): a first-seen card waits on two hops (client → node → evaluator),
// and a unary call's round trip, headers encoded and parsed on both sides, is most of each.
// When the stream ends, the requests waiting on it fail UNAVAILABLE (the evaluation re-plans
// with the other evaluators) and the next request opens a new one. A peer without
// EvaluateStream (UNIMPLEMENTED) is asked with unary Evaluate from then on, and so is every
// request beyond EVALUATE_STREAM_MAX_WAITING outstanding on the stream.
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../config/node-config';
import type { EvaluateRequest } from '../evaluation/evaluator-service';
import type { EvaluatorLink } from '../evaluation/selector-evaluation';
import { type ErrorCode, MamoriError } from '../ledger/errors';
import type { PeerEvaluateRequest } from '../../../proto/gen/mamori/v1/PeerEvaluateRequest';
import type { PeerEvaluateResponse__Output } from '../../../proto/gen/mamori/v1/PeerEvaluateResponse';
import type { PeerEvaluateStreamRequest } from '../../../proto/gen/mamori/v1/PeerEvaluateStreamRequest';
import type { PeerEvaluateStreamResponse__Output } from '../../../proto/gen/mamori/v1/PeerEvaluateStreamResponse';
import { loadGrpcTypes } from './grpc-types';
import { peerChannelOptions } from './grpc-peer-link';
import { insecureDevPeerMetadata } from './insecure-dev';
import { peerChannelCredentials, readTlsMaterial, type TlsMaterial } from './peer-credentials';

/** Requests outstanding on one stream at most (the peer ends a stream past its own bound, 64); more go by unary calls. */
export const EVALUATE_STREAM_MAX_WAITING = 32;

/** The evaluator's refusal as this node tells its client: the code it answered and its words. */
const CODES: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [grpc.status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
};

function evaluatorError(code: grpc.status, details: string): MamoriError {
  const what = code === grpc.status.DEADLINE_EXCEEDED ? 'deadline exceeded' : details;
  return new MamoriError(CODES[code] ?? 'UNAVAILABLE', what);
}

type UnaryEvaluate = (message: PeerEvaluateRequest, deadlineMs: number) => Promise<Buffer>;
type StreamCall = grpc.ClientDuplexStream<PeerEvaluateStreamRequest, PeerEvaluateStreamResponse__Output>;

interface Waiting {
  /** Its deadline passed and it was rejected; still counted until the peer answers it, as the peer still counts it. */
  abandoned: boolean;
  message: PeerEvaluateRequest;
  deadlineMs: number;
  timer: NodeJS.Timeout;
  resolve(elements: Buffer): void;
  reject(error: MamoriError): void;
}

/** Evaluate requests multiplexed by id on one open stream, opened when first needed. */
export class EvaluateStreamChannel {
  private call: StreamCall | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  /** The peer answered UNIMPLEMENTED: unary Evaluate from then on. */
  private unimplemented = false;
  private closed = false;

  constructor(
    private readonly openStream: () => StreamCall,
    private readonly unary: UnaryEvaluate,
  ) {}

  evaluate(message: PeerEvaluateRequest, deadlineMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new MamoriError('UNAVAILABLE', 'the link to this evaluator is closed'));
    if (this.unimplemented || this.waiting.size >= EVALUATE_STREAM_MAX_WAITING) return this.unary(message, deadlineMs);
    const call = this.call ?? this.open();
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        // Kept until its answer comes (then dropped), so this side never counts fewer outstanding than the peer.
        const w = this.waiting.get(id);
        if (w) w.abandoned = true;
        reject(new MamoriError('UNAVAILABLE', 'deadline exceeded'));
      }, Math.max(0, deadlineMs - Date.now()));
      this.waiting.set(id, { abandoned: false, message, deadlineMs, timer, resolve, reject });
      call.write({ id, evaluate: message });
    });
  }

  close(): void {
    this.closed = true;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.failAll(new MamoriError('UNAVAILABLE', 'the link to this evaluator is closed'));
  }

  private open(): StreamCall {
    const call = this.openStream();
    this.call = call;
    call.on('data', (message: PeerEvaluateStreamResponse__Output) => this.answered(message));
    call.on('error', () => undefined); // 'status' reports the same end
    call.on('status', (status: grpc.StatusObject) => this.ended(call, status));
    return call;
  }

  private answered(message: PeerEvaluateStreamResponse__Output): void {
    const id = Number(message.id);
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (waiting.abandoned) return;
    if (message.errorCode) {
      const code = grpc.status[message.errorCode as keyof typeof grpc.status] as grpc.status | undefined;
      waiting.reject(evaluatorError(code ?? grpc.status.UNKNOWN, message.errorMessage));
    } else if (message.evaluate) waiting.resolve(message.evaluate.elements);
    else waiting.reject(new MamoriError('UNAVAILABLE', `the evaluator answered request ${id} with neither elements nor an error`));
  }

  private ended(call: StreamCall, status: grpc.StatusObject): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (status.code === grpc.status.UNIMPLEMENTED) {
      // An older peer: what waited on the stream goes by unary Evaluate, and so does every later request.
      this.unimplemented = true;
      const moved = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of moved) {
        clearTimeout(w.timer);
        if (!w.abandoned) this.unary(w.message, w.deadlineMs).then(w.resolve, w.reject);
      }
      return;
    }
    // The stream's end, whatever its status, is this peer being unavailable for what waited on it.
    this.failAll(new MamoriError('UNAVAILABLE', `the evaluate stream ended (${grpc.status[status.code] ?? status.code}: ${status.details})`));
  }

  private failAll(error: MamoriError): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) {
      clearTimeout(w.timer);
      if (!w.abandoned) w.reject(error);
    }
  }
}

export function dialEvaluator(config: Pick<NodeConfig, 'tls' | 'member' | 'maxMessageBytes'>, peer: string, endpoint: string, material?: TlsMaterial): EvaluatorLink {
  const { Replication } = loadGrpcTypes().mamori.v1;
  const credentials = config.tls ? peerChannelCredentials(material ?? readTlsMaterial(config.tls), peer) : grpc.credentials.createInsecure();
  const metadata = config.tls ? new grpc.Metadata() : insecureDevPeerMetadata(config.member);
  const client = new Replication(endpoint, credentials, peerChannelOptions(config.maxMessageBytes));
  const unary: UnaryEvaluate = (message, deadlineMs) =>
    new Promise<Buffer>((resolve, reject) => {
      client.Evaluate(message, metadata, { deadline: deadlineMs }, (error: grpc.ServiceError | null, response?: PeerEvaluateResponse__Output) => {
        if (error || !response) return reject(error ? evaluatorError(error.code, error.details || error.message) : new MamoriError('UNAVAILABLE', 'empty Evaluate response'));
        resolve(response.elements);
      });
    });
  const channel = new EvaluateStreamChannel(() => client.EvaluateStream(metadata) as StreamCall, unary);
  return {
    evaluate: (request, deadlineMs) => channel.evaluate(peerRequest(request), deadlineMs),
    close: () => {
      channel.close();
      client.close();
    },
  };
}

function peerRequest(request: EvaluateRequest): PeerEvaluateRequest {
  return { setId: request.setId, groups: request.groups.map((labels) => ({ labels: [...labels] })), items: request.items.map((i) => ({ bin: i.bin, blinded: i.blinded })) };
}
