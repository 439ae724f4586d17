// ristretto255 group operations, hash-to-group / hash-to-scalar (RFC 9380 expand_message_xmd
// with SHA-512) and the typed errors of the OPRF code. libsodium-wrappers-sumo carries the
// ristretto255 primitives; SHA-512 comes from node:crypto.
//
// Encodings follow RFC 9497 for ristretto255-SHA512: an element is its 32-byte canonical
// ristretto255 encoding, a scalar is 32 bytes little-endian in [0, L) (libsodium's own format).
import { createHash, randomFillSync, timingSafeEqual, type Hash } from 'node:crypto';
import _sodium from 'libsodium-wrappers-sumo';

export type SodiumSumo = typeof _sodium;

let ready: SodiumSumo | undefined;

/** Resolves once libsodium-sumo's WebAssembly is initialised; call before any OPRF function. */
export async function oprfReady(): Promise<SodiumSumo> {
  if (!ready) {
    await _sodium.ready;
    ready = _sodium;
  }
  return ready;
}

/** The initialised libsodium-sumo; throws if oprfReady() has not completed. */
export function sumo(): SodiumSumo {
  if (!ready) throw new Error('libsodium-sumo is not initialised: await oprfReady() first');
  return ready;
}

export const ELEMENT_BYTES = 32;
export const SCALAR_BYTES = 32;
export const HASH_BYTES = 64;

/** Group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const ORDER_LE = Uint8Array.from(Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex'));

// ---------------------------------------------------------------------------------------------
// Errors. Every one that reports bad input names the field, so an RPC layer can map it to
// INVALID_ARGUMENT with that field.

/** A value received from outside does not decode (wrong length, not canonical, identity...). */
export class OprfInputError extends Error {
  readonly code = 'INVALID_ARGUMENT' as const;
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'OprfInputError';
  }
}

/** RFC 9497 InvalidInputError: the input hashes to the identity (or the POPRF tweaked key is the identity). */
export class InvalidInputError extends Error {
  constructor(message = 'input maps to the identity element') {
    super(message);
    this.name = 'InvalidInputError';
  }
}

/** RFC 9497 VerifyError: a DLEQ proof does not verify. */
export class VerifyError extends Error {
  constructor(message = 'proof does not verify') {
    super(message);
    this.name = 'VerifyError';
  }
}

/** RFC 9497 InverseError: POPRF skS + m = 0. */
export class InverseError extends Error {
  constructor(message = 'skS + H(info) is zero') {
    super(message);
    this.name = 'InverseError';
  }
}

/** RFC 9497 DeriveKeyPairError. */
export class DeriveKeyPairError extends Error {
  constructor(message = 'no non-zero scalar after 256 counters') {
    super(message);
    this.name = 'DeriveKeyPairError';
  }
}

// ---------------------------------------------------------------------------------------------
// Byte helpers.

export function i2osp(value: number, length: 1 | 2): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * length)) throw new RangeError(`I2OSP: ${value} does not fit ${length} byte(s)`);
  return length === 1 ? Uint8Array.of(value) : Uint8Array.of(value >>> 8, value & 0xff);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** I2OSP(len(x), 2) || x. */
export function lengthPrefixed(x: Uint8Array): Uint8Array {
  return concat(i2osp(x.length, 2), x);
}

/** Constant-time equality of two byte strings of the same length (false on different lengths). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isZero(x: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < x.length; i++) acc |= x[i];
  return acc === 0;
}

// ---------------------------------------------------------------------------------------------
// expand_message_xmd with SHA-512 (RFC 9380 §5.3.1): b_in_bytes = 64, s_in_bytes = 128.

const SHA512_BLOCK = 128;
/** SHA-512 state after absorbing Z_pad (one full block), copied for every message. */
let zPadState: Hash | undefined;

export function expandMessageXmd(msg: Uint8Array, dst: Uint8Array, lenInBytes: number): Uint8Array {
  if (dst.length > 255) throw new RangeError('expand_message_xmd: DST longer than 255 bytes');
  const ell = Math.ceil(lenInBytes / 64);
  if (ell > 255 || lenInBytes > 65535) throw new RangeError('expand_message_xmd: output too long');
  const dstPrime = concat(dst, i2osp(dst.length, 1));
  if (!zPadState) zPadState = createHash('sha512').update(new Uint8Array(SHA512_BLOCK));
  const b0 = zPadState.copy().update(msg).update(i2osp(lenInBytes, 2)).update(Uint8Array.of(0)).update(dstPrime).digest();
  const out = new Uint8Array(ell * 64);
  let previous = createHash('sha512').update(b0).update(Uint8Array.of(1)).update(dstPrime).digest();
  out.set(previous, 0);
  for (let i = 2; i <= ell; i++) {
    const x = Buffer.allocUnsafe(64);
    for (let j = 0; j < 64; j++) x[j] = b0[j] ^ previous[j];
    previous = createHash('sha512').update(x).update(Uint8Array.of(i)).update(dstPrime).digest();
    out.set(previous, (i - 1) * 64);
  }
  return lenInBytes === out.length ? out : out.subarray(0, lenInBytes);
}

