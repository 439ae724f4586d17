// CheckStream (docs/protocol.md#check-stream): Check requests on one open bidirectional stream,
// for clients whose checks come one at a time and cannot afford a unary call's round trip each.
// The caller is authenticated once, when the stream opens; every message is then answered by
// its id with what Check would answer, or with its own error (a bad message does not end the
// stream). Only a protocol-level problem ends it with a status: no token, too many messages
// waiting for a client that does not read its answers, a stall (streams.ts).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CheckRequest__Output } from '../../../proto/gen/mamori/v1/CheckRequest';
import type { CheckResponse } from '../../../proto/gen/mamori/v1/CheckResponse';
import type { CheckStreamRequest__Output } from '../../../proto/gen/mamori/v1/CheckStreamRequest';
import type { CheckStreamResponse } from '../../../proto/gen/mamori/v1/CheckStreamResponse';
import { MamoriError } from '../ledger/errors';
import type { Authenticator, Caller } from './auth';
import type { StreamWatch } from './streams';
import { toServiceError } from './status-mapping';

/**
 * Messages a stream may have received and not yet had answered. Answers are computed as the
 * messages arrive, so only a client that does not read them lets this grow; the SDK keeps at
 * most its batch.maxInFlight (≤ 1024) outstanding.
 */
export const MAX_CHECKS_IN_FLIGHT_PER_STREAM = 1024;

/** Check's own handler body: the request (fields named from `at`) answered for this caller, or a MamoriError. */
export type AnswerCheck = (request: CheckRequest__Output, caller: Caller, at: string) => CheckResponse;

export function checkStreamHandler(answerCheck: AnswerCheck, log: Logger, authenticate: Authenticator, streams: StreamWatch, maxInFlight = MAX_CHECKS_IN_FLIGHT_PER_STREAM) {
  return (call: grpc.ServerDuplexStream<CheckStreamRequest__Output, CheckStreamResponse>): void => {
    let caller: Caller;
    try {
      caller = authenticate(call.metadata, 'CheckStream');
    } catch (error) {
      call.emit('error', toServiceError(error, log, 'CheckStream'));
      return;
    }
    const waiting: CheckStreamRequest__Output[] = [];
    let writing = false;
    let halfClosed = false;
    let ended = false;

    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (ended) return;
      ended = true;
      waiting.length = 0;
      if (status) call.emit('error', status);
      else if (!call.cancelled) call.end();
    };

    const answer = (message: CheckStreamRequest__Output): CheckStreamResponse => {
      try {
        if (!message.check) throw MamoriError.invalidArgument('check', 'missing: each message carries one CheckRequest');
        return { id: message.id, check: answerCheck(message.check, caller, 'check.') };
      } catch (error) {
        const status = toServiceError(error, log, 'CheckStream');
        const code = status.code ?? grpc.status.INTERNAL;
        return { id: message.id, errorCode: grpc.status[code] ?? 'INTERNAL', errorMessage: status.details ?? '' };
      }
    };

    const pump = async (): Promise<void> => {
      writing = true;
      while (waiting.length > 0 && !ended) {
        const flowing = call.write(answer(waiting.shift() as CheckStreamRequest__Output));
        if (!flowing && !(await streams.waitForDrain(call))) return finish();
      }
      writing = false;
      if (halfClosed) finish();
    };

    call.on('data', (message: CheckStreamRequest__Output) => {
      if (ended) return;
      if (waiting.length >= maxInFlight) {
        // Worth an operator's notice: a client that sends and never reads is broken or hostile.
        log.warn({ method: 'CheckStream', caller: caller.name, waiting: waiting.length }, 'check stream ended: its client sends checks and does not read the answers');
        return finish({
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `more than ${maxInFlight} checks waiting on one CheckStream: read the answers before sending more`,
        });
      }
      waiting.push(message);
      if (!writing) pump().catch((error: unknown) => finish(toServiceError(error, log, 'CheckStream')));
    });
    call.on('end', () => {
      halfClosed = true;
      if (!writing) finish();
    });
    call.on('cancelled', () => finish());
    call.on('close', () => finish());
  };
}
