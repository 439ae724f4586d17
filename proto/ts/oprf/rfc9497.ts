// RFC 9497 (Oblivious Pseudorandom Functions using Prime-Order Groups), ciphersuite
// ristretto255-SHA512, in its three modes: OPRF (0x00), VOPRF (0x01) and POPRF (0x02).
// Every function takes its randomness as an optional argument (blind, proof scalar) so that
// the published test vectors can be replayed; production callers leave it out.
import { createHash } from 'node:crypto';
import {
  DeriveKeyPairError,
  IDENTITY,
  InvalidInputError,
  InverseError,
  OprfInputError,
  SCALAR_BYTES,
  VerifyError,
  addOrIdentity,
  bytesEqual,
  concat,
  deserializeElement,
  deserializeScalar,
  generator,
  hashToGroup,
  hashToScalar,
  i2osp,
  isIdentity,
  isZero,
  lengthPrefixed,
  randomScalar,
  scalarAdd,
  scalarInvert,
  scalarMul,
  scalarMult,
  scalarMultBase,
  scalarSub,
  utf8,
} from './group';

export const SUITE_ID = 'ristretto255-SHA512';

export enum Mode {
  OPRF = 0x00,
  VOPRF = 0x01,
  POPRF = 0x02,
}

/** CreateContextString(mode, identifier) = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier. */
export function createContextString(mode: Mode): Uint8Array {
  return concat(utf8('OPRFV1-'), i2osp(mode, 1), utf8('-'), utf8(SUITE_ID));
}

const FINALIZE = utf8('Finalize');
const CHALLENGE = utf8('Challenge');
const COMPOSITE = utf8('Composite');
const INFO = utf8('Info');

/** A DLEQ proof: [c, s], serialized as c || s (64 bytes). */
export interface Proof {
  c: Uint8Array;
  s: Uint8Array;
}

export function serializeProof(proof: Proof): Uint8Array {
  return concat(proof.c, proof.s);
}

export function deserializeProof(buf: Uint8Array, field = 'proof'): Proof {
  if (!(buf instanceof Uint8Array) || buf.length !== 2 * SCALAR_BYTES) throw new OprfInputError(field, `must be ${2 * SCALAR_BYTES} bytes`);
  return { c: deserializeScalar(buf.subarray(0, 32), `${field}.c`), s: deserializeScalar(buf.subarray(32, 64), `${field}.s`) };
}

function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/**
 * One RFC 9497 context: a mode and the ristretto255-SHA512 suite. Holds the context string
 * and the DSTs derived from it.
 */
export class Rfc9497 {
  readonly contextString: Uint8Array;
  private readonly hashToGroupDst: Uint8Array;
  private readonly hashToScalarDst: Uint8Array;
  private readonly deriveKeyPairDst: Uint8Array;
  private readonly seedDst: Uint8Array;

  constructor(readonly mode: Mode) {
    this.contextString = createContextString(mode);
    this.hashToGroupDst = concat(utf8('HashToGroup-'), this.contextString);
    this.hashToScalarDst = concat(utf8('HashToScalar-'), this.contextString);
    this.deriveKeyPairDst = concat(utf8('DeriveKeyPair'), this.contextString);
    this.seedDst = concat(utf8('Seed-'), this.contextString);
  }

  hashToGroup(input: Uint8Array): Uint8Array {
    return hashToGroup(input, this.hashToGroupDst);
  }

  hashToScalar(input: Uint8Array): Uint8Array {
    return hashToScalar(input, this.hashToScalarDst);
  }

  /** DeriveKeyPair(seed, info) → (skS, pkS). */
  deriveKeyPair(seed: Uint8Array, info: Uint8Array): { skS: Uint8Array; pkS: Uint8Array } {
    if (seed.length !== SCALAR_BYTES) throw new OprfInputError('seed', `must be ${SCALAR_BYTES} bytes`);
    const deriveInput = concat(seed, lengthPrefixed(info));
    for (let counter = 0; counter <= 255; counter++) {
      const skS = hashToScalar(concat(deriveInput, i2osp(counter, 1)), this.deriveKeyPairDst);
      if (!isZero(skS)) return { skS, pkS: scalarMultBase(skS) };
    }
    throw new DeriveKeyPairError();
  }

  /** GenerateKeyPair() → (skS, pkS) from a CSPRNG. */
  generateKeyPair(): { skS: Uint8Array; pkS: Uint8Array } {
    const skS = randomScalar();
    return { skS, pkS: scalarMultBase(skS) };
  }

  // -------------------------------------------------------------------------------------------
  // DLEQ proofs (RFC 9497 §2.2).

  /** ComputeComposites(B, C, D): the verifier's side, (M, Z) = (Σ d_i·C_i, Σ d_i·D_i). */
  computeComposites(B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[]): { M: Uint8Array; Z: Uint8Array } {
    const seed = this.compositeSeed(B, C, D);
    let M = IDENTITY;
    let Z = IDENTITY;
    for (let i = 0; i < C.length; i++) {
      const di = this.compositeScalar(seed, i, C[i], D[i]);
      M = addOrIdentity(scalarMult(di, C[i]), M);
      Z = addOrIdentity(scalarMult(di, D[i]), Z);
    }
    return { M, Z };
  }

