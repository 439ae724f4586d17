// A member's side of forming a consortium (`mamori member …`, docs/runbook-consortium.md), run
// on the member's own machine: `init` makes its keys (Ed25519 signing, X25519 box, the TLS key)
// and a certificate signing request, all in its directory (0700, files 0600), and a join
// request that carries only public keys and the CSR; `join` checks the operator's response is
// for this member and installs the certificate, the CA and the signed consortium document.
// No private key ever leaves the directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import { sodiumReady } from '../../../proto/ts/sodium';
import { signJoinRequest, verifyConsortiumDocument } from '../../../proto/ts/trust/verify';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import type { ClientConfig } from '../../../client-sdk/src/config';
import { createMemberCertificateRequest, inspectMemberCertificate } from '../crypto/certificates';
import { generateBoxKeyPair, randomToken, tokenDigest } from '../crypto/epochs';
import { generateSigningKeyPair } from '../crypto/signing';
import { ConfigError } from '../config/errors';
import { isLoopbackHost } from '../config/addresses';
import { parseJsonValue, readJsonValue, writeJsonFile, writeSecretFile } from '../config/files';
import { binRange, JOIN_REQUEST_FORMAT, joinResponseSchema, MEMBER_ROLES, type JoinRequest } from '../config/formation-schemas';
import { consortiumDocumentSchema, hostPort, memberId, nodeConfigSchema, type MemberKeyFile } from '../config/schemas';
import { Consortium, loadMemberIdentity } from '../membership/consortium';
import { hostOf } from './consortium-operator';

export type MemberRole = (typeof MEMBER_ROLES)[number];

export interface MemberLayout {
  dir: string;
  nodeConfig: string;
  clientConfig: string;
  memberKeyFile: string;
  joinRequest: string;
  consortiumFile: string;
  tlsKey: string;
  tlsCert: string;
  caCert: string;
}

export function memberLayout(dir: string): MemberLayout {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    nodeConfig: path.join(abs, 'node.json'),
    clientConfig: path.join(abs, 'client.json'),
    memberKeyFile: path.join(abs, 'member.key.json'),
    joinRequest: path.join(abs, 'join-request.json'),
    consortiumFile: path.join(abs, 'consortium.json'),
    tlsKey: path.join(abs, 'tls', 'node.key.pem'),
    tlsCert: path.join(abs, 'tls', 'node.cert.pem'),
    caCert: path.join(abs, 'tls', 'ca.cert.pem'),
  };
}

export interface MemberInitOptions {
  dir: string;
  id: string;
  role: string;
  endpoint: string;
  binRanges?: string[];
  /** The member-local API (checks, publications): loopback. */
  api?: string;
  /** Where the node listens for peers; default the endpoint (e.g. 0.0.0.0:7401 behind a NAT). */
  peerListen?: string;
}

export const DEFAULT_API = '127.0.0.1:7101';

/** Checks init's options; every problem names its option. */
function initProblems(o: MemberInitOptions): string[] {
  const problems: string[] = [];
  const id = memberId.safeParse(o.id);
  if (!id.success) problems.push(`--id: ${id.error.issues[0]?.message ?? 'not a member id'}`);
  if (!(MEMBER_ROLES as readonly string[]).includes(o.role)) problems.push(`--role: "${o.role}" is not a role; expected one of ${MEMBER_ROLES.join(', ')}`);
  if (!hostPort.safeParse(o.endpoint).success) problems.push(`--endpoint: "${o.endpoint}" is not HOST:PORT (where the other members' nodes reach this node)`);
  const api = o.api ?? DEFAULT_API;
  if (o.peerListen !== undefined && !hostPort.safeParse(o.peerListen).success) problems.push(`--peer-listen: "${o.peerListen}" is not HOST:PORT`);
  if (!hostPort.safeParse(api).success) problems.push(`--api: "${api}" is not HOST:PORT`);
  else if (!isLoopbackHost(hostOf(api))) problems.push(`--api: ${api} is not a loopback address; the member API (token-authenticated, no TLS) stays on this machine; to serve it beyond loopback, run "mamori member api-tls" after init`);
  for (const bin of o.binRanges ?? []) if (!binRange.safeParse(bin).success) problems.push(`--bin-ranges: "${bin}" is not a BIN (6 to 8 digits)`);
  if ((o.binRanges ?? []).length > 0 && o.role !== 'issuer') problems.push(`--bin-ranges: only an issuer owns BIN ranges (--role ${o.role})`);
  return problems;
}

