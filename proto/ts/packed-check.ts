// The packed form of a Check (docs/protocol.md#packed-checks): N digests of 32 bytes back to
// back instead of N Selector messages, and a bitmap of the listed ones instead of N results.
// protobufjs decodes one bytes field in one step where it decodes N messages (and N Buffers)
// one by one; the node answers most selectors "not listed", which the bitmap says in a bit.

export const PACKED_DIGEST_BYTES = 32;

/** Bytes of the bitmap of `count` digests. */
export function bitmapBytes(count: number): number {
  return (count + 7) >>> 3;
}

/** Bit i: byte i / 8, mask 1 << (i % 8) (the Bloom filter's layout). */
export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >>> 3] = (bitmap[i >>> 3] as number) | (1 << (i & 7));
}

export function bitIsSet(bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >>> 3] as number) & (1 << (i & 7))) !== 0;
}

/** Set bits among the first `count` (the listed digests a response must carry results for). */
export function countSetBits(bitmap: Uint8Array, count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) if (bitIsSet(bitmap, i)) total++;
  return total;
}
