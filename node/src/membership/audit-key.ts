// The key a node signs its audit anchors with (store/audit-store.ts). A signer uses the member's
// signing key. A read replica has no signing key: `mamori member replica` gives it a key of its
// own, endorsed by the member's signing key, so its audit anchors still verify against the key
// the operator-signed consortium file names for the member. A replica promoted to signer keeps
// its audit key, and so keeps verifying the anchors it signed as a replica.
import { auditKeyEndorsementBytes } from '../../../proto/ts/trust/domains';
import { ConfigError } from '../config/errors';
import { generateSigningKeyPair, signDetached, verifyDetached } from '../crypto/signing';
import type { MemberIdentity } from './consortium';

export interface EndorsedAuditKey {
  publicKey: Buffer;
  secretKey: Buffer;
  endorsement: Buffer;
}

/** A new audit key for a replica of `member`, endorsed with the member's signing secret key. */
export function createEndorsedAuditKey(member: string, signingSecretKey: Uint8Array): EndorsedAuditKey {
  const pair = generateSigningKeyPair();
  const publicKey = Buffer.from(pair.publicKey);
  return { publicKey, secretKey: Buffer.from(pair.secretKey), endorsement: signDetached(auditKeyEndorsementBytes(member, publicKey), signingSecretKey) };
}

export function auditKeyEndorsed(member: string, auditKey: { publicKey: Uint8Array; endorsement: Uint8Array }, signingPublicKey: Uint8Array): boolean {
  return verifyDetached(auditKey.endorsement, auditKeyEndorsementBytes(member, auditKey.publicKey), signingPublicKey);
}

/**
 * The public key that verifies this member's audit anchors at the node holding `identity`: its
 * endorsed audit key when the key file has one (a replica, or a replica promoted to signer),
 * else the member's signing key. Refused when the endorsement does not verify.
 */
export function auditPublicKeyOf(identity: MemberIdentity, signingPublicKey: Uint8Array, keyFile: string): Buffer {
  if (!identity.auditKey) return Buffer.from(signingPublicKey);
  if (!auditKeyEndorsed(identity.member, identity.auditKey, signingPublicKey)) {
    throw new ConfigError(keyFile, ["auditKey.endorsement: is not the member's signature over this audit key (made for another member or key)"]);
  }
  return identity.auditKey.publicKey;
}

/** The key pair this node signs its audit anchors with; a key file with neither key is refused. */
export function auditSigningKeyOf(identity: MemberIdentity, keyFile: string): { publicKey: Buffer; secretKey: Buffer } {
  const publicKey = auditPublicKeyOf(identity, identity.signing.publicKey, keyFile);
  const secretKey = identity.auditKey?.secretKey ?? identity.signing.secretKey;
  if (!secretKey) throw new ConfigError(keyFile, ['signing.secretKey: missing, and no auditKey to sign the audit log with (make a replica key file with "mamori member replica")']);
  return { publicKey, secretKey };
}
