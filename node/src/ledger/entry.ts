// Entry bodies: encoded once by their origin, then stored and forwarded verbatim.
import * as protobuf from 'protobufjs';
import { ledgerProtoRoot, TO_OBJECT_OPTIONS } from '../../../proto/ts/loader';
import type { EntryBody, EntryBody__Output } from '../../../proto/gen/mamori/v1/EntryBody';
import { entryHash } from '../../../proto/ts/trust/domains';
import { signEntry } from '../../../proto/ts/trust/verify';
import { MamoriError } from './errors';
import type { OperationName } from './roles';

export const ZERO_HASH: Buffer = Buffer.alloc(32);

let bodyType: protobuf.Type | undefined;
function entryBodyType(): protobuf.Type {
  bodyType ??= ledgerProtoRoot().lookupType('mamori.v1.EntryBody');
  return bodyType;
}

export function encodeEntryBody(body: EntryBody): Buffer {
  const type = entryBodyType();
  const bytes = type.encode(type.fromObject(body as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * True when the body re-encodes to the same bytes from what was decoded (fields present on
 * the wire, in field order). False for unknown fields, a field repeated or sent with another
 * wire type, or any encoding that two parsers might read differently.
 */
export function isCanonicalBody(bytes: Uint8Array): boolean {
  const type = entryBodyType();
  try {
    const again = type.encode(type.decode(bytes)).finish();
    return Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    return false;
  }
}

export function decodeEntryBody(bytes: Uint8Array): EntryBody__Output {
  const type = entryBodyType();
  try {
    const message = type.decode(bytes);
    return type.toObject(message, TO_OBJECT_OPTIONS) as EntryBody__Output;
  } catch (error) {
    throw MamoriError.malformedEntry('body is not a valid EntryBody', error);
  }
}

export function operationOf(body: EntryBody__Output): OperationName | undefined {
  return (body.operation ?? undefined) as OperationName | undefined;
}

export interface SignedEntry {
  body: Buffer;
  signature: Buffer;
  hash: Buffer;
}

export interface FeedHead {
  seq: number;
  hash: Buffer;
}

/** Builds, encodes and signs the next entry of a feed. */
export function signNextEntry(
  origin: string,
  head: FeedHead,
  keyEpoch: number,
  operation: Pick<EntryBody, 'publishIndicators' | 'retract' | 'sightings' | 'cardTestingReport' | 'fraudReport' | 'keyEpochAck' | 'commonPointFlags' | 'oprfEvaluationCounts'>,
  signingSecretKey: Uint8Array,
  createdAtMs = Date.now(),
): SignedEntry {
  const body = encodeEntryBody({ origin, seq: head.seq + 1, prev: head.hash, createdAtMs, keyEpoch, ...operation });
  return { body, signature: signEntry(body, signingSecretKey), hash: entryHash(body) };
}

/** The entry fields before the operation: enough to check chain and signature. */
export interface EntryHeader {
  origin: string;
  seq: number;
  prev: Buffer;
  createdAtMs: number;
  keyEpoch: number;
  operation?: OperationName;
}

const OPERATION_FIELDS: Readonly<Record<number, OperationName>> = {
  10: 'publishIndicators',
  11: 'retract',
  12: 'sightings',
  13: 'cardTestingReport',
  14: 'fraudReport',
  15: 'keyEpochAck',
  16: 'commonPointFlags',
  17: 'oprfEvaluationCounts',
};

function longToNumber(value: number | { toNumber(): number }): number {
  return typeof value === 'number' ? value : value.toNumber();
}

/**
 * Reads the header fields of an entry body and which operation it carries, skipping the
 * operation's content: re-verifying a stored ledger at start-up needs the chain and the
 * signature, not a full decode of every indicator (~10x faster on 10^6 indicators).
 */
export function readEntryHeader(bytes: Uint8Array): EntryHeader {
  const header: EntryHeader = { origin: '', seq: 0, prev: Buffer.alloc(0), createdAtMs: 0, keyEpoch: 0 };
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      if (field === 1 && wireType === 2) header.origin = reader.string();
      else if (field === 2 && wireType === 0) header.seq = longToNumber(reader.uint64() as unknown as number | { toNumber(): number });
      else if (field === 3 && wireType === 2) header.prev = Buffer.from(reader.bytes());
      else if (field === 4 && wireType === 0) header.createdAtMs = longToNumber(reader.int64() as unknown as number | { toNumber(): number });
      else if (field === 5 && wireType === 0) header.keyEpoch = reader.uint32();
      else {
        if (OPERATION_FIELDS[field] && wireType === 2) header.operation = OPERATION_FIELDS[field];
        reader.skipType(wireType);
      }
    }
  } catch (error) {
    throw MamoriError.malformedEntry('body is not a valid EntryBody', error);
  }
  return header;
}
