// EvaluatePanSelectors requests as messages of one open EvaluatePanSelectorsStream
// (request-stream.ts): a first-seen card's evaluation round without a unary call's round trip.
// Each message carries its remaining budget, which the node forwards to the evaluators as a
// unary call's deadline would be.
import type { EvaluatePanSelectorsRequest } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsRequest';
import type { EvaluatePanSelectorsResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatePanSelectorsStreamRequest } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsStreamRequest';
import type { EvaluatePanSelectorsStreamResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsStreamResponse';
import { RequestStream } from './request-stream';
import type { Transport } from './transport';

/** Evaluations outstanding on the stream at most (the node's bound per stream is 64); more go by unary calls. */
const MAX_WAITING = 32;

export type EvaluationStream = RequestStream<EvaluatePanSelectorsRequest, EvaluatePanSelectorsResponse__Output, EvaluatePanSelectorsStreamRequest, EvaluatePanSelectorsStreamResponse__Output>;

export function evaluationStream(
  transport: Transport,
  unary: (request: EvaluatePanSelectorsRequest, deadline: number) => Promise<EvaluatePanSelectorsResponse__Output>,
  backoff: { readonly initialBackoffMs: number; readonly maxBackoffMs: number },
): EvaluationStream {
  return new RequestStream(
    transport,
    {
      method: 'EvaluatePanSelectorsStream',
      countAs: 'EvaluatePanSelectors',
      noun: 'the evaluation stream',
      maxWaiting: MAX_WAITING,
      wrap: (id, evaluate, deadline) => ({ id, evaluate, timeoutMs: Math.max(1, deadline - Date.now()) }),
      unwrap: (message) => message.evaluate ?? undefined,
      unary,
    },
    backoff,
  );
}
