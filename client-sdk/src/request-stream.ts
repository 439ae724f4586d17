// Requests as messages of one open bidirectional stream instead of a unary call each
// (CheckStream, EvaluatePanSelectorsStream; docs/protocol.md#check-stream): a message on an open
// stream costs a fraction of a call's round trip, which is most of a remote check, or of a
// first-seen card's evaluation, at concurrency 1. Each request gets a fresh id and its own
// deadline, kept here (an answer that comes after it is dropped). When the stream ends, the
// requests waiting on it fail (UNAVAILABLE: the fail mode answers checks) and the next request
// opens a new one, after a backoff if the stream failed. A node without the method
// (UNIMPLEMENTED) is asked with the unary call from then on, and so is every request beyond
// maxWaiting outstanding on the stream (the node ends a stream past its own bound).
import { backoffDelay } from '../../proto/ts/backoff';
import { MamoriClientError } from './errors';
import type { DuplexCall, DuplexMethod, Transport, UnaryMethod } from './transport';

/** gRPC status codes (doc/statuscodes.md) this channel tells apart. */
const STATUS = { PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;
const STATUS_NAMES: Readonly<Record<number, string>> = { 0: 'OK', 1: 'CANCELLED', 2: 'UNKNOWN', 4: 'DEADLINE_EXCEEDED', 8: 'RESOURCE_EXHAUSTED', 10: 'ABORTED', 13: 'INTERNAL', 14: 'UNAVAILABLE' };

/** What every answer on such a stream carries besides its own field. */
export interface StreamAnswer {
  id: number;
  errorCode: string;
  errorMessage: string;
}

export interface RequestStreamSpec<Req, Res, WireReq, WireRes extends StreamAnswer> {
  method: DuplexMethod;
  /** The unary method each message stands for (counted in stats() under its name). */
  countAs: UnaryMethod;
  /** How errors name the stream ("the check stream"). */
  noun: string;
  /** Requests outstanding on one stream at most; more go by the unary call. */
  maxWaiting: number;
  wrap(id: number, request: Req, deadline: number): WireReq;
  /** The answer an answer message carries, or undefined when it carries none. */
  unwrap(message: WireRes): Res | undefined;
  unary(request: Req, deadline: number): Promise<Res>;
}

interface Waiting<Req, Res> {
  /** Its deadline passed and it was rejected; still counted until the node answers it, as the node still counts it. */
  abandoned: boolean;
  request: Req;
  deadline: number;
  timer: NodeJS.Timeout;
  resolve(response: Res): void;
  reject(error: MamoriClientError): void;
}

export class RequestStream<Req, Res, WireReq, WireRes extends StreamAnswer> {
  private call: DuplexCall<WireReq, WireRes> | undefined;
  private answeredOnCall = false;
  private readonly waiting = new Map<number, Waiting<Req, Res>>();
  private nextId = 1;
  private failures = 0;
  private reopenAtMs = 0;
  private lastFailure = '';
  /** The node answered UNIMPLEMENTED: the unary call from then on. */
  private unimplemented = false;
  private closed = false;

  constructor(
    private readonly transport: Transport,
    private readonly spec: RequestStreamSpec<Req, Res, WireReq, WireRes>,
    private readonly backoff: { readonly initialBackoffMs: number; readonly maxBackoffMs: number },
  ) {}

  /** The node's answer to one request; `deadline` is absolute (ms since the epoch). */
  send(request: Req, deadline: number): Promise<Res> {
    if (this.closed) return Promise.reject(MamoriClientError.closed());
    if (this.unimplemented || this.waiting.size >= this.spec.maxWaiting) return this.spec.unary(request, deadline);
    const wait = this.reopenAtMs - Date.now();
    if (!this.call && wait > 0) {
      return Promise.reject(new MamoriClientError('UNAVAILABLE', `${this.spec.noun} is reopened in ${wait} ms; it ended: ${this.lastFailure}`));
    }
    const call = this.call ?? this.open();
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        // Kept until its answer comes (then dropped), so this side never counts fewer outstanding than the node.
        const w = this.waiting.get(id);
        if (w) w.abandoned = true;
        reject(new MamoriClientError('DEADLINE_EXCEEDED', `no answer on ${this.spec.noun} by the deadline`));
      }, Math.max(0, deadline - Date.now()));
      this.waiting.set(id, { abandoned: false, request, deadline, timer, resolve, reject });
      this.transport.sent[this.spec.countAs]++;
      call.write(this.spec.wrap(id, request, deadline));
    });
  }

  close(): void {
    this.closed = true;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.failAll(MamoriClientError.closed());
  }

  private open(): DuplexCall<WireReq, WireRes> {
    const call = this.transport.duplex<WireReq, WireRes>(this.spec.method);
    this.call = call;
    this.answeredOnCall = false;
    call.on('data', (message) => this.answered(message));
    call.on('error', () => undefined); // 'status' reports the same end
    call.on('status', (status) => this.ended(call, status));
    return call;
  }

  private answered(message: WireRes): void {
    this.answeredOnCall = true;
    this.failures = 0;
    const id = Number(message.id);
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    clearTimeout(waiting.timer);
    if (waiting.abandoned) return;
    if (message.errorCode) return waiting.reject(MamoriClientError.fromStatusName(message.errorCode, message.errorMessage));
    const answer = this.spec.unwrap(message);
    if (answer !== undefined) waiting.resolve(answer);
    else waiting.reject(new MamoriClientError('INTERNAL', `the node answered request ${id} on ${this.spec.noun} with neither a response nor an error`));
  }

  private ended(call: DuplexCall<WireReq, WireRes>, status: { code: number; details: string }): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (status.code === STATUS.UNIMPLEMENTED) {
      // An older node: what waited on the stream goes by the unary call, and so does every later request.
      this.unimplemented = true;
      const moved = [...this.waiting.values()];
      this.waiting.clear();
      for (const w of moved) {
        clearTimeout(w.timer);
        if (!w.abandoned) this.spec.unary(w.request, w.deadline).then(w.resolve, w.reject);
      }
      return;
    }
    const failed = this.waiting.size > 0 || !this.answeredOnCall;
    this.lastFailure = `${STATUS_NAMES[status.code] ?? `status ${status.code}`}: ${status.details}`;
    if (failed) {
      // Opened again on the next request once the backoff has passed; a stream that had
      // answered and was idle when it ended (the node's connection age) is opened again at once.
      this.reopenAtMs = Date.now() + backoffDelay(this.failures, this.backoff.initialBackoffMs, this.backoff.maxBackoffMs);
      this.failures++;
    }
    const refusedCaller = status.code === STATUS.UNAUTHENTICATED || status.code === STATUS.PERMISSION_DENIED;
    this.failAll(
      refusedCaller
        ? MamoriClientError.fromGrpc({ code: status.code, details: status.details, message: status.details })
        : new MamoriClientError('UNAVAILABLE', `${this.spec.noun} ended (${this.lastFailure})`),
    );
  }

  private failAll(error: MamoriClientError): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) {
      clearTimeout(w.timer);
      if (!w.abandoned) w.reject(error);
    }
  }
}