  /** ComputeCompositesFast(k, B, C, D): the prover's side, Z = k·M (one multiplication instead of m). */
  computeCompositesFast(k: Uint8Array, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[]): { M: Uint8Array; Z: Uint8Array } {
    const seed = this.compositeSeed(B, C, D);
    let M = IDENTITY;
    for (let i = 0; i < C.length; i++) {
      const di = this.compositeScalar(seed, i, C[i], D[i]);
      M = addOrIdentity(scalarMult(di, C[i]), M);
    }
    return { M, Z: scalarMult(k, M) };
  }

  private compositeSeed(B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[]): Uint8Array {
    if (C.length === 0 || C.length !== D.length) throw new OprfInputError('evaluatedElements', 'must be a non-empty list as long as blindedElements');
    if (C.length > 0xffff) throw new OprfInputError('evaluatedElements', 'at most 65535 elements in one proof');
    return sha512(lengthPrefixed(B), lengthPrefixed(this.seedDst));
  }

  private compositeScalar(seed: Uint8Array, i: number, Ci: Uint8Array, Di: Uint8Array): Uint8Array {
    return this.hashToScalar(concat(lengthPrefixed(seed), i2osp(i, 2), lengthPrefixed(Ci), lengthPrefixed(Di), COMPOSITE));
  }

  private challenge(B: Uint8Array, M: Uint8Array, Z: Uint8Array, t2: Uint8Array, t3: Uint8Array): Uint8Array {
    return this.hashToScalar(concat(lengthPrefixed(B), lengthPrefixed(M), lengthPrefixed(Z), lengthPrefixed(t2), lengthPrefixed(t3), CHALLENGE));
  }

