// The member-local cache PAN → oblivious PAN selector (docs/oprf.md#the-client-sdk). A card is
// filed under a keyed hash of its number (keyed BLAKE2b under a secret of this member, random
// per client unless the member gives one), so no card number is a map key, in memory or in an
// exported copy. The cache is bounded (least recently used entries go first) and belongs to
// one dealing (setId): selectors of another dealing are another function, so a change of set
// empties it.
//
// An exported copy holds keyed hashes and selectors only. Whoever holds it and the cache key
// can test a candidate card number for membership and read its selector, so the member
// protects both as it protects card data.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { selectorCacheHandle } from '../../proto/ts/trust/domains';
import { MamoriClientError } from './errors';

export const SELECTOR_CACHE_FORMAT = 'mamori-selector-cache-v1';
export const CACHE_KEY_BYTES = 32;
const SELECTOR_BYTES = 32;
const HANDLE_BYTES = 32;
const CHECK_TAG = `${SELECTOR_CACHE_FORMAT}/key-check\0`;

/** An exported cache: JSON of this shape. */
export interface SelectorCacheFile {
  format: typeof SELECTOR_CACHE_FORMAT;
  /** The dealing the selectors were evaluated under. */
  setId: string;
  /** HMAC of a fixed tag under the cache key (hex): tells a wrong key from an empty cache. */
  keyCheck: string;
  /** [keyed hash, selector] in base64, least recently used first. */
  entries: [string, string][];
}

export interface SelectorCacheStats {
  size: number;
  capacity: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Entries dropped because the dealing changed. */
  invalidated: number;
}

/** Bytes of a slot: the card's handle, then its selector (one 64-byte cache line). */
const SLOT_BYTES = 64;

/**
 * The map key of a handle: its first 30 bits, a small integer. V8 hashes and compares small
 * integers without touching memory, where a 32-character string key cost a cache miss or two
 * per lookup (measured: the map lookup was a fifth of a cached mirror check). Handles are
 * uniform, so of n cards about n²/2^31 share a key with another (~5 at 10^5, ~470 at 10^6):
 * the later one is filed in a second map under its whole handle (see SelectorCache).
 */
const mapKeyOf = (handle: Buffer) => handle.readUInt32LE(0) >>> 2;

type Where = { map: Map<number, number>; key: number } | { map: Map<string, number>; key: string };

export class SelectorCache {
  private readonly key: Buffer;
  /** mapKeyOf(handle) → slot; Map order is recency, oldest first (see peek). */
  private readonly slots = new Map<number, number>();
  /** handle (latin1) → slot, for a card whose map key another card holds in `slots`. */
  private readonly overflow = new Map<string, number>();
  /** SLOT_BYTES per slot (handle, selector): one buffer, grown by doubling up to the capacity. */
  private data = Buffer.alloc(0);
  /** When each slot was last put or moved to the end of the order, on `clock`. */
  private stamps = new Float64Array(0);
  /** Ticks once per put and per move, not per hit. */
  private clock = 0;
  /** A hit moves its entry to the end only when it was last moved this many ticks ago or more. */
  private readonly refreshAfter: number;
  private set: string | undefined;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidated = 0;

  constructor(
    readonly capacity: number,
    key?: Uint8Array,
    /** The map key of a handle; replaced by tests to make cards share one. */
    private readonly mapKey: (handle: Buffer) => number = mapKeyOf,
  ) {
    if (key !== undefined && key.length !== CACHE_KEY_BYTES) throw MamoriClientError.config('options.selectors.cacheKey', `expected ${CACHE_KEY_BYTES} bytes`);
    this.key = key ? Buffer.from(key) : randomBytes(CACHE_KEY_BYTES);
    Object.defineProperty(this, 'key', { enumerable: false });
    this.refreshAfter = Math.max(1, Math.floor(capacity / 2));
  }

  /** The handle a normalized card number is filed under, as a string (a map key of callers). */
  handleOf(digits: string): string {
    return selectorCacheHandle(this.key, digits).toString('latin1');
  }

  get setId(): string | undefined {
    return this.set;
  }

