// Entry bodies: encoded once by their origin, then stored and forwarded verbatim.
import type * as protobuf from 'protobufjs';
import { ledgerProtoRoot, TO_OBJECT_OPTIONS } from '../../../proto/ts/loader';
import { entrySigningBytes } from '../../../proto/ts/signed-bytes';
import type { EntryBody, EntryBody__Output } from '../../../proto/gen/mamori/v1/EntryBody';
import { entryHash, signDetached } from '../crypto/signing';
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
  operation: Pick<EntryBody, 'publishIndicators' | 'retract' | 'sightings' | 'cardTestingReport' | 'fraudReport' | 'keyEpochAck'>,
  signingSecretKey: Uint8Array,
  createdAtMs = Date.now(),
): SignedEntry {
  const body = encodeEntryBody({ origin, seq: head.seq + 1, prev: head.hash, createdAtMs, keyEpoch, ...operation });
  return { body, signature: signDetached(entrySigningBytes(body), signingSecretKey), hash: entryHash(body) };
}
