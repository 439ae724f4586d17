// The member-local cache PAN → oblivious PAN selector (docs/oprf.md#the-client-sdk). A card is
// filed under a keyed hash of its number (keyed BLAKE2b under a secret of this member, random
// per client unless the member gives one), so no card number is a key, in memory or in an
// exported copy. The cache is bounded (least recently used entries go first) and belongs to
// one dealing (setId): selectors of another dealing are another function, so a change of set
// empties it.
//
// An exported copy holds keyed hashes and selectors only. Whoever holds it and the cache key
// can test a candidate card number for membership and read its selector, so the member
// protects both as it protects card data.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { selectorCacheHandle, selectorCacheHandleView } from '../../proto/ts/trust/domains';
import { MamoriClientError } from './errors';
import { SlotIndex } from './slot-index';

export const SELECTOR_CACHE_FORMAT = 'mamori-selector-cache-v2';
/** The format before handles were shortened to their first 16 bytes; still imported. */
export const SELECTOR_CACHE_FORMAT_V1 = 'mamori-selector-cache-v1';
export const CACHE_KEY_BYTES = 32;
const SELECTOR_BYTES = 32;
const HANDLE_BYTES = 32;
/** Bytes of the handle a slot keeps: 128 bits, so two cards of a cache share one with probability ~n²/2^129. */
const FILED_HANDLE_BYTES = 16;
const CHECK_TAG = `${SELECTOR_CACHE_FORMAT_V1}/key-check\0`;

/** An exported cache: JSON of this shape. */
export interface SelectorCacheFile {
  format: typeof SELECTOR_CACHE_FORMAT;
  /** The dealing the selectors were evaluated under. */
  setId: string;
  /** HMAC of a fixed tag under the cache key (hex): tells a wrong key from an empty cache. */
  keyCheck: string;
  /** [keyed hash (its first 16 bytes), selector] in base64, least recently used first. */
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

/**
 * A slot: one 64-byte cache line, all a cached check reads. Words 0–3 the card's handle (its
 * first 16 bytes, as little-endian words), word 4 the slot's listing verdict (see verdictAt),
 * word 5 its flags (FILLED, SHARED), bytes 24–31 its stamp (a float64), bytes 32–63 the
 * selector.
 */
const SLOT_BYTES = 64;
const SLOT_WORDS = SLOT_BYTES / 4;
const VERDICT_WORD = 4;
const FLAGS_WORD = 5;
const FILLED = 1;
/** Another card held the same selector when this one was filed (see sharesSelector). */
const SHARED = 2;
const STAMP_DOUBLE = 3;
const SELECTOR_AT = 32;
const NONE = -1;
/** Slots per card at most: the table is kept at most two-thirds full, so a lookup reads about two adjacent slots. */
const LOAD_DIVISOR = 1.5;
const MIN_SLOTS = 1536;
const TWO_TO_32 = 4294967296;

/**
 * The cards sit in an open-addressing table of slots (linear probing): a card's home slot comes
 * from its handle's first 32 bits, and a lookup reads from there to the card, without any index
 * in between: one cache line, or two adjacent ones. Removal shifts the following run back (no
 * tombstones), moving a card's slot with its place in the eviction order and the selector table.
 */
export class SelectorCache {
  private readonly key: Buffer;
  /** SLOT_BYTES per slot; `words` and `doubles` view the same memory. Grown by doubling up to capacity × 1.5 slots. */
  private data = Buffer.alloc(0);
  private words = new Uint32Array(0);
  private doubles = new Float64Array(0);
  private slots = 0;
  private used = 0;
  /** Selector → slot, by the selector's first word: a selector the mirror learns finds its card. */
  private readonly bySelector: SlotIndex;
  /** Eviction order, a doubly linked list over slots: oldest first. */
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  private oldest = NONE;
  private newest = NONE;
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
    /** The word a handle's home slot comes from (its first 32 bits); replaced by tests to make cards share one. */
    private readonly homeWord: (firstWord: number) => number = (word) => word,
  ) {
    if (key !== undefined && key.length !== CACHE_KEY_BYTES) throw MamoriClientError.config('options.selectors.cacheKey', `expected ${CACHE_KEY_BYTES} bytes`);
    this.key = key ? Buffer.from(key) : randomBytes(CACHE_KEY_BYTES);
    Object.defineProperty(this, 'key', { enumerable: false });
    this.refreshAfter = Math.max(1, Math.floor(capacity / 2));
    this.bySelector = new SlotIndex((slot) => this.data.readUInt32LE(slot * SLOT_BYTES + SELECTOR_AT));
  }

