// Keyed BLAKE2b of "tag || digits" computed inside libsodium's WebAssembly memory, on buffers
// allocated there once. libsodium-wrappers' crypto_generichash allocates, copies in and frees
// the message and the key, then allocates and copies the output on every call: on a mirror
// check that was about half the time of the check. Here the tag is written once, the key only
// when it changes, the digits straight into the message area, and the digest is read where
// libsodium wrote it. Same function, same bytes (test/unit/keyed-digest.test.ts compares them).
import { sodium } from './sodium';

/** The parts of the Emscripten module behind libsodium-wrappers that the hot path calls. */
interface SodiumModule {
  /** Refreshed by the module when its memory grows: read it on every call, never keep it. */
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _crypto_generichash(out: number, outLength: number, message: number, messageLengthLow: number, messageLengthHigh: number, key: number, keyLength: number): number;
}

const KEY_BYTES_MAX = 64;

interface HeapAreas {
  module: SodiumModule;
  key: number;
  message: number;
  out: number;
  /** Bytes of the key now held at `key`; -1 before the first. */
  keyLength: number;
}

export class KeyedDigitsDigest {
  private areas: HeapAreas | undefined;

  /**
   * @param tag       the message's prefix, written once
   * @param maxDigits the longest digit string hashed here (longer ones are refused)
   * @param outBytes  digest length (BLAKE2b allows 16 to 64)
   */
  constructor(
    private readonly tag: Uint8Array,
    private readonly maxDigits: number,
    private readonly outBytes = 32,
  ) {}

  /**
   * BLAKE2b-`outBytes`(key, tag || digits) as a view of libsodium's memory: valid until the
   * next call on this object or until libsodium's memory grows, so read it at once (or copy it).
   * `digits` must be ASCII (as normalized card numbers are) and at most `maxDigits` long.
   */
  view(key: Uint8Array, digits: string): Uint8Array {
    const areas = this.areas ?? this.allocate();
    const heap = areas.module.HEAPU8;
    if (digits.length > this.maxDigits) throw new RangeError(`at most ${this.maxDigits} digits are hashed here, got ${digits.length}`);
    if (key.length < 1 || key.length > KEY_BYTES_MAX) throw new RangeError(`a BLAKE2b key is 1 to ${KEY_BYTES_MAX} bytes, got ${key.length}`);
    if (!sameKey(heap, areas, key)) {
      heap.set(key, areas.key);
      areas.keyLength = key.length;
    }
    const at = areas.message + this.tag.length;
    for (let i = 0; i < digits.length; i++) heap[at + i] = digits.charCodeAt(i);
    if (areas.module._crypto_generichash(areas.out, this.outBytes, areas.message, this.tag.length + digits.length, 0, areas.key, key.length) !== 0) {
      throw new Error('crypto_generichash refused its arguments');
    }
    // HEAPU8 again: the call cannot grow memory today, but the view must be of the live buffer.
    return areas.module.HEAPU8.subarray(areas.out, areas.out + this.outBytes);
  }

  /** The digest as a Buffer of its own. */
  copy(key: Uint8Array, digits: string): Buffer {
    const view = this.view(key, digits);
    const out = Buffer.allocUnsafe(view.length);
    out.set(view);
    return out;
  }

  private allocate(): HeapAreas {
    const module = (sodium() as unknown as { libsodium: SodiumModule }).libsodium;
    // Allocated once per digest kind and never freed: a few hundred bytes for the process's life.
    const key = module._malloc(KEY_BYTES_MAX);
    const message = module._malloc(this.tag.length + this.maxDigits);
    const out = module._malloc(this.outBytes);
    if (key === 0 || message === 0 || out === 0) throw new Error('libsodium could not allocate its hashing buffers');
    module.HEAPU8.set(this.tag, message);
    this.areas = { module, key, message, out, keyLength: -1 };
    return this.areas;
  }
}

function sameKey(heap: Uint8Array, areas: HeapAreas, key: Uint8Array): boolean {
  if (areas.keyLength !== key.length) return false;
  const at = areas.key;
  for (let i = 0; i < key.length; i++) if (heap[at + i] !== key[i]) return false;
  return true;
}
