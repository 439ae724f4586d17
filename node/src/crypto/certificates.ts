// Certificates for the consortium's mutual TLS: a consortium CA, member leaf certificates
// that name the member in a `mamori:member:<id>` URI SAN, and reading that id back from a
// peer certificate. Issuing is pure JS (@peculiar/x509 over Node's WebCrypto), so `mamori
// dev-consortium` works on a machine without an `openssl` binary; reading a certificate uses
// Node's own X509Certificate.
import type * as X509Lib from '@peculiar/x509';
import { KeyObject, X509Certificate, createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

let library: Promise<typeof X509Lib> | undefined;

/**
 * @peculiar/x509, loaded on first use: only issuing certificates and checking requests need it
 * (the operator's and member-setup commands). Loading it, with the Reflect metadata polyfill
 * that tsyringe inside it needs at load time, takes a few hundred milliseconds that a starting
 * node does not spend.
 */
function x509Library(): Promise<typeof X509Lib> {
  library ??= (async () => {
    await import('reflect-metadata');
    const lib = await import('@peculiar/x509');
    lib.cryptoProvider.set(webcrypto);
    return lib;
  })();
  return library;
}

export interface CertificateAndKey {
  /** X.509 certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** Private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
}

export interface MemberCertificateOptions {
  validDays?: number;
  /** An explicit validity window instead of validDays from now (tests of expiry and renewal). */
  notBeforeMs?: number;
  notAfterMs?: number;
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
  return createCertificateAuthority(`${name} Mamori consortium CA`, validDays);
}

/** A self-signed P-256 CA that signs certificates only (the consortium CA, a member's API CA). */
export async function createCertificateAuthority(commonName: string, validDays = 3650): Promise<CertificateAndKey> {
  const x509 = await x509Library();
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // JSON form, not 'CN=…', so a name containing ',' or '=' cannot add attributes.
    name: [{ CN: [commonName] }],
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
  const keys = await generateKeyPair();
  const certPem = await signMemberCertificate(ca, memberId, keys.publicKey, options.validDays ?? 825, options.hosts ?? [], options);
  return { certPem, keyPem: privateKeyPem(keys.privateKey) };
}

/** A new certificate for a member's existing TLS key (what a renewal issues: the key stays). */
export async function issueMemberCertificateForKey(ca: CertificateAndKey, memberId: string, keyPem: string, options: MemberCertificateOptions = {}): Promise<string> {
  if (!MEMBER_ID.test(memberId)) throw new Error(`Invalid member id ${JSON.stringify(memberId)}: expected ${MEMBER_ID}`);
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, EC_KEY, true, ['verify']);
  return signMemberCertificate(ca, memberId, publicKey, options.validDays ?? 365, options.hosts ?? [], options);
}

/** A member's TLS key and its certificate signing request, made on the member's own machine. */
export interface CertificateRequestAndKey {
  /** PKCS#10 request, PEM (`-----BEGIN CERTIFICATE REQUEST-----`). */
  csrPem: string;
  /** Private key, PKCS#8 PEM: it never leaves the member's directory. */
  keyPem: string;
}

/** Key usages a member certificate may carry: TLS client and server, nothing that signs certificates. */
const memberKeyUsages = (x509: typeof X509Lib) => x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement;

/** A P-256 key and a CSR naming the member (CN and `mamori:member:<id>` URI SAN) with the member key usages. */
export async function createMemberCertificateRequest(memberId: string, hosts: readonly string[] = []): Promise<CertificateRequestAndKey> {
  const x509 = await x509Library();
  if (!MEMBER_ID.test(memberId)) throw new Error(`Invalid member id ${JSON.stringify(memberId)}: expected ${MEMBER_ID}`);
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [memberId] }],
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.KeyUsagesExtension(memberKeyUsages(x509), true),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(memberId, hosts)),
    ],
  });
  return { csrPem: csr.toString('pem'), keyPem: privateKeyPem(keys.privateKey) };
}

/**
 * Checks a member's CSR before the operator signs it: it parses, its self-signature verifies,
 * its key is ECDSA P-256, its subject is exactly CN=<memberId>, a URI SAN it requests names
 * the same member, and it asks for the member key usages (digitalSignature, keyAgreement
 * only), never a CA. Returns the problems, each a sentence; none when the CSR is acceptable.
 */
