// Certificates for the consortium's mutual TLS: a consortium CA, member leaf certificates
// that name the member in a `mamori:member:<id>` URI SAN, and reading that id back from a
// peer certificate. Pure JS (@peculiar/x509 over Node's WebCrypto), so `mamori dev-consortium`
// works on a machine without an `openssl` binary.
// tsyringe (inside @peculiar/x509) throws at load time without a Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto);

export interface CertificateAndKey {
  /** X.509 certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** Private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
}

export interface MemberCertificateOptions {
  validDays?: number;
  /** Extra names the member serves under: IP literals become IP SANs, the rest DNS SANs. */
  hosts?: string[];
}

/** The parts of Node's `tls.PeerCertificate` this module reads. */
export interface PeerCertificateLike {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
}

export const MEMBER_URI_PREFIX = 'mamori:member:';
const MEMBER_ID = /^[a-z0-9-]{3,32}$/;
const DAY_MS = 86_400_000;
/** Backdating absorbs clock skew between the issuing machine and its peers. */
const BACKDATE_MS = 5 * 60_000;
const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export async function createConsortiumCa(name: string, validDays = 3650): Promise<CertificateAndKey> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // JSON form, not 'CN=…', so a name containing ',' or '=' cannot add attributes.
    name: [{ CN: [`${name} Mamori consortium CA`] }],
    ...validity(validDays),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: privateKeyPem(keys.privateKey) };
}

export async function issueMemberCertificate(
  ca: CertificateAndKey,
  memberId: string,
  options: MemberCertificateOptions = {},
): Promise<CertificateAndKey> {
  if (!MEMBER_ID.test(memberId)) throw new Error(`Invalid member id ${JSON.stringify(memberId)}: expected ${MEMBER_ID}`);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [memberId] }],
    issuer: caCert.subjectName,
    ...validity(options.validDays ?? 825),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(memberId, options.hosts ?? [])),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: privateKeyPem(keys.privateKey) };
}

/**
 * The member id named by a peer certificate's `URI:mamori:member:<id>` SAN, or undefined when
 * there is none, more than one distinct id, or an id outside /^[a-z0-9-]{3,32}$/. The CN is not
 * consulted: only certificates this module issued carry the URI, and an id must be unambiguous.
 */
export function memberIdFromPeerCertificate(cert: PeerCertificateLike | undefined): string | undefined {
  if (!cert || typeof cert.subjectaltname !== 'string') return undefined;
  const ids = new Set<string>();
  for (const { type, value } of parseSubjectAltName(cert.subjectaltname)) {
    if (type === 'URI' && value.startsWith(MEMBER_URI_PREFIX)) ids.add(value.slice(MEMBER_URI_PREFIX.length));
  }
  if (ids.size !== 1) return undefined;
  const [id] = ids;
  return MEMBER_ID.test(id) ? id : undefined;
}

function subjectAltNames(memberId: string, hosts: readonly string[]): x509.JsonGeneralNames {
  const names: x509.JsonGeneralNames = [{ type: 'url', value: `${MEMBER_URI_PREFIX}${memberId}` }];
  const seen = new Set<string>();
  for (const host of ['localhost', '127.0.0.1', ...hosts]) {
    const value = host.trim().toLowerCase();
    if (!value || seen.has(value)) continue;
    seen.add(value);
    names.push({ type: isIP(value) ? 'ip' : 'dns', value });
  }
  return names;
}

/**
 * Splits Node's `subjectaltname` string ("DNS:a, IP Address:1.2.3.4, URI:x"). Since Node 17
 * (CVE-2021-44532) a value containing ',', '"' or similar is emitted as a JSON string, so a
 * crafted SAN cannot smuggle a second entry through naive splitting on ", ".
 */
function parseSubjectAltName(text: string): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        return entries; // malformed: keep only what parsed cleanly before it
      }
    } else {
      const comma = text.indexOf(', ', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    if (text.startsWith(', ', end)) i = end + 2;
    else break;
  }
  return entries;
}

function validity(validDays: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validDays) || validDays <= 0) throw new Error(`Invalid validDays ${validDays}`);
  const now = Date.now();
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + validDays * DAY_MS) };
}

/** 16 random bytes, first byte in 1..0x7f: a positive DER INTEGER of fixed length. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) || 0x01;
  return bytes.toString('hex');
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

function privateKeyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** Accepts PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM for a P-256 key. */
async function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('Consortium CA key must be an ECDSA P-256 private key');
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
}
