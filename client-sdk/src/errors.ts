import * as grpc from '@grpc/grpc-js';

export type ClientErrorCode =
  | 'INVALID_PAN'
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'INTERNAL'
  | 'CONFIG';

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED']);

/** The SDK's one error type. Messages never contain a card number. */
export class MamoriClientError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MamoriClientError';
    this.retryable = RETRYABLE.has(code);
  }

  static fromGrpc(error: grpc.ServiceError): MamoriClientError {
    const byStatus: Partial<Record<grpc.status, ClientErrorCode>> = {
      [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
      [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
      [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
      [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
      [grpc.status.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
      [grpc.status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
      [grpc.status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
    };
    const code = byStatus[error.code] ?? 'INTERNAL';
    return new MamoriClientError(code, error.details || error.message, { cause: error });
  }
}