  /** The handle a normalized card number is filed under, as a string (a map key of callers). */
  handleOf(digits: string): string {
    return selectorCacheHandle(this.key, digits).toString('latin1');
  }

  get setId(): string | undefined {
    return this.set;
  }

  /** A copy of the selector filed under a handle. */
  get(handle: string): Buffer | undefined {
    const slot = this.use(Buffer.from(handle, 'latin1'));
    if (slot === NONE) return undefined;
    return Buffer.from(this.selectorAt(slot));
  }

  /** The slot of a card by its normalized number, or -1: the hot path of a cached check. */
  slotOfDigits(digits: string): number {
    // A view of libsodium's output, read at once by find: the hot path allocates nothing.
    return this.use(selectorCacheHandleView(this.key, digits));
  }

  /**
   * The selector of a slot, as a view of the cache's own bytes: valid until the next put (a put
   * may move other cards' slots), so a caller that keeps it past its own synchronous code
   * copies it (get does). A cached card is checked on every authorization, and the mirror reads
   * the selector at once: a hit there allocates nothing.
   */
  selectorAt(slot: number): Buffer {
    const at = slot * SLOT_BYTES + SELECTOR_AT;
    return this.data.subarray(at, at + SELECTOR_BYTES);
  }

  /** What the mirror said of this slot's selector (mirror-verdicts.ts); 0 until set, and again after every put. */
  verdictAt(slot: number): number {
    return this.words[slot * SLOT_WORDS + VERDICT_WORD] as number;
  }

  setVerdict(slot: number, verdict: number): void {
    this.words[slot * SLOT_WORDS + VERDICT_WORD] = verdict;
  }

  /**
   * True when the slot's selector was already another cached card's when it was filed. Two
   * cards have one selector only when an evaluation went wrong (or an imported file says so);
   * such a slot is left out of the selector table, which keeps one slot per selector and so
   * never grows a long run, and its verdict is not to be remembered.
   */
  sharesSelector(slot: number): boolean {
    return ((this.words[slot * SLOT_WORDS + FLAGS_WORD] as number) & SHARED) !== 0;
  }

  /** Sets the verdict of the slot holding this selector, if any (slots sharing it are not remembered: see sharesSelector). */
  setVerdictOfSelector(selector: Uint8Array, verdict: number): void {
    const slot = this.slotOfSelector(selector);
    if (slot !== NONE) this.setVerdict(slot, verdict);
  }

  private slotOfSelector(selector: Uint8Array): number {
    if (this.used === 0 || selector.length !== SELECTOR_BYTES) return NONE;
    const first = (selector[0] as number) | ((selector[1] as number) << 8) | ((selector[2] as number) << 16) | ((selector[3] as number) << 24);
    const { table, mask } = this.bySelector;
    for (let position = first & mask; table[position] !== 0; position = (position + 1) & mask) {
      const slot = (table[position] as number) - 1;
      if (this.selectorAt(slot).equals(selector)) return slot;
    }
    return NONE;
  }