  /** A copy of the selector filed under a handle (see peek). */
  get(handle: string): Buffer | undefined {
    const view = this.peek(Buffer.from(handle, 'latin1'));
    if (view === undefined) return undefined;
    const copy = Buffer.allocUnsafe(SELECTOR_BYTES);
    view.copy(copy);
    return copy;
  }

  /** peek of a card by its normalized number: the hot path of a cached check. */
  peekDigits(digits: string): Buffer | undefined {
    return this.peek(selectorCacheHandle(this.key, digits));
  }

  /**
   * The selector filed under a handle, as a view of the cache's own bytes: valid until the next
   * put, so a caller that keeps it past its own synchronous code copies it (get does). A cached
   * card is checked on every authorization, and the mirror check reads the selector at once:
   * a hit there allocates nothing. A hit moves its entry to the end of the eviction order only
   * when the entry has not moved for refreshAfter (half the capacity) puts and moves: deleting
   * and re-inserting a key of a large Map on every hit cost as much as the rest of a mirror
   * check. An entry used at least once per half a cache of new cards is therefore never
   * evicted, and the order stays least recently used first to that granularity.
   */
  private peek(handle: Buffer): Buffer | undefined {
    const where = this.find(handle);
    if (!where) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    const slot = where.map.get(where.key as never) as number;
    if (this.clock - (this.stamps[slot] as number) >= this.refreshAfter) this.moveToEnd(where, slot);
    const at = slot * SLOT_BYTES;
    return this.data.subarray(at + HANDLE_BYTES, at + SLOT_BYTES);
  }

  /** Where a card is filed: under its map key, or (sharing that key with another card) under its whole handle. */
  private find(handle: Buffer): Where | undefined {
    const key = this.mapKey(handle);
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (handle.compare(this.data, slot * SLOT_BYTES, slot * SLOT_BYTES + HANDLE_BYTES) === 0) return { map: this.slots, key };
    if (this.overflow.size === 0) return undefined;
    const whole = handle.toString('latin1');
    return this.overflow.has(whole) ? { map: this.overflow, key: whole } : undefined;
  }

  private moveToEnd(where: Where, slot: number): void {
    if (typeof where.key === 'number') {
      this.slots.delete(where.key);
      this.slots.set(where.key, slot);
    } else {
      this.overflow.delete(where.key);
      this.overflow.set(where.key, slot);
    }
    this.stamps[slot] = this.clock++;
  }

  put(handle: string, selector: Uint8Array, setId: string): void {
    if (this.capacity === 0) return;
    this.useSet(setId);
    if (selector.length !== SELECTOR_BYTES) throw new MamoriClientError('INTERNAL', `a selector has ${SELECTOR_BYTES} bytes, got ${selector.length}`);
    const bytes = Buffer.from(handle, 'latin1');
    if (bytes.length !== HANDLE_BYTES) throw new MamoriClientError('INTERNAL', `a cache handle has ${HANDLE_BYTES} bytes, got ${bytes.length}`);
    const found = this.find(bytes);
    let slot: number;
    if (found) {
      slot = found.map.get(found.key as never) as number;
      this.moveToEnd(found, slot);
    } else {
      slot = this.size >= this.capacity ? this.evictOldest() : this.newSlot();
      const key = this.mapKey(bytes);
      if (this.slots.has(key)) this.overflow.set(handle, slot);
      else this.slots.set(key, slot);
      this.stamps[slot] = this.clock++;
    }
    bytes.copy(this.data, slot * SLOT_BYTES);
    this.data.set(selector, slot * SLOT_BYTES + HANDLE_BYTES);
  }

  /** Drops the least recently used card of either map and returns its slot. */
  private evictOldest(): number {
    const first = this.slots.entries().next().value as [number, number] | undefined;
    const second = this.overflow.entries().next().value as [string, number] | undefined;
    this.evictions++;
    if (second && (!first || (this.stamps[second[1]] as number) < (this.stamps[first[1]] as number))) {
      this.overflow.delete(second[0]);
      return second[1];
    }
    const [key, slot] = first as [number, number];
    this.slots.delete(key);
    // A card filed under its whole handle because this one held the key moves into its place.
    for (const [whole, other] of this.overflow) {
      if (this.mapKey(Buffer.from(whole, 'latin1')) !== key) continue;
      this.overflow.delete(whole);
      this.slots.set(key, other);
      break;
    }
    return slot;
  }

