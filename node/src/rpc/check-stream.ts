// CheckStream (docs/protocol.md#check-stream): Check requests on one open bidirectional stream,
// for clients whose checks come one at a time and cannot afford a unary call's round trip each.
// Every message is answered by its id with what Check would answer, or with its own error
// (answer-stream.ts).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { CheckRequest__Output } from '../../../proto/gen/mamori/v1/CheckRequest';
import type { CheckResponse } from '../../../proto/gen/mamori/v1/CheckResponse';
import type { CheckStreamRequest__Output } from '../../../proto/gen/mamori/v1/CheckStreamRequest';
import type { CheckStreamResponse } from '../../../proto/gen/mamori/v1/CheckStreamResponse';
import { MamoriError } from '../ledger/errors';
import { answerStreamHandler } from './answer-stream';
import type { Authenticator, Caller } from './auth';
import type { StreamWatch } from './streams';

/**
 * Messages a stream may have received and not yet had answered. Answers are computed as the
 * messages arrive, so only a client that does not read them lets this grow; the SDK keeps at
 * most 512 outstanding on a stream (client-sdk/src/check-stream.ts) and sends more by unary Check.
 */
export const MAX_CHECKS_IN_FLIGHT_PER_STREAM = 1024;

/** Check's own handler body: the request (fields named from `at`) answered for this caller, or a MamoriError. */
export type AnswerCheck = (request: CheckRequest__Output, caller: Caller, at: string) => CheckResponse;

export function checkStreamHandler(answerCheck: AnswerCheck, log: Logger, authenticate: Authenticator, streams: StreamWatch, maxInFlight = MAX_CHECKS_IN_FLIGHT_PER_STREAM) {
  return answerStreamHandler<CheckStreamRequest__Output, CheckStreamResponse & { id: number }, Caller>({
    method: 'CheckStream',
    log,
    streams,
    authenticate: (call: grpc.ServerDuplexStream<CheckStreamRequest__Output, CheckStreamResponse>) => authenticate(call.metadata, 'CheckStream'),
    answer: (message, caller) => {
      if (!message.check) throw MamoriError.invalidArgument('check', 'missing: each message carries one CheckRequest');
      return { check: answerCheck(message.check, caller, 'check.') };
    },
    maxInFlight,
    tooManyWaiting: `more than ${maxInFlight} checks waiting on one CheckStream: read the answers before sending more`,
    callerName: (caller) => caller.name,
    endedForNotReading: 'check stream ended: its client sends checks and does not read the answers',
  });
}
