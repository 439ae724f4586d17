// Bloom filter over selector digests (32-byte BLAKE2b-256 outputs).
//
// Storage is the bloom-filters package's BitSet; bit positions are NOT computed with the
// package's string hashing (slow, and far above its configured false-positive rate on hex
// digests). A selector is already uniformly random, so the positions come straight from its
// bytes by enhanced double hashing (Dillinger & Manolios), in exact integer arithmetic:
// every intermediate stays below 2^53, no floating-point 64-bit tricks, no BigInt.
//
// The derivation of positions is part of the protocol: a node's snapshot file and the client
// SDK's in-process mirror use the same bits. Changing it requires a new snapshot magic
// (node/src/index/snapshot.ts) and a new mirror protocol, or old copies would silently
// answer false negatives.

// The BitSet module alone: the package's index loads every structure it offers (sketches,
// cuckoo filters, lodash), ~0.2 s of start-up for every node and CLI process.
import BitSet from 'bloom-filters/dist/bloom/bit-set';

export { BitSet };

/** Positions are plain numbers below 2^32; `pos >>> 3` must stay exact. */
export const MAX_BITS = 2 ** 32 - 1;
export const DIGEST_BYTES = 32;
/** k above this means a target rate below ~1e-19: a configuration mistake, not a need. */
export const MAX_HASHES = 64;

export interface BloomParams {
  /** m: number of bits, 1 ≤ m < 2^32. */
  readonly bits: number;
  /** k: number of bit positions per digest. */
  readonly hashes: number;
  /** n: number of digests the filter was sized for. */
  readonly capacity: number;
  /** p: false-positive rate the filter was sized for at `capacity` items. */
  readonly targetFpRate: number;
}

export class DigestBloomFilter {
  /**
   * Size a filter for `capacity` digests at false-positive rate `targetFpRate`:
   * m = ceil(-n ln p / (ln 2)^2), k = max(1, round(m/n ln 2)).
   */
  static forCapacity(capacity: number, targetFpRate: number): DigestBloomFilter {
    checkCapacity(capacity);
    checkRate(targetFpRate);
    const bits = Math.ceil((-capacity * Math.log(targetFpRate)) / (Math.LN2 * Math.LN2));
    if (bits > MAX_BITS) {
      throw new RangeError(
        `capacity ${capacity} at targetFpRate ${targetFpRate} needs ${bits} bits; ` +
          `the filter is limited to 2^32 - 1 bits (lower capacity or raise targetFpRate)`,
      );
    }
    const hashes = Math.max(1, Math.round((bits / capacity) * Math.LN2));
    if (hashes > MAX_HASHES) {
      throw new RangeError(
        `targetFpRate ${targetFpRate} needs ${hashes} hashes; at most ${MAX_HASHES} are allowed`,
      );
    }
    return new DigestBloomFilter({ bits, hashes, capacity, targetFpRate });
  }

  /**
   * A filter whose bits are `bytes` themselves (BitSet layout, exactly ceil(bits / 8) bytes):
   * no copy and no zeroed array of its own, so a filter received in chunks costs its bytes once.
   */
  static over(params: BloomParams, bytes: Uint8Array, items: number): DigestBloomFilter {
    // A BitSet of size 0 owns an empty array; it is given `bytes` and the size they hold.
    const bitset = new BitSet(0) as { size: number; array: Uint8Array };
    bitset.size = bytes.length * 8;
    bitset.array = bytes;
    return new DigestBloomFilter(params, bitset as BitSet, items);
  }

  private readonly bitset: BitSet;
  private readonly m: number;
  private readonly k: number;
  private readonly frozenParams: BloomParams;
  private count: number;
  /** Bits set, kept current by add() so status never scans the whole filter. */
  private setBits: number;

  constructor(params: BloomParams, bitset?: BitSet, items = 0) {
    const { bits, hashes, capacity, targetFpRate } = params;
    if (!Number.isInteger(bits) || bits < 1 || bits > MAX_BITS) {
      throw new RangeError(`bits must be an integer in [1, 2^32 - 1], got ${bits}`);
    }
    if (!Number.isInteger(hashes) || hashes < 1 || hashes > MAX_HASHES) {
      throw new RangeError(`hashes must be an integer in [1, ${MAX_HASHES}], got ${hashes}`);
    }
    checkCapacity(capacity);
    checkRate(targetFpRate);
    if (!Number.isSafeInteger(items) || items < 0) {
      throw new RangeError(`items must be a non-negative integer, got ${items}`);
    }
    const bytes = Math.ceil(bits / 8);
    if (bitset === undefined) {
      bitset = new BitSet(bits);
    } else if (bitset.array.length !== bytes || bitset.size < bits) {
      throw new RangeError(
        `bitset holds ${bitset.array.length} bytes (size ${bitset.size}), ` +
          `but ${bits} bits need exactly ${bytes} bytes`,
      );
    }
    this.bitset = bitset;
    this.m = bits;
    this.k = hashes;
    this.frozenParams = Object.freeze({ bits, hashes, capacity, targetFpRate });
    this.count = items;
    this.setBits = bitset === undefined ? 0 : popcount(bitset.array);
  }

