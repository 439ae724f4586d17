// Ed25519 member and operator signing keys.
import { sodium } from '../../../proto/ts/sodium';

export interface SigningKeyPair {
  publicKey: Uint8Array; // 32 bytes
  secretKey: Uint8Array; // 64 bytes
}

export function generateSigningKeyPair(): SigningKeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

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

/** BLAKE2b-256 of an entry body: the chain link (prev) and the entry's identity. */
export function entryHash(body: Uint8Array): Buffer {
  return Buffer.from(sodium().crypto_generichash(32, body, null));
}