export async function checkMemberCertificateRequest(csrPem: string, memberId: string): Promise<string[]> {
  const x509 = await x509Library();
  let csr: X509Lib.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    return ['is not a PEM PKCS#10 certificate signing request'];
  }
  const problems: string[] = [];
  try {
    if (!(await csr.verify())) problems.push('its signature does not verify (altered, or not signed by the key it carries)');
  } catch {
    problems.push('its signature cannot be checked (unsupported key or signature algorithm)');
  }
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') problems.push('its key is not an ECDSA P-256 key');
  const cn = csr.subjectName.getField('CN');
  if (csr.subjectName.toJSON().length !== 1 || cn.length !== 1 || cn[0] !== memberId) {
    problems.push(`its subject is "${csr.subject}", expected exactly "CN=${memberId}"`);
  }
  const san = extensionOf(csr.extensions, x509.SubjectAlternativeNameExtension);
  for (const name of san?.names.toJSON() ?? []) {
    if (name.type === 'url' && name.value.startsWith(MEMBER_URI_PREFIX) && name.value !== `${MEMBER_URI_PREFIX}${memberId}`) {
      problems.push(`it requests the name ${name.value}, expected ${MEMBER_URI_PREFIX}${memberId}`);
    }
  }
  const basic = extensionOf(csr.extensions, x509.BasicConstraintsExtension);
  if (basic?.ca) problems.push('it requests a CA certificate');
  const usage = extensionOf(csr.extensions, x509.KeyUsagesExtension);
  if (!usage) problems.push('it requests no key usage; expected digitalSignature and keyAgreement');
  else if ((usage.usages & ~memberKeyUsages(x509)) !== 0 || (usage.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    problems.push('its key usage is not the member usage (digitalSignature, keyAgreement; never certificate or CRL signing)');
  }
  return problems;
}

/** The first extension of a class (the library builds typed extensions for the OIDs it knows). */
function extensionOf<T extends X509Lib.Extension>(extensions: readonly X509Lib.Extension[], type: new (...args: never[]) => T): T | undefined {
  return extensions.find((e): e is T => e instanceof type);
}

/**
 * The operator's half: a member certificate for the key of a CSR that passed
 * checkMemberCertificateRequest. Names and usages are the operator's, not copied from the CSR.
 */
export async function issueMemberCertificateForRequest(
  ca: CertificateAndKey,
  memberId: string,
  csrPem: string,
  options: MemberCertificateOptions = {},
): Promise<string> {
  const x509 = await x509Library();
  const problems = await checkMemberCertificateRequest(csrPem, memberId);
  if (problems.length > 0) throw new Error(`certificate signing request: ${problems.join('; ')}`);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const publicKey = await csr.publicKey.export(EC_KEY, ['verify']);
  return signMemberCertificate(ca, memberId, publicKey, options.validDays ?? 365, options.hosts ?? []);
}

/** What a member checks of the certificate the operator issued it. */
export interface IssuedCertificateFacts {
  memberId: string | undefined;
  notAfterMs: number;
  /** Signed by the CA certificate given. */
  issuedByCa: boolean;
  /** Certifies the public key of the private key given. */
  matchesKey: boolean;
}

export async function inspectMemberCertificate(certPem: string, caCertPem: string, keyPem: string): Promise<IssuedCertificateFacts> {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caCertPem);
  let issuedByCa = false;
  try {
    issuedByCa = cert.verify(ca.publicKey);
  } catch {
    issuedByCa = false;
  }
  const matchesKey = cert.checkPrivateKey(createPrivateKey(keyPem));
  const uri = parseSubjectAltName(cert.subjectAltName ?? '').find((n) => n.type === 'URI' && n.value.startsWith(MEMBER_URI_PREFIX));
  return { memberId: uri?.value.slice(MEMBER_URI_PREFIX.length), notAfterMs: notAfterOf(cert), issuedByCa, matchesKey };
}

/** When a certificate stops being valid (ms since the epoch). */
export function certificateNotAfterMs(certPem: string): number {
  return notAfterOf(new X509Certificate(certPem));
}

/** Node prints validity as "Mar 10 01:08:25 2029 GMT"; a certificate whose date does not read is refused, not trusted. */
function notAfterOf(cert: X509Certificate): number {
  const ms = Date.parse(cert.validTo);
  if (!Number.isFinite(ms)) throw new Error(`the certificate's validity end "${cert.validTo}" does not read as a date`);
  return ms;
}

