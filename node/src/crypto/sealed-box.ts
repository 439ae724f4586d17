// Anonymous sealed boxes (crypto_box_seal): a member seals data to another member's X25519
// key from the consortium file; only the holder of that key's secret can open it.
import { sodium } from '../../../proto/ts/sodium';
import type { BoxKeyPair } from './epochs';

export function sealTo(plaintext: Uint8Array, recipientPublicKey: Uint8Array): Buffer {
  return Buffer.from(sodium().crypto_box_seal(plaintext, recipientPublicKey));
}

/** Undefined when the box was not sealed to this key pair or was altered. */
export function openSealed(sealed: Uint8Array, box: BoxKeyPair): Uint8Array | undefined {
  try {
    return sodium().crypto_box_seal_open(sealed, box.publicKey, box.secretKey);
  } catch {
    return undefined;
  }
}

/**
 * The X25519 shared secret of this key pair's secret key and another member's public key (what
 * issuer-notice tag keys are derived from). Undefined for a public key of low order.
 */
export function boxSharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  try {
    return sodium().crypto_scalarmult(secretKey, publicKey);
  } catch {
    return undefined;
  }
}