export interface MemberInitResult {
  layout: MemberLayout;
  member: string;
  signingKey: string;
}

export async function initMember(o: MemberInitOptions): Promise<MemberInitResult> {
  const problems = initProblems(o);
  if (problems.length > 0) throw new Error(`${problems.join('; ')} (nothing was written)`);
  const layout = memberLayout(o.dir);
  if (fs.existsSync(layout.dir) && fs.readdirSync(layout.dir).length > 0) {
    throw new Error(`${layout.dir} is not empty; a member's directory starts empty (nothing was written)`);
  }
  await sodiumReady();
  const signing = generateSigningKeyPair();
  const box = generateBoxKeyPair();
  const tls = await createMemberCertificateRequest(o.id, [hostOf(o.endpoint)]);
  const token = randomToken();
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const api = o.api ?? DEFAULT_API;

  const unsigned: Omit<JoinRequest, 'signature'> = {
    format: JOIN_REQUEST_FORMAT,
    member: o.id,
    roles: [o.role as MemberRole],
    endpoint: o.endpoint,
    binRanges: o.binRanges ?? [],
    signingPublicKey: b64(signing.publicKey),
    boxPublicKey: b64(box.publicKey),
    csr: tls.csrPem,
    createdAtMs: Date.now(),
  };
  const request: JoinRequest = { ...unsigned, signature: signJoinRequest(unsigned, signing.secretKey) };
  const keyFile: MemberKeyFile = {
    member: o.id,
    signing: { publicKey: b64(signing.publicKey), secretKey: b64(signing.secretKey) },
    box: { publicKey: b64(box.publicKey), secretKey: b64(box.secretKey) },
  };
  // Everything but operatorPublicKey, which `mamori member join` adds from the operator's response.
  const nodeConfig: Omit<z.input<typeof nodeConfigSchema>, 'operatorPublicKey'> = {
    member: o.id,
    listen: api,
    dataDir: './data',
    consortiumFile: './consortium.json',
    memberKeyFile: './member.key.json',
    clientTokenDigests: [tokenDigest(token)],
    logLevel: 'info',
    peerListen: o.peerListen ?? o.endpoint,
    tls: { caFile: './tls/ca.cert.pem', certFile: './tls/node.cert.pem', keyFile: './tls/node.key.pem' },
  };
  const client: ClientConfig = { member: o.id, target: api, token, deadlineMs: 5_000 };

  fs.mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(layout.dir, 0o700);
  fs.mkdirSync(path.dirname(layout.tlsKey), { mode: 0o700 });
  writeJsonFile(layout.memberKeyFile, keyFile, true);
  writeSecretFile(layout.tlsKey, tls.keyPem);
  writeJsonFile(layout.nodeConfig, nodeConfig, true);
  writeJsonFile(layout.clientConfig, client, true);
  writeJsonFile(layout.joinRequest, request, true);
  return { layout, member: o.id, signingKey: request.signingPublicKey };
}

export interface MemberJoinResult {
  /** The directory had joined before: only the certificate (and a newer document) were installed. */
  renewal: boolean;
  layout: MemberLayout;
  member: string;
  consortium: string;
  version: number;
  operatorKey: string;
  certificateNotAfterMs: number;
  peers: { member: string; endpoint: string }[];
}

/**
 * Installs the operator's join response after checking it is for this member: its id and
 * public keys, the document's operator signature (and the operator key, when the member pins
 * one), the document's entry for this member, the hashing keys sealed to it, and a
 * certificate from the CA for this member's own TLS key. Nothing is written unless all hold.
 */
