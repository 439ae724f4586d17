// Every signature Mamori makes or checks (Ed25519, libsodium), over the bytes defined in
// domains.ts: ledger entries (signed by their origin member) and the consortium document
// (signed by the operator). Sign and forward the stored bytes; never re-encode before verifying.
import { sodium } from '../sodium';
import { canonicalJson, consortiumSigningBytes, entrySigningBytes, joinRequestSigningBytes, operatorKeyCheckBytes } from './domains';

export function signDetached(message: Uint8Array, secretKey: Uint8Array): Buffer {
  return Buffer.from(sodium().crypto_sign_detached(message, secretKey));
}

/** libsodium returns false for a bad signature; malformed key or signature sizes are also false here. */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const s = sodium();
  if (signature.length !== s.crypto_sign_BYTES || publicKey.length !== s.crypto_sign_PUBLICKEYBYTES) return false;
  try {
    return s.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}

/** The origin's signature over an encoded entry body. */
export function signEntry(body: Uint8Array, signingSecretKey: Uint8Array): Buffer {
  return signDetached(entrySigningBytes(body), signingSecretKey);
}

/**
 * True when `signature` is the origin's signature over exactly these body bytes. The one check
 * of an entry's signature: acceptance, replication, start-up verification and scrub use it.
 */
export function verifyEntry(entry: { body: Uint8Array; signature: Uint8Array }, signingPublicKey: Uint8Array): boolean {
  return verifyDetached(entry.signature, entrySigningBytes(entry.body), signingPublicKey);
}

/** The operator's signature (base64) over a consortium document, as the file stores it. */
export function signConsortiumDocument(document: unknown, operatorSecretKey: Uint8Array): string {
  return signDetached(consortiumSigningBytes(canonicalJson(document)), operatorSecretKey).toString('base64');
}

/**
 * True when `signatureBase64` is the operator's signature over the document. Pass the document
 * as the operator wrote it (parsed JSON, before any default is filled in): the signature covers
 * its canonical JSON.
 */
export function verifyConsortiumDocument(document: unknown, signatureBase64: string, operatorPublicKey: Uint8Array): boolean {
  return verifyDetached(Buffer.from(signatureBase64, 'base64'), consortiumSigningBytes(canonicalJson(document)), operatorPublicKey);
}

/** A joining member's signature (base64) over its join request, `signature` field left out. */
export function signJoinRequest(request: Record<string, unknown>, signingSecretKey: Uint8Array): string {
  const { signature: _omitted, ...unsigned } = request;
  return signDetached(joinRequestSigningBytes(canonicalJson(unsigned)), signingSecretKey).toString('base64');
}

/** True when the request's `signature` is the signature of the key it names over the rest of it. */
export function verifyJoinRequest(request: Record<string, unknown>, signingPublicKey: Uint8Array): boolean {
  const { signature, ...unsigned } = request;
  if (typeof signature !== 'string') return false;
  return verifyDetached(Buffer.from(signature, 'base64'), joinRequestSigningBytes(canonicalJson(unsigned)), signingPublicKey);
}

/** True when an operator's secret key signs what its public key verifies (a damaged or mismatched key file is false). */
export function operatorKeyPairMatches(publicKey: Uint8Array, secretKey: Uint8Array): boolean {
  const probe = operatorKeyCheckBytes();
  try {
    return verifyDetached(signDetached(probe, secretKey), probe, publicKey);
  } catch {
    return false;
  }
}
