// Hashing-key epochs: a random 32-byte key per epoch, sealed to each member's X25519
// public key (crypto_box_seal) in the consortium file. Opened keys live only in memory.
import { sodium } from '../../../proto/ts/sodium';
import { clientTokenDigest, HASHING_KEY_BYTES } from '../../../proto/ts/trust/domains';

export interface BoxKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function generateBoxKeyPair(): BoxKeyPair {
  const kp = sodium().crypto_box_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

export function generateHashingKey(): Uint8Array {
  return sodium().randombytes_buf(HASHING_KEY_BYTES);
}

export function sealHashingKey(key: Uint8Array, memberBoxPublicKey: Uint8Array): Buffer {
  return Buffer.from(sodium().crypto_box_seal(key, memberBoxPublicKey));
}

/** Returns undefined when the sealed key was not made for this key pair (or was altered). */
export function openHashingKey(sealed: Uint8Array, box: BoxKeyPair): Uint8Array | undefined {
  try {
    const key = sodium().crypto_box_seal_open(sealed, box.publicKey, box.secretKey);
    return key.length === HASHING_KEY_BYTES ? key : undefined;
  } catch {
    return undefined;
  }
}

export function randomToken(bytes = 32): string {
  return Buffer.from(sodium().randombytes_buf(bytes)).toString('base64url');
}

/** Stored instead of a client token, so the node config never holds the token itself. */
export function tokenDigest(token: string): string {
  return clientTokenDigest(token);
}
