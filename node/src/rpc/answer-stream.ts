// A bidirectional stream of requests answered by id (CheckStream, the peers' EvaluateStream;
// docs/protocol.md#check-stream): the caller is authenticated once, when the stream opens, and
// every message is then answered with what its unary call would answer, or with its own error
// (a bad message does not end the stream). A message on an open stream costs a fraction of a
// unary call's round trip (no call headers, no new HTTP/2 stream). Answers may be computed
// asynchronously and go out as they are ready, so they may come back in another order than
// their requests. Only a protocol-level problem ends the stream with a status: a refused
// caller, too many messages waiting for a client that does not read its answers, a stall
// (streams.ts).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { StreamWatch } from './streams';
import { toServiceError } from './status-mapping';

/** What every answer carries besides its own fields: the request's id, and an error instead of an answer. */
export interface AnswerEnvelope {
  id: number;
  errorCode?: string;
  errorMessage?: string;
}

export interface AnswerStreamSpec<Req extends { id: number }, Res extends AnswerEnvelope, C> {
  method: string;
  log: Logger;
  streams: StreamWatch;
  /** Who calls, from the call as it opens; a throw ends the stream with the error's status. */
  authenticate(call: grpc.ServerDuplexStream<Req, Res>): C;
  /** The answer to one message (its id is added here); a throw answers that message with the error's status. */
  answer(message: Req, caller: C): Omit<Res, 'id'> | Promise<Omit<Res, 'id'>>;
  /** Messages received and not yet answered on one stream; one more ends it with RESOURCE_EXHAUSTED. */
  maxInFlight: number;
  /** The one-line reason given with RESOURCE_EXHAUSTED, naming the limit. */
  tooManyWaiting: string;
  /** For the operator's log when a stream is ended for that: who the caller is, and what the line says. */
  callerName(caller: C): string;
  endedForNotReading: string;
}

export function answerStreamHandler<Req extends { id: number }, Res extends AnswerEnvelope, C>(spec: AnswerStreamSpec<Req, Res, C>) {
  const { method, log, streams } = spec;
  return (call: grpc.ServerDuplexStream<Req, Res>): void => {
    let caller: C;
    try {
      caller = spec.authenticate(call);
    } catch (error) {
      call.emit('error', toServiceError(error, log, method));
      return;
    }
    /** Received and not yet written: being answered, or answered and waiting to be written. */
    let inFlight = 0;
    const ready: Res[] = [];
    let writing = false;
    let halfClosed = false;
    let ended = false;

    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (ended) return;
      ended = true;
      ready.length = 0;
      if (status) call.emit('error', status);
      else if (!call.cancelled) call.end();
    };

    const errorAnswer = (id: number, error: unknown): Res => {
      const status = toServiceError(error, log, method);
      const code = status.code ?? grpc.status.INTERNAL;
      return { id, errorCode: grpc.status[code] ?? 'INTERNAL', errorMessage: status.details ?? '' } as Res;
    };

    const pump = async (): Promise<void> => {
      writing = true;
      while (ready.length > 0 && !ended) {
        const flowing = call.write(ready.shift() as Res);
        inFlight--;
        if (!flowing && !(await streams.waitForDrain(call))) return finish();
      }
      writing = false;
      if (halfClosed && inFlight === 0) finish();
    };

    const deliver = (response: Res) => {
      if (ended) return;
      ready.push(response);
      if (!writing) pump().catch((error: unknown) => finish(toServiceError(error, log, method)));
    };

    call.on('data', (message: Req) => {
      if (ended) return;
      if (inFlight >= spec.maxInFlight) {
        // Worth an operator's notice: a client that sends and never reads is broken or hostile.
        log.warn({ method, caller: spec.callerName(caller), waiting: inFlight }, spec.endedForNotReading);
        return finish({ code: grpc.status.RESOURCE_EXHAUSTED, details: spec.tooManyWaiting });
      }
      inFlight++;
      let answered: Omit<Res, 'id'> | Promise<Omit<Res, 'id'>>;
      try {
        answered = spec.answer(message, caller);
      } catch (error) {
        return deliver(errorAnswer(message.id, error));
      }
      // A synchronous answer is written at once, in arrival order; an asynchronous one when it is ready.
      if (!(answered instanceof Promise)) return deliver({ ...answered, id: message.id } as Res);
      answered.then(
        (response) => deliver({ ...response, id: message.id } as Res),
        (error: unknown) => deliver(errorAnswer(message.id, error)),
      );
    });
    call.on('end', () => {
      halfClosed = true;
      if (!writing && inFlight === 0) finish();
    });
    call.on('cancelled', () => finish());
    call.on('close', () => finish());
  };
}