  /** The next unused slot (slots are dense: a slot is freed only to be reused at once). */
  private newSlot(): number {
    const slot = this.size;
    this.grow(slot + 1);
    return slot;
  }

  /** Room for at least `slots` slots: doubling, never past the capacity. */
  private grow(slots: number): void {
    const have = this.stamps.length;
    if (slots <= have) return;
    const next = Math.min(this.capacity, Math.max(slots, have * 2, 1024));
    const data = Buffer.alloc(next * SLOT_BYTES);
    this.data.copy(data);
    this.data = data;
    const stamps = new Float64Array(next);
    stamps.set(this.stamps);
    this.stamps = stamps;
  }

  /** Adopts a dealing; entries of another one are dropped. Returns how many were. */
  useSet(setId: string): number {
    if (this.set === setId) return 0;
    const dropped = this.set === undefined ? 0 : this.size;
    if (this.set !== undefined) {
      this.slots.clear();
      this.overflow.clear();
    }
    this.invalidated += dropped;
    this.set = setId;
    return dropped;
  }

  get size(): number {
    return this.slots.size + this.overflow.size;
  }

  stats(): SelectorCacheStats {
    return { size: this.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions, invalidated: this.invalidated };
  }

  private keyCheck(): string {
    return createHmac('sha256', this.key).update(CHECK_TAG).digest('hex').slice(0, 32);
  }

  /** The cache as JSON: keyed hashes and selectors, never a card number. */
  export(): string {
    const file: SelectorCacheFile = {
      format: SELECTOR_CACHE_FORMAT,
      setId: this.set ?? '',
      keyCheck: this.keyCheck(),
      entries: [...this.slots.values(), ...this.overflow.values()]
        .sort((a, b) => (this.stamps[a] as number) - (this.stamps[b] as number))
        .map((slot) => [this.data.toString('base64', slot * SLOT_BYTES, slot * SLOT_BYTES + HANDLE_BYTES), this.data.toString('base64', slot * SLOT_BYTES + HANDLE_BYTES, (slot + 1) * SLOT_BYTES)]),
    };
    return JSON.stringify(file);
  }

  /**
   * Merges an exported cache (as the most recently used entries, oldest first). Refused when it
   * was written under another cache key; skipped when it belongs to another dealing than the
   * one this client already uses.
   */
  import(text: string): { imported: number; skipped: number } {
    const bad = (problem: string) => new MamoriClientError('INVALID_ARGUMENT', `selector cache: ${problem}`);
    let file: Partial<SelectorCacheFile>;
    try {
      file = JSON.parse(text) as Partial<SelectorCacheFile>;
    } catch (error) {
      throw bad(`not JSON (${(error as Error).message})`);
    }
    if (file === null || typeof file !== 'object' || file.format !== SELECTOR_CACHE_FORMAT) throw bad(`format: expected "${SELECTOR_CACHE_FORMAT}"`);
    if (typeof file.setId !== 'string') throw bad('setId: expected a string');
    if (typeof file.keyCheck !== 'string' || !Array.isArray(file.entries)) throw bad('keyCheck and entries are required');
    const check = Buffer.from(file.keyCheck, 'hex');
    const mine = Buffer.from(this.keyCheck(), 'hex');
    if (check.length !== mine.length || !timingSafeEqual(check, mine)) throw bad('written under another cache key (options.selectors.cacheKey)');
    const entries = file.entries;
    entries.forEach((entry, i) => {
      const ok = Array.isArray(entry) && entry.length === 2 && entry.every((v) => typeof v === 'string');
      if (!ok || Buffer.from(entry[0], 'base64').length !== 32 || Buffer.from(entry[1], 'base64').length !== SELECTOR_BYTES) throw bad(`entries[${i}]: expected [keyed hash, selector] in base64, 32 bytes each`);
    });
    if (file.setId === '' || entries.length === 0) return { imported: 0, skipped: entries.length };
    if (this.set !== undefined && this.set !== file.setId) return { imported: 0, skipped: entries.length };
    for (const [handle, selector] of entries) this.put(Buffer.from(handle, 'base64').toString('latin1'), Buffer.from(selector, 'base64'), file.setId);
    return { imported: entries.length, skipped: 0 };
  }
}
