// A read replica's audit key: endorsed by the member's signing key, and refused when the
// endorsement was made for another member or by another key.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import { auditKeyEndorsementBytes } from '../../proto/ts/trust/domains';
import { ConfigError } from '../../node/src/config/errors';
import { generateBoxKeyPair } from '../../node/src/crypto/epochs';
import { generateSigningKeyPair } from '../../node/src/crypto/signing';
import { auditKeyEndorsed, auditPublicKeyOf, auditSigningKeyOf, createEndorsedAuditKey } from '../../node/src/membership/audit-key';
import type { MemberIdentity } from '../../node/src/membership/consortium';

describe('audit key of a read replica', () => {
  before(sodiumReady);

  const identityOf = (member: string, signing: { publicKey: Uint8Array; secretKey?: Uint8Array }, auditKey?: MemberIdentity['auditKey']): MemberIdentity => ({
    member,
    signing: { publicKey: Buffer.from(signing.publicKey), secretKey: signing.secretKey && Buffer.from(signing.secretKey) },
    box: generateBoxKeyPair(),
    auditKey,
  });

  it('the endorsement binds the member and the audit key, under its own domain tag', () => {
    const member = generateSigningKeyPair();
    const key = createEndorsedAuditKey('issuer-a', member.secretKey);
    expect(auditKeyEndorsed('issuer-a', key, member.publicKey)).to.equal(true);
    expect(auditKeyEndorsed('issuer-b', key, member.publicKey), 'another member').to.equal(false);
    expect(auditKeyEndorsed('issuer-a', key, generateSigningKeyPair().publicKey), 'another signing key').to.equal(false);
    expect(auditKeyEndorsed('issuer-a', { ...key, publicKey: Buffer.from(generateSigningKeyPair().publicKey) }, member.publicKey), 'another audit key').to.equal(false);
    expect(auditKeyEndorsementBytes('issuer-a', key.publicKey).subarray(0, 20).toString()).to.equal('mamori/v1/audit-key\0');
  });

  it('a replica signs audit anchors with its endorsed key, a signer with its signing key; a replica key file without an endorsed key is refused', () => {
    const member = generateSigningKeyPair();
    const key = createEndorsedAuditKey('issuer-a', member.secretKey);
    const replica = identityOf('issuer-a', { publicKey: member.publicKey }, key);
    expect(auditSigningKeyOf(replica, 'replica.key.json').publicKey.equals(key.publicKey)).to.equal(true);
    const signer = identityOf('issuer-a', member);
    expect(auditSigningKeyOf(signer, 'member.key.json').publicKey.equals(Buffer.from(member.publicKey))).to.equal(true);

    const forged = identityOf('issuer-a', { publicKey: member.publicKey }, createEndorsedAuditKey('issuer-a', generateSigningKeyPair().secretKey));
    expect(() => auditPublicKeyOf(forged, member.publicKey, 'replica.key.json')).to.throw(ConfigError, /auditKey\.endorsement/);
    const keyless = identityOf('issuer-a', { publicKey: member.publicKey });
    expect(() => auditSigningKeyOf(keyless, 'replica.key.json')).to.throw(ConfigError, /signing\.secretKey: missing/);
  });
});
