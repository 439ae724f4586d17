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

export class SelectorCache {
  private readonly key: Buffer;
  /** keyed hash (latin1) → selector (latin1); Map order is recency, oldest first. */
  private readonly entries = new Map<string, string>();
  private set: string | undefined;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private invalidated = 0;

  constructor(
    readonly capacity: number,
    key?: Uint8Array,
  ) {
    if (key !== undefined && key.length !== CACHE_KEY_BYTES) throw MamoriClientError.config('options.selectors.cacheKey', `expected ${CACHE_KEY_BYTES} bytes`);
    this.key = key ? Buffer.from(key) : randomBytes(CACHE_KEY_BYTES);
    Object.defineProperty(this, 'key', { enumerable: false });
  }

  /** The handle a normalized card number is filed under. */
  handleOf(digits: string): string {
    return selectorCacheHandle(this.key, digits).toString('latin1');
  }

  get setId(): string | undefined {
    return this.set;
  }

  /** The selector filed under a handle, marking it most recently used. */
  get(handle: string): Buffer | undefined {
    const selector = this.entries.get(handle);
    if (selector === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(handle);
    this.entries.set(handle, selector);
    return Buffer.from(selector, 'latin1');
  }

  put(handle: string, selector: Uint8Array, setId: string): void {
    if (this.capacity === 0) return;
    this.useSet(setId);
    if (selector.length !== SELECTOR_BYTES) throw new MamoriClientError('INTERNAL', `a selector has ${SELECTOR_BYTES} bytes, got ${selector.length}`);
    this.entries.delete(handle);
    this.entries.set(handle, Buffer.from(selector).toString('latin1'));
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
  }

  /** Adopts a dealing; entries of another one are dropped. Returns how many were. */
  useSet(setId: string): number {
    if (this.set === setId) return 0;
    const dropped = this.set === undefined ? 0 : this.entries.size;
    if (this.set !== undefined) this.entries.clear();
    this.invalidated += dropped;
    this.set = setId;
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }

  stats(): SelectorCacheStats {
    return { size: this.entries.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions, invalidated: this.invalidated };
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
      entries: [...this.entries].map(([handle, selector]) => [Buffer.from(handle, 'latin1').toString('base64'), Buffer.from(selector, 'latin1').toString('base64')]),
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
