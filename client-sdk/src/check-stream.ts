// The batcher's Check requests as messages of one open CheckStream (docs/protocol.md#check-stream)
// instead of a unary call each (request-stream.ts). Checks waiting on a stream that ends get the
// fail mode; a node without CheckStream is asked with unary Check.
import type { CheckRequest } from '../../proto/gen/mamori/v1/CheckRequest';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckStreamRequest } from '../../proto/gen/mamori/v1/CheckStreamRequest';
import type { CheckStreamResponse__Output } from '../../proto/gen/mamori/v1/CheckStreamResponse';
import { RequestStream } from './request-stream';
import type { Transport } from './transport';

/** Checks outstanding on the stream at most, below the node's bound of 1,024 per stream; more go by unary Check. */
const MAX_WAITING = 512;

export class CheckStreamChannel {
  private readonly stream: RequestStream<CheckRequest, CheckResponse__Output, CheckStreamRequest, CheckStreamResponse__Output>;

  constructor(
    transport: Transport,
    unaryCheck: (request: CheckRequest, deadline: number) => Promise<CheckResponse__Output>,
    backoff: { readonly initialBackoffMs: number; readonly maxBackoffMs: number },
  ) {
    this.stream = new RequestStream(
      transport,
      {
        method: 'CheckStream',
        countAs: 'Check',
        noun: 'the check stream',
        maxWaiting: MAX_WAITING,
        wrap: (id, check) => ({ id, check }),
        unwrap: (message) => message.check ?? undefined,
        unary: unaryCheck,
      },
      backoff,
    );
  }

  /** The node's answer to one Check request; `deadline` is absolute (ms since the epoch). */
  check(request: CheckRequest, deadline: number): Promise<CheckResponse__Output> {
    return this.stream.send(request, deadline);
  }

  close(): void {
    this.stream.close();
  }
}
