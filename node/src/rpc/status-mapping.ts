// The one place domain errors become gRPC statuses. Only a MamoriError's message reaches a
// client; anything else is logged with its cause and answered with a generic INTERNAL.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type ErrorCode, MamoriError } from '../ledger/errors';

const STATUS_BY_CODE: Readonly<Record<ErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  NOT_FOUND: grpc.status.NOT_FOUND,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
  MALFORMED_ENTRY: grpc.status.INVALID_ARGUMENT,
  ENTRY_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  NOT_A_MEMBER: grpc.status.PERMISSION_DENIED,
  ROLE_FORBIDS: grpc.status.PERMISSION_DENIED,
  BAD_SIGNATURE: grpc.status.INVALID_ARGUMENT,
  SEQ_GAP: grpc.status.FAILED_PRECONDITION,
  SEQ_REPLAY: grpc.status.ALREADY_EXISTS,
  PREV_MISMATCH: grpc.status.FAILED_PRECONDITION,
  EQUIVOCATION: grpc.status.FAILED_PRECONDITION,
  ORIGIN_FROZEN: grpc.status.FAILED_PRECONDITION,
  STORAGE_FULL: grpc.status.RESOURCE_EXHAUSTED,
};

export function toServiceError(error: unknown, log: Logger, method: string): Partial<grpc.StatusObject> {
  if (error instanceof MamoriError && error.code !== 'INTERNAL') {
    return { code: STATUS_BY_CODE[error.code], details: error.message };
  }
  log.error({ err: error, method }, 'request failed with an internal error');
  return { code: grpc.status.INTERNAL, details: 'internal error; see the node log' };
}
