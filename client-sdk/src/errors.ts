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

/** The codes on which a check answers with the fail-open / fail-closed policy instead of throwing. */
const DEGRADABLE: ReadonlySet<ClientErrorCode> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED']);

/** By gRPC status code: the numbers of the gRPC protocol (doc/statuscodes.md), not of a library. */
const BY_GRPC_STATUS: Partial<Record<number, ClientErrorCode>> = {
  3: 'INVALID_ARGUMENT',
  16: 'UNAUTHENTICATED',
  7: 'PERMISSION_DENIED',
  14: 'UNAVAILABLE',
  4: 'DEADLINE_EXCEEDED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
};

const STATUS_NAMES: ReadonlySet<ClientErrorCode> = new Set(Object.values(BY_GRPC_STATUS) as ClientErrorCode[]);

/** What a failed gRPC call reports (grpc-js's ServiceError has these fields). */
export interface GrpcFailure {
  code: number;
  details?: string;
  message: string;
}

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

  /** True when a check should be answered by the fail mode rather than fail the payment. */
  get degradable(): boolean {
    return DEGRADABLE.has(this.code);
  }

  static fromGrpc(error: GrpcFailure): MamoriClientError {
    const code = BY_GRPC_STATUS[error.code] ?? 'INTERNAL';
    return new MamoriClientError(code, error.details || error.message, { cause: error });
  }

  /** An error a node names by its gRPC status name (CheckStream's per-message errors). */
  static fromStatusName(name: string, message: string): MamoriClientError {
    const code = STATUS_NAMES.has(name as ClientErrorCode) ? (name as ClientErrorCode) : 'INTERNAL';
    return new MamoriClientError(code, message);
  }

  /** `reason` comes from normalizePan and never contains the number. */
  static invalidPan(reason: string, index?: number): MamoriClientError {
    return new MamoriClientError('INVALID_PAN', index === undefined ? `card number ${reason}` : `card ${index + 1}: card number ${reason}`);
  }

  static config(field: string, problem: string): MamoriClientError {
    return new MamoriClientError('CONFIG', `${field}: ${problem}`);
  }

  static deadlineExceeded(what: string, deadlineMs: number): MamoriClientError {
    return new MamoriClientError('DEADLINE_EXCEEDED', `${what} did not finish within ${deadlineMs} ms`);
  }

  static notAvailableYet(feature: string, plural = false): MamoriClientError {
    return new MamoriClientError('FAILED_PRECONDITION', `${feature} ${plural ? 'are' : 'is'} not available from this node yet`);
  }

  static closed(): MamoriClientError {
    return new MamoriClientError('FAILED_PRECONDITION', 'the client is closed');
  }
}

/** Any thrown value as a MamoriClientError, keeping the original as the cause. */
export function asClientError(error: unknown): MamoriClientError {
  if (error instanceof MamoriClientError) return error;
  return new MamoriClientError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}
