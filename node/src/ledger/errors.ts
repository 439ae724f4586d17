// One error type for the domain, a factory per code. `message` is safe to show a client
// (never a PAN, key or full selector); `cause` is for logs only.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  // entry acceptance (docs/design.md#acceptance)
  | 'MALFORMED_ENTRY'
  | 'ENTRY_TOO_LARGE'
  | 'NOT_A_MEMBER'
  | 'ROLE_FORBIDS'
  | 'BAD_SIGNATURE'
  | 'SEQ_GAP'
  | 'SEQ_REPLAY'
  | 'PREV_MISMATCH'
  | 'EQUIVOCATION'
  | 'ORIGIN_FROZEN'
  // the node's own storage refused a write (size limit or disk full): retry once there is room
  | 'STORAGE_FULL';

export class MamoriError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;

  constructor(code: ErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MamoriError';
    this.code = code;
    this.field = options?.field;
  }

  static invalidArgument(field: string, reason: string): MamoriError {
    return new MamoriError('INVALID_ARGUMENT', `${field}: ${reason}`, { field });
  }
  static unauthenticated(reason: string): MamoriError {
    return new MamoriError('UNAUTHENTICATED', reason);
  }
  static permissionDenied(reason: string): MamoriError {
    return new MamoriError('PERMISSION_DENIED', reason);
  }
  static failedPrecondition(reason: string): MamoriError {
    return new MamoriError('FAILED_PRECONDITION', reason);
  }
  static internal(reason: string, cause?: unknown): MamoriError {
    return new MamoriError('INTERNAL', reason, { cause });
  }
  static malformedEntry(reason: string, cause?: unknown): MamoriError {
    return new MamoriError('MALFORMED_ENTRY', `malformed entry: ${reason}`, { cause });
  }
  static entryTooLarge(bytes: number, limit: number): MamoriError {
    return new MamoriError('ENTRY_TOO_LARGE', `entry body is ${bytes} bytes; the limit is ${limit}`);
  }
  static notAMember(origin: string): MamoriError {
    return new MamoriError('NOT_A_MEMBER', `origin "${origin}" is not a current member of the consortium`);
  }
  static roleForbids(origin: string, operation: string): MamoriError {
    return new MamoriError('ROLE_FORBIDS', `the roles of "${origin}" do not allow ${operation}`);
  }
  static badSignature(origin: string, seq: number): MamoriError {
    return new MamoriError('BAD_SIGNATURE', `entry ${origin}#${seq}: signature does not verify`);
  }
  static seqGap(origin: string, seq: number, head: number): MamoriError {
    return new MamoriError('SEQ_GAP', `entry ${origin}#${seq}: expected seq ${head + 1}`);
  }
  static seqReplay(origin: string, seq: number, head: number): MamoriError {
    return new MamoriError('SEQ_REPLAY', `entry ${origin}#${seq}: already at seq ${head}`);
  }
  static storageFull(reason: string, cause?: unknown): MamoriError {
    return new MamoriError('STORAGE_FULL', `storage full: ${reason}`, { cause });
  }
  static prevMismatch(origin: string, seq: number): MamoriError {
    return new MamoriError('PREV_MISMATCH', `entry ${origin}#${seq}: prev does not match the hash of entry ${seq - 1}`);
  }
}

export function isMamoriError(error: unknown): error is MamoriError {
  return error instanceof MamoriError;
}
