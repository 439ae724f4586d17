// The batcher's Check requests as messages of one open CheckStream (docs/protocol.md#check-stream)
// instead of a unary call each: a message on an open stream costs a fraction of a call's round
// trip, which is most of a remote check at concurrency 1. Each request gets a fresh id and its
// own deadline, kept here (an answer that comes after it is dropped). When the stream ends, the
// checks waiting on it fail (UNAVAILABLE: the fail mode answers them) and the next check opens
// a new one, after a backoff if the stream failed. A node without CheckStream (UNIMPLEMENTED) is
// asked with unary Check from then on.
import type { CheckRequest } from '../../proto/gen/mamori/v1/CheckRequest';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckStreamRequest } from '../../proto/gen/mamori/v1/CheckStreamRequest';
import type { CheckStreamResponse__Output } from '../../proto/gen/mamori/v1/CheckStreamResponse';
import { backoffDelay } from '../../proto/ts/backoff';
import { MamoriClientError } from './errors';
import type { DuplexCall, Transport } from './transport';

/** gRPC status codes (doc/statuscodes.md) this channel tells apart. */
const STATUS = { PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;
const STATUS_NAMES: Readonly<Record<number, string>> = { 0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 4: 'DEADLINE_EXCEEDED', 8: 'RESOURCE_EXHAUSTED', 10: 'ABORTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };

type StreamCall = DuplexCall<CheckStreamRequest, CheckStreamResponse__Output>;

interface Waiting {
  request: CheckRequest;
  deadline: number;
  timer: NodeJS.Timeout;
  resolve(response: CheckResponse__Output): void;
  reject(error: MamoriClientError): void;
}

export class CheckStreamChannel {
  private call: StreamCall | undefined;
  private answeredOnCall = false;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private failures = 0;
  private reopenAtMs = 0;
  private lastFailure = '';
  /** The node answered UNIMPLEMENTED: unary Check from then on. */
  private unimplemented = false;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly unaryCheck: (request: CheckRequest, deadline: number) => Promise<CheckResponse__Output>,
    private readonly backoff: { readonly initialBackoffMs: number; readonly maxBackoffMs: number },
  ) {}

  /** The node's answer to one Check request; `deadline` is absolute (ms since the epoch). */
  check(request: CheckRequest, deadline: number): Promise<CheckResponse__Output> {
    if (this.unimplemented) return this.unaryCheck(request, deadline);
    if (this.closed) return Promise.reject(MamoriClientError.closed());
    const wait = this.reopenAtMs - Date.now();
    if (!this.call && wait > 0) {
      return Promise.reject(new MamoriClientError('UNAVAILABLE', `the check stream is reopened in ${wait} ms; it ended: ${this.lastFailure}`));
    }
    const call = this.call ?? this.open();
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        // Its answer, if it comes, finds no one waiting and is dropped.
        this.waiting.delete(id);
        reject(new MamoriClientError('DEADLINE_EXCEEDED', 'no answer on the check stream by the deadline'));
      }, Math.max(0, deadline - Date.now()));
      this.waiting.set(id, { request, deadline, timer, resolve, reject });
      this.transport.sent.Check++;
      call.write({ id, check: request });
    });
  }

  close(): void {
    this.closed = true;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.failAll(MamoriClientError.closed());
  }

  private open(): StreamCall {
    const call = this.transport.duplex<CheckStreamRequest, CheckStreamResponse__Output>('CheckStream');
    this.call = call;
    this.answeredOnCall = false;
    call.on('data', (message) => this.answered(message));
    call.on('error', () => undefined); // 'status' reports the same end
    call.on('status', (status) => this.ended(call, status));
    return call;
  }

  private answered(message: CheckStreamResponse__Output): void {
    this.answeredOnCall = true;
    this.failures = 0;
    const id = Number(message.id);
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (message.errorCode) waiting.reject(MamoriClientError.fromStatusName(message.errorCode, message.errorMessage));
    else if (message.check) waiting.resolve(message.check);
    else waiting.reject(new MamoriClientError('INTERNAL', `the node answered check ${id} with neither a response nor an error`));
  }

  private ended(call: StreamCall, status: { code: number; details: string }): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (status.code === STATUS.UNIMPLEMENTED) {
      // An older node: what waited on the stream goes by unary Check, and so does every later check.
      this.unimplemented = true;
      const moved = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of moved) {
        clearTimeout(w.timer);
        this.unaryCheck(w.request, w.deadline).then(w.resolve, w.reject);
      }
      return;
    }
    const failed = this.waiting.size > 0 || !this.answeredOnCall;
    this.lastFailure = `${STATUS_NAMES[status.code] ?? `status ${status.code}`}: ${status.details}`;
    if (failed) {
      // Opened again on the next check once the backoff has passed; a stream that had answered
      // and was idle when it ended (the node's connection age) is opened again at once.
      this.reopenAtMs = Date.now() + backoffDelay(this.failures, this.backoff.initialBackoffMs, this.backoff.maxBackoffMs);
      this.failures++;
    }
    const refusedCaller = status.code === STATUS.UNAUTHENTICATED || status.code === STATUS.PERMISSION_DENIED;
    this.failAll(
      refusedCaller
        ? MamoriClientError.fromGrpc({ code: status.code, details: status.details, message: status.details })
        : new MamoriClientError('UNAVAILABLE', `the check stream ended (${this.lastFailure})`),
    );
  }

  private failAll(error: MamoriClientError): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) {
      clearTimeout(w.timer);
      w.reject(error);
    }
  }
}