/** hash_to_ristretto255 (RFC 9380 Appendix B): expand to 64 bytes, then the ristretto255 one-way map. */
export function hashToGroup(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_from_hash(expandMessageXmd(msg, dst, 64));
}

/** RFC 9497 HashToScalar for ristretto255: 64 uniform bytes, little-endian, reduced mod L. */
export function hashToScalar(msg: Uint8Array, dst: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_reduce(expandMessageXmd(msg, dst, 64));
}

// ---------------------------------------------------------------------------------------------
// Scalars and elements.

const wideRandom = new Uint8Array(64);

/**
 * A uniformly random non-zero scalar: 64 bytes from node:crypto's CSPRNG reduced mod L (RFC 9497
 * §4.7.2, "Random Number Generation Using Extra Random Bits"; bias below 2^-250). libsodium's
 * WebAssembly crypto_core_ristretto255_scalar_random costs ~0.5 ms a call here, through its
 * per-call entropy glue.
 */
export function randomScalar(): Uint8Array {
  for (;;) {
    randomFillSync(wideRandom);
    const s = sumo().crypto_core_ristretto255_scalar_reduce(wideRandom);
    wideRandom.fill(0);
    if (!isZero(s)) return s;
  }
}

/** Scalar from a 64-byte uniform string (reduction mod L). */
export function reduceScalar(wide: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_reduce(wide);
}

/** True when s is a canonical scalar encoding (32 bytes, little-endian value < L). */
export function isCanonicalScalar(s: Uint8Array): boolean {
  if (s.length !== SCALAR_BYTES) return false;
  for (let i = SCALAR_BYTES - 1; i >= 0; i--) {
    if (s[i] < ORDER_LE[i]) return true;
    if (s[i] > ORDER_LE[i]) return false;
  }
  return false; // equal to L
}

/** RFC 9497 DeserializeScalar: 32 bytes, canonical. */
export function deserializeScalar(buf: Uint8Array, field: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new OprfInputError(field, 'is not a byte string');
  if (buf.length !== SCALAR_BYTES) throw new OprfInputError(field, `must be ${SCALAR_BYTES} bytes, got ${buf.length}`);
  if (!isCanonicalScalar(buf)) throw new OprfInputError(field, 'is not a canonical scalar (not below the group order)');
  return buf;
}

/**
 * RFC 9497 DeserializeElement for ristretto255: 32 bytes, canonical ristretto255 encoding,
 * not the identity. Throws OprfInputError naming the field.
 */
export function deserializeElement(buf: Uint8Array, field: string): Uint8Array {
  if (!(buf instanceof Uint8Array)) throw new OprfInputError(field, 'is not a byte string');
  if (buf.length !== ELEMENT_BYTES) throw new OprfInputError(field, `must be ${ELEMENT_BYTES} bytes, got ${buf.length}`);
  if (isZero(buf)) throw new OprfInputError(field, 'is the identity element');
  if (!sumo().crypto_core_ristretto255_is_valid_point(buf)) throw new OprfInputError(field, 'is not a canonical ristretto255 element');
  return buf;
}

export function isIdentity(element: Uint8Array): boolean {
  return isZero(element);
}

/** k·P. Throws if the result is the identity (libsodium refuses it; for valid inputs it means k = 0). */
export function scalarMult(k: Uint8Array, p: Uint8Array): Uint8Array {
  return sumo().crypto_scalarmult_ristretto255(k, p);
}

/** k·G. */
export function scalarMultBase(k: Uint8Array): Uint8Array {
  return sumo().crypto_scalarmult_ristretto255_base(k);
}

export function add(p: Uint8Array, q: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_add(p, q);
}

export function sub(p: Uint8Array, q: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_sub(p, q);
}

export function scalarAdd(a: Uint8Array, b: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_add(a, b);
}

export function scalarSub(a: Uint8Array, b: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_sub(a, b);
}

export function scalarMul(a: Uint8Array, b: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_mul(a, b);
}

export function scalarNegate(a: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_negate(a);
}

/** 1/a mod L; throws for a = 0. */
export function scalarInvert(a: Uint8Array): Uint8Array {
  if (isZero(a)) throw new InverseError('inverse of zero');
  return sumo().crypto_core_ristretto255_scalar_invert(a);
}

/** A small non-negative integer as a scalar. */
export function scalarFromInt(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`scalarFromInt: ${value}`);
  const out = new Uint8Array(SCALAR_BYTES);
  let v = value;
  for (let i = 0; v > 0 && i < 8; i++) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export const IDENTITY: Uint8Array = new Uint8Array(ELEMENT_BYTES);

let generatorElement: Uint8Array | undefined;
/** The ristretto255 generator's encoding. */
export function generator(): Uint8Array {
  if (!generatorElement) generatorElement = scalarMultBase(scalarFromInt(1));
  return generatorElement;
}

/** P + Q where either may be the identity (libsodium's add accepts the zero encoding too). */
export function addOrIdentity(p: Uint8Array, q: Uint8Array): Uint8Array {
  if (isZero(p)) return q;
  if (isZero(q)) return p;
  return add(p, q);
}
