// Ed25519 member and operator signing keys. What gets signed, and how signatures are checked,
// is defined in proto/ts/trust/ (domains.ts, verify.ts).
import { sodium } from '../../../proto/ts/sodium';

export { signDetached, verifyDetached } from '../../../proto/ts/trust/verify';
export { entryHash } from '../../../proto/ts/trust/domains';

export interface SigningKeyPair {
  publicKey: Uint8Array; // 32 bytes
  secretKey: Uint8Array; // 64 bytes
}

export function generateSigningKeyPair(): SigningKeyPair {
  const kp = sodium().crypto_sign_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}