  /** GenerateProof(k, A, B, C, D): proves k·A = B and k·C[i] = D[i] for all i. r is the proof's random scalar. */
  generateProof(k: Uint8Array, A: Uint8Array, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], r: Uint8Array = randomScalar()): Proof {
    const { M, Z } = this.computeCompositesFast(k, B, C, D);
    const t2 = scalarMult(r, A);
    const t3 = scalarMult(r, M);
    const c = this.challenge(B, M, Z, t2, t3);
    const s = scalarSub(r, scalarMul(c, k));
    return { c, s };
  }

  /** VerifyProof(A, B, C, D, proof). */
  verifyProof(A: Uint8Array, B: Uint8Array, C: readonly Uint8Array[], D: readonly Uint8Array[], proof: Proof): boolean {
    const { M, Z } = this.computeComposites(B, C, D);
    let t2: Uint8Array;
    let t3: Uint8Array;
    try {
      t2 = addOrIdentity(mulOrIdentity(proof.s, A), mulOrIdentity(proof.c, B));
      t3 = addOrIdentity(mulOrIdentity(proof.s, M), mulOrIdentity(proof.c, Z));
    } catch {
      return false;
    }
    return bytesEqual(this.challenge(B, M, Z, t2, t3), proof.c);
  }

  // -------------------------------------------------------------------------------------------
  // Online protocol.

  /** Blind(input) for OPRF and VOPRF. */
  blind(input: Uint8Array, blind: Uint8Array = randomScalar()): { blind: Uint8Array; blindedElement: Uint8Array } {
    this.requireMode(Mode.OPRF, Mode.VOPRF);
    const inputElement = this.hashToGroup(input);
    if (isIdentity(inputElement)) throw new InvalidInputError();
    return { blind, blindedElement: scalarMult(blind, inputElement) };
  }

  /** POPRF Blind(input, info, pkS) → (blind, blindedElement, tweakedKey). */
  blindPoprf(input: Uint8Array, info: Uint8Array, pkS: Uint8Array, blind: Uint8Array = randomScalar()): { blind: Uint8Array; blindedElement: Uint8Array; tweakedKey: Uint8Array } {
    this.requireMode(Mode.POPRF);
    const m = this.infoScalar(info);
    const T = isZero(m) ? IDENTITY : scalarMultBase(m);
    const tweakedKey = addOrIdentity(T, pkS);
    if (isIdentity(tweakedKey)) throw new InvalidInputError('tweaked key is the identity element');
    const inputElement = this.hashToGroup(input);
    if (isIdentity(inputElement)) throw new InvalidInputError();
    return { blind, blindedElement: scalarMult(blind, inputElement), tweakedKey };
  }

  /** OPRF BlindEvaluate(skS, blindedElement). */
  blindEvaluate(skS: Uint8Array, blindedElement: Uint8Array): Uint8Array {
    this.requireMode(Mode.OPRF);
    return scalarMult(skS, deserializeElement(blindedElement, 'blindedElement'));
  }

  /** VOPRF BlindEvaluate over a batch, with one batched DLEQ proof. */
  blindEvaluateVoprf(skS: Uint8Array, pkS: Uint8Array, blindedElements: readonly Uint8Array[], proofRandom?: Uint8Array): { evaluatedElements: Uint8Array[]; proof: Proof } {
    this.requireMode(Mode.VOPRF);
    const blinded = blindedElements.map((b, i) => deserializeElement(b, `blindedElements[${i}]`));
    const evaluatedElements = blinded.map((b) => scalarMult(skS, b));
    const proof = this.generateProof(skS, generator(), pkS, blinded, evaluatedElements, proofRandom);
    return { evaluatedElements, proof };
  }

  /** POPRF BlindEvaluate over a batch sharing one info, with one batched DLEQ proof. */
  blindEvaluatePoprf(skS: Uint8Array, blindedElements: readonly Uint8Array[], info: Uint8Array, proofRandom?: Uint8Array): { evaluatedElements: Uint8Array[]; proof: Proof } {
    this.requireMode(Mode.POPRF);
    const blinded = blindedElements.map((b, i) => deserializeElement(b, `blindedElements[${i}]`));
    const t = scalarAdd(skS, this.infoScalar(info));
    if (isZero(t)) throw new InverseError();
    const tInverse = scalarInvert(t);
    const evaluatedElements = blinded.map((b) => scalarMult(tInverse, b));
    const tweakedKey = scalarMultBase(t);
    const proof = this.generateProof(t, generator(), tweakedKey, evaluatedElements, blinded, proofRandom);
    return { evaluatedElements, proof };
  }

  /** OPRF Finalize(input, blind, evaluatedElement). */
  finalize(input: Uint8Array, blind: Uint8Array, evaluatedElement: Uint8Array): Uint8Array {
    this.requireMode(Mode.OPRF);
    const N = scalarMult(scalarInvert(blind), deserializeElement(evaluatedElement, 'evaluatedElement'));
    return sha512(lengthPrefixed(input), lengthPrefixed(N), FINALIZE);
  }

  /** VOPRF Finalize over a batch: verifies the batched proof, then unblinds each element. */
  finalizeVoprf(inputs: readonly Uint8Array[], blinds: readonly Uint8Array[], evaluatedElements: readonly Uint8Array[], blindedElements: readonly Uint8Array[], pkS: Uint8Array, proof: Proof): Uint8Array[] {
    this.requireMode(Mode.VOPRF);
    const evaluated = evaluatedElements.map((e, i) => deserializeElement(e, `evaluatedElements[${i}]`));
    if (!this.verifyProof(generator(), pkS, blindedElements, evaluated, proof)) throw new VerifyError();
    return evaluated.map((e, i) => sha512(lengthPrefixed(inputs[i]), lengthPrefixed(scalarMult(scalarInvert(blinds[i]), e)), FINALIZE));
  }

  /** POPRF Finalize over a batch sharing one info. */
  finalizePoprf(
    inputs: readonly Uint8Array[],
    blinds: readonly Uint8Array[],
    evaluatedElements: readonly Uint8Array[],
    blindedElements: readonly Uint8Array[],
    proof: Proof,
    info: Uint8Array,
    tweakedKey: Uint8Array,
  ): Uint8Array[] {
    this.requireMode(Mode.POPRF);
    const evaluated = evaluatedElements.map((e, i) => deserializeElement(e, `evaluatedElements[${i}]`));
    if (!this.verifyProof(generator(), tweakedKey, evaluated, blindedElements, proof)) throw new VerifyError();
    return evaluated.map((e, i) => sha512(lengthPrefixed(inputs[i]), lengthPrefixed(info), lengthPrefixed(scalarMult(scalarInvert(blinds[i]), e)), FINALIZE));
  }

  /** Evaluate(skS, input[, info]): the unblinded function, for a holder of the key. */
  evaluate(skS: Uint8Array, input: Uint8Array, info?: Uint8Array): Uint8Array {
    const inputElement = this.hashToGroup(input);
    if (isIdentity(inputElement)) throw new InvalidInputError();
    if (this.mode !== Mode.POPRF) return sha512(lengthPrefixed(input), lengthPrefixed(scalarMult(skS, inputElement)), FINALIZE);
    if (!info) throw new OprfInputError('info', 'is required in POPRF mode');
    const t = scalarAdd(skS, this.infoScalar(info));
    if (isZero(t)) throw new InverseError();
    return sha512(lengthPrefixed(input), lengthPrefixed(info), lengthPrefixed(scalarMult(scalarInvert(t), inputElement)), FINALIZE);
  }

  /** m = HashToScalar("Info" || I2OSP(len(info), 2) || info). */
  infoScalar(info: Uint8Array): Uint8Array {
    return this.hashToScalar(concat(INFO, lengthPrefixed(info)));
  }

  private requireMode(...modes: Mode[]): void {
    if (!modes.includes(this.mode)) throw new Error(`not available in ${Mode[this.mode]} mode`);
  }
}

/** s·P, where s = 0 or P = identity gives the identity instead of libsodium's refusal. */
function mulOrIdentity(s: Uint8Array, P: Uint8Array): Uint8Array {
  if (isZero(s) || isIdentity(P)) return IDENTITY;
  return scalarMult(s, P);
}