  /**
   * The slot of a handle, counted as a hit or a miss. A hit moves its entry to the end of the
   * eviction order only when the entry has not moved for refreshAfter (half the capacity) puts
   * and moves: an entry used at least once per half a cache of new cards is therefore never
   * evicted, the order stays least recently used first to that granularity, and a hit reads
   * its own slot only.
   */
  private use(handle: Uint8Array): number {
    const slot = this.find(handle);
    if (slot === NONE) {
      this.misses++;
      return NONE;
    }
    this.hits++;
    if (this.clock - (this.doubles[slot * (SLOT_BYTES / 8) + STAMP_DOUBLE] as number) >= this.refreshAfter) this.moveToEnd(slot);
    return slot;
  }

  /** The home slot of a handle whose first word is `word`: its fraction of 2^32, scaled to the table. */
  private homeOf(word: number): number {
    return Math.floor(((this.homeWord(word) >>> 0) / TWO_TO_32) * this.slots);
  }

  private find(handle: Uint8Array): number {
    if (this.used === 0) return NONE;
    const w0 = wordOf(handle, 0);
    const w1 = wordOf(handle, 4);
    const w2 = wordOf(handle, 8);
    const w3 = wordOf(handle, 12);
    const words = this.words;
    const slots = this.slots;
    for (let slot = this.homeOf(w0); ; slot = slot + 1 === slots ? 0 : slot + 1) {
      const at = slot * SLOT_WORDS;
      if (words[at + FLAGS_WORD] === 0) return NONE;
      if (words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) return slot;
    }
  }

  put(handle: string, selector: Uint8Array, setId: string): void {
    const bytes = Buffer.from(handle, 'latin1');
    if (bytes.length !== HANDLE_BYTES) throw new MamoriClientError('INTERNAL', `a cache handle has ${HANDLE_BYTES} bytes, got ${bytes.length}`);
    this.file(bytes, selector, setId);
  }

  /** Files a selector under a handle (at least its first 16 bytes). */
  private file(handle: Buffer, selector: Uint8Array, setId: string): void {
    if (this.capacity === 0) return;
    this.useSet(setId);
    if (selector.length !== SELECTOR_BYTES) throw new MamoriClientError('INTERNAL', `a selector has ${SELECTOR_BYTES} bytes, got ${selector.length}`);
    let slot = this.find(handle);
    if (slot !== NONE) {
      if (!this.sharesSelector(slot)) this.bySelector.remove(slot);
      this.moveToEnd(slot);
    } else {
      if (this.used >= this.capacity) this.evictOldest();
      else this.grow(this.used + 1);
      slot = this.freeSlotFor(handle.readUInt32LE(0));
      const at = slot * SLOT_WORDS;
      for (let w = 0; w < FILED_HANDLE_BYTES / 4; w++) this.words[at + w] = handle.readUInt32LE(w * 4);
      this.used++;
      this.append(slot);
    }
    const shared = this.slotOfSelector(selector) !== NONE;
    this.data.set(selector, slot * SLOT_BYTES + SELECTOR_AT);
    this.setVerdict(slot, 0);
    this.words[slot * SLOT_WORDS + FLAGS_WORD] = FILLED | (shared ? SHARED : 0);
    if (!shared) this.bySelector.insert(slot);
  }

  /** The first empty slot from the home of a handle's first word on. */
  private freeSlotFor(word: number): number {
    let slot = this.homeOf(word);
    while (this.words[slot * SLOT_WORDS + FLAGS_WORD] !== 0) slot = slot + 1 === this.slots ? 0 : slot + 1;
    return slot;
  }

  private moveToEnd(slot: number): void {
    if (this.newest !== slot) {
      this.unlink(slot);
      this.append(slot);
    } else {
      this.stamp(slot);
    }
  }

  private append(slot: number): void {
    this.older[slot] = this.newest;
    this.newer[slot] = NONE;
    if (this.newest === NONE) this.oldest = slot;
    else this.newer[this.newest] = slot;
    this.newest = slot;
    this.stamp(slot);
  }

  private stamp(slot: number): void {
    this.doubles[slot * (SLOT_BYTES / 8) + STAMP_DOUBLE] = this.clock++;
  }