export async function joinMember(o: { dir: string; responseFile: string; operatorKey?: string; nowMs?: number }): Promise<MemberJoinResult> {
  await sodiumReady();
  const layout = memberLayout(o.dir);
  if (!fs.existsSync(layout.memberKeyFile)) throw new Error(`${layout.dir} is not a member directory (no member.key.json); run "mamori member init" first`);
  // Joined before: a certificate renewal (mamori consortium renew-cert), or the same response again.
  const renewal = fs.existsSync(layout.tlsCert);
  const identity = loadMemberIdentity(layout.memberKeyFile);
  const nodeRaw = readJsonValue(layout.nodeConfig) as Record<string, unknown>;
  const raw = readJsonValue(o.responseFile);
  const response = parseJsonValue(o.responseFile, raw, joinResponseSchema);
  const file = o.responseFile;
  const ownSigning = identity.signing.publicKey.toString('base64');
  const ownBox = Buffer.from(identity.box.publicKey).toString('base64');

  if (response.member !== identity.member) {
    throw new ConfigError(file, [`member: the response is for "${response.member}"; this directory holds member "${identity.member}" (nothing was written)`]);
  }
  const problems: string[] = [];
  if (response.signingPublicKey !== ownSigning) problems.push("signingPublicKey: is not this member's signing key (a response to another request)");
  if (response.boxPublicKey !== ownBox) problems.push("boxPublicKey: is not this member's box key (a response to another request)");
  const signedDocument = (raw as { consortium: { document: unknown } }).consortium.document;
  const operatorKey = response.consortium.document.operatorPublicKey;
  if (o.operatorKey !== undefined && o.operatorKey !== operatorKey) {
    problems.push(`consortium.document.operatorPublicKey: is not the operator key given with --operator-key`);
  }
  if (renewal && nodeRaw.operatorPublicKey !== operatorKey) {
    problems.push('consortium.document.operatorPublicKey: is not the operator key this node trusts (operatorPublicKey in node.json)');
  }
  if (!verifyConsortiumDocument(signedDocument, response.consortium.signature, Buffer.from(operatorKey, 'base64'))) {
    problems.push('consortium.signature: does not verify with the operator key the document names (altered)');
  }
  const document = parseJsonValue(file, signedDocument, consortiumDocumentSchema);
  const entry = document.members.find((m) => m.id === identity.member);
  if (!entry || entry.removedAtMs !== undefined) problems.push(`consortium.document.members: does not list "${identity.member}" as a current member`);
  else if (entry.signingPublicKey !== ownSigning || entry.boxPublicKey !== ownBox) problems.push(`consortium.document.members: lists "${identity.member}" with other keys than this directory's`);
  if (entry && problems.length === 0) {
    try {
      new Consortium(document).openEpochKeys(identity, file);
    } catch (error) {
      problems.push(error instanceof ConfigError ? error.problems.map((p) => `consortium.${p}`).join('; ') : String(error));
    }
  }
  let notAfterMs = 0;
  try {
    const cert = await inspectMemberCertificate(response.certificate, response.caCertificate, fs.readFileSync(layout.tlsKey, 'utf8'));
    notAfterMs = cert.notAfterMs;
    if (!cert.issuedByCa) problems.push('certificate: is not signed by caCertificate');
    if (!cert.matchesKey) problems.push("certificate: does not certify this member's TLS key (tls/node.key.pem)");
    if (cert.memberId !== identity.member) problems.push(`certificate: names member "${cert.memberId ?? 'none'}", expected "${identity.member}"`);
    if (cert.notAfterMs <= (o.nowMs ?? Date.now())) problems.push(`certificate: expired ${new Date(cert.notAfterMs).toISOString()}`);
  } catch {
    problems.push('certificate: is not a PEM certificate, or caCertificate is not');
  }
  if (problems.length > 0) throw new ConfigError(file, [...problems.slice(0, -1), `${problems[problems.length - 1]} (nothing was written)`]);

  // A renewal never replaces the consortium file by an older version than the one installed.
  const installedVersion = renewal && fs.existsSync(layout.consortiumFile) ? ((readJsonValue(layout.consortiumFile) as { document?: { version?: unknown } }).document?.version ?? 0) : 0;
  writeFileAtomic(layout.caCert, response.caCertificate, { mode: 0o600 });
  writeFileAtomic(layout.tlsCert, response.certificate, { mode: 0o600 });
  if (typeof installedVersion !== 'number' || document.version > installedVersion) {
    writeFileAtomic(layout.consortiumFile, `${JSON.stringify(response.consortium, null, 2)}\n`, { mode: 0o600 });
  }
  if (!renewal) writeFileAtomic(layout.nodeConfig, `${JSON.stringify({ ...nodeRaw, operatorPublicKey: operatorKey }, null, 2)}\n`, { mode: 0o600 });
  return {
    renewal,
    layout,
    member: identity.member,
    consortium: document.name,
    version: document.version,
    operatorKey,
    certificateNotAfterMs: notAfterMs,
    peers: response.peers,
  };
}
