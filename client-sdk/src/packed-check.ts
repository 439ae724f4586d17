// The packed form of the SDK's Check RPCs (docs/protocol.md#packed-checks), used when the node
// says it answers it (GetHashingKeysResponse.packed_checks) and a batch's selectors share one
// type: the digests travel as one bytes field and the answer as a bitmap of the listed ones.
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import { bitIsSet, bitmapBytes, countSetBits, PACKED_DIGEST_BYTES } from '../../proto/ts/packed-check';
import type { PanSelector } from './batcher';
import { MamoriClientError } from './errors';

export interface PackedCheckRequest {
  packedDigests: Buffer;
  packedType: PanSelector['type'];
}

/** The packed request for selectors of one type; undefined when their types differ (they then go in the repeated form). */
export function packSelectors(selectors: readonly PanSelector[]): PackedCheckRequest | undefined {
  const type = selectors[0]?.type;
  if (type === undefined) return undefined;
  const packed = Buffer.allocUnsafe(selectors.length * PACKED_DIGEST_BYTES);
  for (let i = 0; i < selectors.length; i++) {
    const s = selectors[i] as PanSelector;
    if (s.type !== type) return undefined;
    packed.set(s.digest, i * PACKED_DIGEST_BYTES);
  }
  return { packedDigests: packed, packedType: type };
}

/** One result per packed digest, in order, from a packed response; INTERNAL when the response does not fit the request. */
export function unpackResults(response: CheckResponse__Output, count: number): CheckResult__Output[] {
  const bitmap = response.listedBitmap;
  const listed = response.listedResults;
  if (bitmap.length !== bitmapBytes(count) || countSetBits(bitmap, count) !== listed.length) {
    throw new MamoriClientError('INTERNAL', `the node's packed answer does not fit ${count} selectors (bitmap of ${bitmap.length} bytes, ${listed.length} listed results)`);
  }
  const results = new Array<CheckResult__Output>(count);
  let next = 0;
  for (let i = 0; i < count; i++) {
    results[i] = bitIsSet(bitmap, i) ? (listed[next++] as CheckResult__Output) : { listed: false, evidence: [], listingMembers: 0, score: 0, sightings: null };
  }
  return results;
}