  private unlink(slot: number): void {
    const older = this.older[slot] as number;
    const newer = this.newer[slot] as number;
    if (older === NONE) this.oldest = newer;
    else this.newer[older] = newer;
    if (newer === NONE) this.newest = older;
    else this.older[newer] = older;
  }

  /** Drops the least recently used card; the run after its slot shifts back over the hole. */
  private evictOldest(): void {
    let hole = this.oldest;
    this.evictions++;
    this.used--;
    this.unlink(hole);
    if (!this.sharesSelector(hole)) this.bySelector.remove(hole);
    const slots = this.slots;
    for (let slot = hole + 1 === slots ? 0 : hole + 1; this.words[slot * SLOT_WORDS + FLAGS_WORD] !== 0; slot = slot + 1 === slots ? 0 : slot + 1) {
      const home = this.homeOf(this.words[slot * SLOT_WORDS] as number);
      const stays = hole <= slot ? hole < home && home <= slot : hole < home || home <= slot;
      if (stays) continue;
      this.move(slot, hole);
      hole = slot;
    }
    this.words[hole * SLOT_WORDS + FLAGS_WORD] = 0;
  }

  /** Moves a card to an empty slot, with its place in the eviction order and in the selector table. */
  private move(from: number, to: number): void {
    const indexed = !this.sharesSelector(from);
    if (indexed) this.bySelector.remove(from);
    this.data.copyWithin(to * SLOT_BYTES, from * SLOT_BYTES, (from + 1) * SLOT_BYTES);
    const older = this.older[from] as number;
    const newer = this.newer[from] as number;
    this.older[to] = older;
    this.newer[to] = newer;
    if (older === NONE) this.oldest = to;
    else this.newer[older] = to;
    if (newer === NONE) this.newest = to;
    else this.older[newer] = to;
    if (indexed) this.bySelector.insert(to);
  }

  /** Room for `cards` cards: the table doubles (never past capacity × 1.5 slots) and every card is filed again, oldest first. */
  private grow(cards: number): void {
    if (cards * LOAD_DIVISOR <= this.slots) return;
    const slots = Math.min(Math.ceil(this.capacity * LOAD_DIVISOR), Math.max(MIN_SLOTS, this.slots * 2));
    const { data: oldData, words: oldWords, oldest: first } = this;
    const oldNewer = this.newer;
    this.data = Buffer.alloc(slots * SLOT_BYTES);
    this.words = new Uint32Array(this.data.buffer, this.data.byteOffset, this.data.byteLength / 4);
    this.doubles = new Float64Array(this.data.buffer, this.data.byteOffset, this.data.byteLength / 8);
    this.older = new Int32Array(slots);
    this.newer = new Int32Array(slots);
    this.slots = slots;
    this.oldest = NONE;
    this.newest = NONE;
    this.bySelector.resize(slots, 0);
    for (let from = first; from !== NONE; from = oldNewer[from] as number) {
      const slot = this.freeSlotFor(oldWords[from * SLOT_WORDS] as number);
      oldData.copy(this.data, slot * SLOT_BYTES, from * SLOT_BYTES, (from + 1) * SLOT_BYTES);
      // Appended in the old order, with the old stamps (append would give new ones).
      this.older[slot] = this.newest;
      this.newer[slot] = NONE;
      if (this.newest === NONE) this.oldest = slot;
      else this.newer[this.newest] = slot;
      this.newest = slot;
      if (!this.sharesSelector(slot)) this.bySelector.insert(slot);
    }
  }

  /** Adopts a dealing; entries of another one are dropped. Returns how many were. */
  useSet(setId: string): number {
    if (this.set === setId) return 0;
    const dropped = this.set === undefined ? 0 : this.used;
    if (this.set !== undefined) {
      this.used = 0;
      this.oldest = NONE;
      this.newest = NONE;
      this.bySelector.clear();
      this.data.fill(0);
    }
    this.invalidated += dropped;
    this.set = setId;
    return dropped;
  }

