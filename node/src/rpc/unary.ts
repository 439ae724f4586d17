import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from './status-mapping';

/**
 * Adapts a handler to grpc-js: authenticates (the method named, so its scope is checked), runs
 * it, and maps any error in one place. Handlers may be async: grpc-js ignores a rejected
 * promise and the call would hang.
 */
export function unary<Req, Res, M extends string, C>(
  method: M,
  log: Logger,
  authenticate: (metadata: grpc.Metadata, method: M) => C,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>, caller: C) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        const caller = authenticate(call.metadata, method);
        return handler(call.request, call, caller);
      })
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, log, method)),
      );
  };
}