  get params(): BloomParams {
    return this.frozenParams;
  }

  /** Number of add() calls, duplicates included: it measures load, not distinct digests. */
  get items(): number {
    return this.count;
  }

  add(digest: Uint8Array): void {
    checkDigest(digest);
    const m = this.m;
    const k = this.k;
    const array = this.bitset.array;
    let x = reduce64(word(digest, 0), word(digest, 4), m);
    let y = reduce64(word(digest, 8), word(digest, 12), m);
    for (let i = 0; i < k; i++) {
      const byte = array[x >>> 3] as number;
      const mask = 1 << (x & 7);
      if ((byte & mask) === 0) {
        array[x >>> 3] = byte | mask;
        this.setBits++;
      }
      x += y;
      if (x >= m) x -= m;
      y += i + 1;
      if (y >= m) y %= m;
    }
    this.count++;
  }

  /** False means certainly absent; true means present or a false positive. Allocation-free. */
  has(digest: Uint8Array): boolean {
    checkDigest(digest);
    return this.hasAt(digest, 0);
  }

  /** has() of the 32-byte digest at `offset` of `bytes` (packed digests), with no view made. */
  hasAt(bytes: Uint8Array, offset: number): boolean {
    if (!(Number.isInteger(offset) && offset >= 0 && offset + DIGEST_BYTES <= bytes.length)) {
      throw new RangeError(`a digest at offset ${offset} needs ${DIGEST_BYTES} bytes, the array holds ${bytes.length}`);
    }
    const m = this.m;
    const k = this.k;
    const array = this.bitset.array;
    let x = reduce64(word(bytes, offset), word(bytes, offset + 4), m);
    let y = reduce64(word(bytes, offset + 8), word(bytes, offset + 12), m);
    for (let i = 0; i < k; i++) {
      if ((array[x >>> 3] & (1 << (x & 7))) === 0) return false;
      x += y;
      if (x >= m) x -= m;
      y += i + 1;
      if (y >= m) y %= m;
    }
    return true;
  }

  /** Fraction of bits set. Scans the whole bit array: for status, not the hot path. */
  fill(): number {
    return this.setBits / this.m;
  }

  /** False-positive rate at the current fill: fill^k. */
  estimatedFpRate(): number {
    return this.fill() ** this.k;
  }

  overCapacity(): boolean {
    return this.count > this.frozenParams.capacity;
  }

  /** The live bit array (BitSet layout: bit i is byte i >>> 3, mask 1 << (i & 7)). Not a copy. */
  bitsetBytes(): Uint8Array {
    return this.bitset.array;
  }
}

/** Little-endian uint32 at `offset`; works for Buffer and plain Uint8Array without allocating. */
function word(b: Uint8Array, offset: number): number {
  return (b[offset] | (b[offset + 1] << 8) | (b[offset + 2] << 16) | (b[offset + 3] << 24)) >>> 0;
}

/**
 * (hi * 2^32 + lo) mod m for hi, lo < 2^32 and m < 2^32, in steps below 2^53:
 * (hi mod m) * 2^16 < 2^48, reduced, times 2^16 < 2^48, plus lo < 2^49.
 */
function reduce64(hi: number, lo: number, m: number): number {
  return ((((hi % m) * 65536) % m) * 65536 + lo) % m;
}

function checkDigest(digest: Uint8Array): void {
  if (digest.length !== DIGEST_BYTES) {
    throw new RangeError(`digest must be ${DIGEST_BYTES} bytes, got ${digest.length}`);
  }
}

function checkCapacity(capacity: number): void {
  if (!Number.isSafeInteger(capacity) || capacity <= 0) {
    throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }
}

function checkRate(targetFpRate: number): void {
  if (!(targetFpRate > 0 && targetFpRate < 1)) {
    throw new RangeError(`targetFpRate must be in (0, 1), got ${targetFpRate}`);
  }
}

/** Number of set bits, 32 at a time (BitSet.bitCount walks bit by bit). */
function popcount(bytes: Uint8Array): number {
  let total = 0;
  const whole = bytes.length - (bytes.length % 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < whole; i += 4) {
    let v = view.getUint32(i, true);
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    total += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  for (let i = whole; i < bytes.length; i++) {
    let b = bytes[i] as number;
    while (b) {
      total += b & 1;
      b >>>= 1;
    }
  }
  return total;
}