  get size(): number {
    return this.used;
  }

  stats(): SelectorCacheStats {
    return { size: this.size, capacity: this.capacity, hits: this.hits, misses: this.misses, evictions: this.evictions, invalidated: this.invalidated };
  }

  private keyCheck(): string {
    return createHmac('sha256', this.key).update(CHECK_TAG).digest('hex').slice(0, 32);
  }

  /** The cache as JSON: keyed hashes and selectors, never a card number. */
  export(): string {
    const entries: [string, string][] = [];
    for (let slot = this.oldest; slot !== NONE; slot = this.newer[slot] as number) {
      const handle = Buffer.alloc(FILED_HANDLE_BYTES);
      for (let w = 0; w < FILED_HANDLE_BYTES / 4; w++) handle.writeUInt32LE(this.words[slot * SLOT_WORDS + w] as number, w * 4);
      entries.push([handle.toString('base64'), this.selectorAt(slot).toString('base64')]);
    }
    const file: SelectorCacheFile = { format: SELECTOR_CACHE_FORMAT, setId: this.set ?? '', keyCheck: this.keyCheck(), entries };
    return JSON.stringify(file);
  }

  /**
   * Merges an exported cache (as the most recently used entries, oldest first): this format, or
   * v1 (whole handles). Refused when it was written under another cache key; skipped when it
   * belongs to another dealing than the one this client already uses.
   */
  import(text: string): { imported: number; skipped: number } {
    const bad = (problem: string) => new MamoriClientError('INVALID_ARGUMENT', `selector cache: ${problem}`);
    let file: Partial<Omit<SelectorCacheFile, 'format'>> & { format?: unknown };
    try {
      file = JSON.parse(text) as typeof file;
    } catch (error) {
      throw bad(`not JSON (${(error as Error).message})`);
    }
    const handleBytes = file?.format === SELECTOR_CACHE_FORMAT ? FILED_HANDLE_BYTES : file?.format === SELECTOR_CACHE_FORMAT_V1 ? HANDLE_BYTES : 0;
    if (file === null || typeof file !== 'object' || handleBytes === 0) throw bad(`format: expected "${SELECTOR_CACHE_FORMAT}" (or "${SELECTOR_CACHE_FORMAT_V1}")`);
    if (typeof file.setId !== 'string') throw bad('setId: expected a string');
    if (typeof file.keyCheck !== 'string' || !Array.isArray(file.entries)) throw bad('keyCheck and entries are required');
    const check = Buffer.from(file.keyCheck, 'hex');
    const mine = Buffer.from(this.keyCheck(), 'hex');
    if (check.length !== mine.length || !timingSafeEqual(check, mine)) throw bad('written under another cache key (options.selectors.cacheKey)');
    const entries = file.entries;
    entries.forEach((entry, i) => {
      const ok = Array.isArray(entry) && entry.length === 2 && entry.every((v) => typeof v === 'string');
      if (!ok || Buffer.from(entry[0], 'base64').length !== handleBytes || Buffer.from(entry[1], 'base64').length !== SELECTOR_BYTES) {
        throw bad(`entries[${i}]: expected [keyed hash of ${handleBytes} bytes, selector of ${SELECTOR_BYTES} bytes] in base64`);
      }
    });
    if (file.setId === '' || entries.length === 0) return { imported: 0, skipped: entries.length };
    if (this.set !== undefined && this.set !== file.setId) return { imported: 0, skipped: entries.length };
    for (const [handle, selector] of entries) this.file(Buffer.from(handle, 'base64'), Buffer.from(selector, 'base64'), file.setId);
    return { imported: entries.length, skipped: 0 };
  }
}

/** The little-endian unsigned 32-bit word at `at` (as Uint32Array holds it), from any byte array. */
function wordOf(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) >>> 0;
}
