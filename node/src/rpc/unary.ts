import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Authenticator } from './auth';
import { toServiceError } from './status-mapping';

/**
 * Adapts a handler to grpc-js: authenticates, runs it, and maps any error in one place.
 * Handlers may be async: grpc-js ignores a rejected promise and the call would hang.
 */
export function unary<Req, Res>(
  method: string,
  log: Logger,
  authenticate: Authenticator,
  handler: (request: Req, call: grpc.ServerUnaryCall<Req, Res>, caller: string) => Res | Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        const caller = authenticate(call.metadata) ?? '';
        return handler(call.request, call, caller);
      })
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(error, log, method)),
      );
  };
}