async function signMemberCertificate(
  ca: CertificateAndKey,
  memberId: string,
  publicKey: webcrypto.CryptoKey,
  validDays: number,
  hosts: readonly string[],
  window: { notBeforeMs?: number; notAfterMs?: number } = {},
): Promise<string> {
  const x509 = await x509Library();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [memberId] }],
    issuer: caCert.subjectName,
    ...(window.notAfterMs !== undefined
      ? { notBefore: new Date(window.notBeforeMs ?? Date.now() - BACKDATE_MS), notAfter: new Date(window.notAfterMs) }
      : validity(validDays)),
    publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(memberKeyUsages(x509), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(subjectAltNames(memberId, hosts)),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return cert.toString('pem');
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

/** The URI SAN prefix of a client certificate for the member-local API (`mamori member api-tls`). */
export const API_CLIENT_URI_PREFIX = 'mamori:api-client:';

/**
 * A client certificate for a member's own systems to reach its node's member-local API beyond
 * loopback, from the member's API CA (never the consortium CA): TLS client use only, named
 * `mamori:api-client:<name>` so it can never pass for a member or the operator.
 */
export async function issueApiClientCertificate(ca: CertificateAndKey, clientName: string, validDays = 825): Promise<CertificateAndKey> {
  if (!MEMBER_ID.test(clientName)) throw new Error(`Invalid client name ${JSON.stringify(clientName)}: expected ${MEMBER_ID}`);
  return issueClientCertificate(ca, clientName, `${API_CLIENT_URI_PREFIX}${clientName}`, validity(validDays));
}

/** A TLS-client-only certificate from a CA, naming one URI SAN. */
async function issueClientCertificate(ca: CertificateAndKey, commonName: string, uri: string, window: { notBefore: Date; notAfter: Date }): Promise<CertificateAndKey> {
  const x509 = await x509Library();
  const keys = await generateKeyPair();
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }],
    issuer: caCert.subjectName,
    ...window,
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.keyPem),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: privateKeyPem(keys.privateKey) };
}

/** True when a PEM certificate certifies the public key of a PEM private key (false for anything unparsable). */
export function certificateMatchesKey(certPem: string | Buffer, keyPem: string | Buffer): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** The DNS names and IP addresses a certificate's subject alternative names list, in order. */
export function certificateHostNames(certPem: string | Buffer): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return parseSubjectAltName(san)
    .filter((n) => n.type === 'DNS' || n.type === 'IP Address')
    .map((n) => n.value);
}

/**
 * True when a certificate's subject alternative names cover a host as TLS clients check it: an
 * IP literal against the IP SANs, a name against the DNS SANs (wildcards as RFC 6125 allows);
 * the subject CN is never consulted.
 */
export function certificateCoversHost(certPem: string | Buffer, host: string): boolean {
  const cert = new X509Certificate(certPem);
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return isIP(bare) ? cert.checkIP(bare) !== undefined : cert.checkHost(bare.toLowerCase(), { subject: 'never' }) !== undefined;
}

/** The URI SAN of the operator's short-lived client certificate (`mamori consortium push`). */
export const OPERATOR_URI = 'mamori:operator';

/**
 * A client certificate for the operator, from the consortium CA, valid one hour, made for one
 * `mamori consortium push` and never written to disk. It names no member (no
 * `mamori:member:` URI): a node's peer gate lets it make only OfferConsortium calls.
 */
export async function issueOperatorClientCertificate(ca: CertificateAndKey): Promise<CertificateAndKey> {
  const now = Date.now();
  return issueClientCertificate(ca, 'Mamori consortium operator', OPERATOR_URI, { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + 3_600_000) });
}

/** True when a peer certificate is the operator's client certificate (its URI SAN is exactly `mamori:operator`). */
export function isOperatorCertificate(cert: PeerCertificateLike | undefined): boolean {
  if (!cert || typeof cert.subjectaltname !== 'string') return false;
  const names = parseSubjectAltName(cert.subjectaltname);
  return names.some((n) => n.type === 'URI' && n.value === OPERATOR_URI) && !names.some((n) => n.type === 'URI' && n.value.startsWith(MEMBER_URI_PREFIX));
}

function subjectAltNames(memberId: string, hosts: readonly string[]): X509Lib.JsonGeneralNames {
  const names: X509Lib.JsonGeneralNames = [{ type: 'url', value: `${MEMBER_URI_PREFIX}${memberId}` }];
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
