// The consortium operator's tool (`mamori consortium …`, docs/runbook-consortium.md): the
// operator key, the consortium CA and the hashing-key epochs live in the operator's directory
// only; members send a join request (public keys and a CSR) and receive a join response (the
// signed document, their certificate, the CA, the hashing keys sealed to them). No member
// private key ever reaches the operator. Every command checks all its input before it writes
// anything, and a refusal names the file and the field.
//
// OPDIR/
//   consortium.json            the signed document (copy it to every member's node)
//   operator/operator.key.json the operator's Ed25519 key (0600)
//   operator/epoch-keys.json   every hashing-key epoch, to seal to members joining later (0600)
//   ca/ca.key.pem, ca.cert.pem the consortium CA (key 0600)
//   members/<id>/              each member's join request and issued certificate (a record)
//   pushes.jsonl               each `consortium push`: to whom, which version, the answer
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../../proto/ts/sodium';
import { verifyJoinRequest } from '../../../proto/ts/trust/verify';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import { LOOKS_LIKE_CARD_NUMBER, looksLikeCardNumber } from '../../../proto/ts/normalize';
import { checkMemberCertificateRequest, certificateNotAfterMs, createConsortiumCa, issueMemberCertificateForRequest, issueOperatorClientCertificate } from '../crypto/certificates';
import { offerConsortiumTo, PushRefused } from '../rpc/consortium-push';
import { generateHashingKey, sealHashingKey } from '../crypto/epochs';
import { generateSigningKeyPair } from '../crypto/signing';
import { ConfigError } from '../config/errors';
import { parseJsonValue, readJsonValue, writeJsonFile, writeSecretFile } from '../config/files';
import { binRange, JOIN_RESPONSE_FORMAT, joinRequestSchema, type JoinRequest, type JoinResponse } from '../config/formation-schemas';
import type { OperatorKeyFile } from '../config/schemas';
import {
  epochKeysText,
  loadSigned,
  readEpochKeys,
  signedConsortiumText,
  writeSigned,
  type OperatorKey,
  type RawDocument,
  type RawMember,
} from '../membership/operator-document';

const DAY_MS = 86_400_000;
export const DEFAULT_CERT_DAYS = 365;

export interface OperatorLayout {
  dir: string;
  consortiumFile: string;
  operatorKeyFile: string;
  epochKeysFile: string;
  caKeyFile: string;
  caCertFile: string;
  membersDir: string;
}

export function operatorLayout(dir: string): OperatorLayout {
  const abs = path.resolve(dir);
  return {
    dir: abs,
    consortiumFile: path.join(abs, 'consortium.json'),
    operatorKeyFile: path.join(abs, 'operator', 'operator.key.json'),
    epochKeysFile: path.join(abs, 'operator', 'epoch-keys.json'),
    caKeyFile: path.join(abs, 'ca', 'ca.key.pem'),
    caCertFile: path.join(abs, 'ca', 'ca.cert.pem'),
    membersDir: path.join(abs, 'members'),
  };
}

/** The host part of HOST:PORT ([v6]:port too): the name the member's certificate carries. */
export function hostOf(endpoint: string): string {
  return endpoint.slice(0, endpoint.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

/** Two BIN ranges overlap when one is a prefix of the other (454545 and 45454512). */
export function binsOverlap(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

const short = (base64: string) => Buffer.from(base64, 'base64').toString('hex').slice(0, 16);

// ---- consortium init ----

export interface InitResult {
  layout: OperatorLayout;
  name: string;
  version: number;
  operatorPublicKey: string;
}

export async function initConsortium(o: { dir: string; name: string; nowMs?: number }): Promise<InitResult> {
  await sodiumReady();
  const layout = operatorLayout(o.dir);
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(o.name)) throw new Error('--name must be 1-64 characters of A-Z a-z 0-9 space . _ - (starting with a letter or digit)');
  if (looksLikeCardNumber(o.name)) throw new Error(`--name ${LOOKS_LIKE_CARD_NUMBER}`);
  if (fs.existsSync(layout.dir) && fs.readdirSync(layout.dir).length > 0) {
    throw new Error(`${layout.dir} is not empty; the operator directory of a new consortium starts empty (nothing was written)`);
  }
  const nowMs = o.nowMs ?? Date.now();
  const operator = generateSigningKeyPair();
  const ca = await createConsortiumCa(o.name);
  const epochKey = generateHashingKey();
  const document: RawDocument = {
    format: 'mamori-consortium/1',
    name: o.name,
    version: 1,
    issuedAtMs: nowMs,
    operatorPublicKey: Buffer.from(operator.publicKey).toString('base64'),
    members: [],
    keyEpochs: [{ epoch: 1, activeFromMs: nowMs - 60_000, sealed: {} }],
  };
  const key: OperatorKey = { publicKey: Buffer.from(operator.publicKey), secretKey: Buffer.from(operator.secretKey) };

  fs.mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(layout.dir, 0o700);
  for (const sub of ['operator', 'ca', 'members']) fs.mkdirSync(path.join(layout.dir, sub), { mode: 0o700 });
  const keyFile: OperatorKeyFile = { operator: true, publicKey: key.publicKey.toString('base64'), secretKey: key.secretKey.toString('base64') };
  writeJsonFile(layout.operatorKeyFile, keyFile, true);
  writeSecretFile(layout.epochKeysFile, epochKeysText(new Map([[1, Buffer.from(epochKey)]])));
  epochKey.fill(0);
  writeSecretFile(layout.caKeyFile, ca.keyPem);
  fs.writeFileSync(layout.caCertFile, ca.certPem, { mode: 0o644 });
  writeSigned(layout.consortiumFile, document, key);
  return { layout, name: o.name, version: 1, operatorPublicKey: document.operatorPublicKey };
}

// ---- reading what the operator holds ----

interface OperatorState {
  layout: OperatorLayout;
  document: RawDocument;
  operator: OperatorKey;
}

function loadOperator(dir: string): OperatorState {
  const layout = operatorLayout(dir);
  if (!fs.existsSync(layout.consortiumFile)) throw new Error(`${layout.dir} is not an operator directory (no consortium.json); run "mamori consortium init" first`);
  const { raw, operator } = loadSigned(layout.consortiumFile, layout.operatorKeyFile);
  return { layout, document: raw.document, operator };
}

const current = (doc: RawDocument) => doc.members.filter((m) => m.removedAtMs === undefined);

/** Problems with BIN ranges for a member: a non-issuer owns none; no range overlaps another current issuer's. */
function binProblems(doc: RawDocument, memberId: string, roles: readonly string[], bins: readonly string[], field: string): string[] {
  const problems: string[] = [];
  if (bins.length > 0 && !roles.includes('issuer')) problems.push(`${field}: only an issuer owns BIN ranges (roles: ${roles.join(', ')})`);
  const seen = new Set<string>();
  for (const bin of bins) {
    if (seen.has(bin)) problems.push(`${field}: ${bin} is listed twice`);
    seen.add(bin);
    for (const other of current(doc)) {
      if (other.id === memberId) continue;
      const owned = (other.binRanges ?? []).find((b) => binsOverlap(b, bin));
      if (owned !== undefined) problems.push(`${field}: ${bin} overlaps ${owned}, a BIN range issuer "${other.id}" owns`);
    }
  }
  return problems;
}

/** Problems every request has to be free of: the member's signature over it, and its CSR. */
async function requestProblems(raw: unknown, request: JoinRequest): Promise<string[]> {
  const problems: string[] = [];
  if (!verifyJoinRequest(raw as Record<string, unknown>, Buffer.from(request.signingPublicKey, 'base64'))) {
    problems.push('signature: does not verify with signingPublicKey (the request was altered after "mamori member init" signed it)');
  }
  problems.push(...(await checkMemberCertificateRequest(request.csr, request.member)).map((p) => `csr: ${p}`));
  return problems;
}

/** Reads and checks a join request against the document; throws a ConfigError naming every bad field. */
export async function readJoinRequest(file: string, doc: RawDocument): Promise<JoinRequest> {
  const raw = readJsonValue(file);
  const request = parseJsonValue(file, raw, joinRequestSchema);
  const problems: string[] = [];
  const existing = doc.members.find((m) => m.id === request.member);
  if (existing) {
    problems.push(
      existing.removedAtMs === undefined
        ? `member: "${request.member}" is already a member of the consortium`
        : `member: "${request.member}" was a member (removed ${new Date(existing.removedAtMs).toISOString()}); a member id is never reused`,
    );
  }
  for (const other of doc.members) {
    if (other.id === request.member) continue;
    if (other.signingPublicKey === request.signingPublicKey) problems.push(`signingPublicKey: is already the key of member "${other.id}"`);
    if (other.boxPublicKey === request.boxPublicKey) problems.push(`boxPublicKey: is already the key of member "${other.id}"`);
    if (other.removedAtMs === undefined && other.endpoint === request.endpoint) problems.push(`endpoint: ${request.endpoint} is already the endpoint of member "${other.id}"`);
  }
  problems.push(...binProblems(doc, request.member, request.roles, request.binRanges, 'binRanges'));
  problems.push(...(await requestProblems(raw, request)));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return request;
}

/**
 * Reads a certificate renewal request: a join request (the member's own join-request.json, or a
 * newer one with a new CSR) from a current member whose keys are the ones the document lists.
 * Its roles, endpoint and BIN ranges are not read: the document's are in force.
 */
async function readRenewalRequest(file: string, doc: RawDocument): Promise<{ request: JoinRequest; member: RawMember }> {
  const raw = readJsonValue(file);
  const request = parseJsonValue(file, raw, joinRequestSchema);
  const member = doc.members.find((m) => m.id === request.member);
  if (!member || member.removedAtMs !== undefined) throw new ConfigError(file, [`member: "${request.member}" is not a current member of the consortium (nothing was written)`]);
  const problems: string[] = [];
  if (member.signingPublicKey !== request.signingPublicKey) problems.push(`signingPublicKey: is not the key the consortium lists for "${member.id}"`);
  if (member.boxPublicKey !== request.boxPublicKey) problems.push(`boxPublicKey: is not the key the consortium lists for "${member.id}"`);
  problems.push(...(await requestProblems(raw, request)));
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { request, member };
}

/** Seals every epoch of the document to a member's box key with the keys the operator kept. */
function sealEpochsTo(state: OperatorState, memberId: string, boxPublicKeyBase64: string): void {
  const keys = readEpochKeys(state.layout.epochKeysFile);
  const missing = state.document.keyEpochs.filter((e) => !keys.has(e.epoch)).map((e) => e.epoch);
  if (missing.length > 0) {
    throw new ConfigError(state.layout.epochKeysFile, [
      `epochs: holds no key for epoch ${missing.join(', ')} of the consortium document, so it cannot be sealed to "${memberId}" (nothing was written)`,
    ]);
  }
  const box = Buffer.from(boxPublicKeyBase64, 'base64');
  for (const epoch of state.document.keyEpochs) epoch.sealed[memberId] = sealHashingKey(keys.get(epoch.epoch) as Buffer, box).toString('base64');
  for (const key of keys.values()) key.fill(0);
}

// ---- consortium add-member ----

export interface AddMemberResult {
  member: string;
  roles: string[];
  endpoint: string;
  binRanges: string[];
  previousVersion: number;
  version: number;
  certificateNotAfterMs: number;
  responseFile: string;
  consortiumFile: string;
  /** Members whose nodes need the new consortium file (copy it to each). */
  existingMembers: string[];
}

export async function addMember(o: { dir: string; requestFile: string; outFile?: string; certDays?: number; nowMs?: number }): Promise<AddMemberResult> {
  await sodiumReady();
  const state = loadOperator(o.dir);
  const { layout, document: doc } = state;
  const request = await readJoinRequest(o.requestFile, doc);
  const certDays = o.certDays ?? DEFAULT_CERT_DAYS;
  const responseFile = path.resolve(o.outFile ?? path.join(layout.membersDir, request.member, 'join-response.json'));
  if (fs.existsSync(responseFile)) throw new Error(`${responseFile} already exists; choose another --out (nothing was written)`);
  const nowMs = o.nowMs ?? Date.now();

  const previousVersion = doc.version;
  const existingMembers = current(doc).map((m) => ({ member: m.id, endpoint: m.endpoint }));
  sealEpochsTo(state, request.member, request.boxPublicKey);
  const member: RawMember = {
    id: request.member,
    roles: request.roles,
    signingPublicKey: request.signingPublicKey,
    boxPublicKey: request.boxPublicKey,
    endpoint: request.endpoint,
    binRanges: request.binRanges,
  };
  doc.members.push(member);
  doc.version += 1;
  doc.issuedAtMs = nowMs;
  const ca = { certPem: fs.readFileSync(layout.caCertFile, 'utf8'), keyPem: fs.readFileSync(layout.caKeyFile, 'utf8') };
  const certificate = await issueMemberCertificateForRequest(ca, request.member, request.csr, { validDays: certDays, hosts: [hostOf(request.endpoint)] });
  const signedText = signedConsortiumText(doc, state.operator);
  const response: JoinResponse = {
    format: JOIN_RESPONSE_FORMAT,
    member: request.member,
    signingPublicKey: request.signingPublicKey,
    boxPublicKey: request.boxPublicKey,
    consortium: JSON.parse(signedText) as JoinResponse['consortium'],
    certificate,
    caCertificate: ca.certPem,
    peers: existingMembers,
  };

  // Everything is checked and built: now write, the consortium file last (what nodes poll).
  const record = path.join(layout.membersDir, request.member);
  fs.mkdirSync(path.dirname(responseFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(responseFile, `${JSON.stringify(response, null, 2)}\n`, { mode: 0o600 });
  try {
    fs.mkdirSync(record, { recursive: true, mode: 0o700 });
    fs.copyFileSync(o.requestFile, path.join(record, 'join-request.json'));
    fs.writeFileSync(path.join(record, 'node.cert.pem'), certificate, { mode: 0o644 });
    writeFileAtomic(layout.consortiumFile, signedText, { mode: fs.statSync(layout.consortiumFile).mode & 0o777 });
  } catch (error) {
    fs.rmSync(responseFile, { force: true });
    throw error;
  }
  return {
    member: request.member,
    roles: request.roles,
    endpoint: request.endpoint,
    binRanges: request.binRanges,
    previousVersion,
    version: doc.version,
    certificateNotAfterMs: certificateNotAfterMs(certificate),
    responseFile,
    consortiumFile: layout.consortiumFile,
    existingMembers: existingMembers.map((m) => m.member),
  };
}

// ---- consortium renew-cert ----

export interface RenewResult {
  member: string;
  previousNotAfterMs?: number;
  certificateNotAfterMs: number;
  responseFile: string;
  version: number;
}

/**
 * Issues a current member a new certificate for the CSR of its request (the same TLS key, or a
 * new one); the document does not change. The response goes back to the member, who installs
 * it with `mamori member join` and restarts its node.
 */
export async function renewCertificate(o: { dir: string; requestFile: string; outFile?: string; certDays?: number }): Promise<RenewResult> {
  await sodiumReady();
  const state = loadOperator(o.dir);
  const { layout, document: doc } = state;
  const { request, member } = await readRenewalRequest(o.requestFile, doc);
  const record = path.join(layout.membersDir, member.id);
  const responseFile = path.resolve(o.outFile ?? path.join(record, 'renewal-response.json'));
  if (fs.existsSync(responseFile)) throw new Error(`${responseFile} already exists; choose another --out (nothing was written)`);
  const ca = { certPem: fs.readFileSync(layout.caCertFile, 'utf8'), keyPem: fs.readFileSync(layout.caKeyFile, 'utf8') };
  const certificate = await issueMemberCertificateForRequest(ca, member.id, request.csr, { validDays: o.certDays ?? DEFAULT_CERT_DAYS, hosts: [hostOf(member.endpoint)] });
  const recordedCert = path.join(record, 'node.cert.pem');
  const previousNotAfterMs = fs.existsSync(recordedCert) ? certificateNotAfterMs(fs.readFileSync(recordedCert, 'utf8')) : undefined;
  const response: JoinResponse = {
    format: JOIN_RESPONSE_FORMAT,
    member: member.id,
    signingPublicKey: member.signingPublicKey,
    boxPublicKey: member.boxPublicKey,
    consortium: JSON.parse(fs.readFileSync(layout.consortiumFile, 'utf8')) as JoinResponse['consortium'],
    certificate,
    caCertificate: ca.certPem,
    peers: current(doc).filter((m) => m.id !== member.id).map((m) => ({ member: m.id, endpoint: m.endpoint })),
  };
  fs.mkdirSync(path.dirname(responseFile), { recursive: true, mode: 0o700 });
  writeFileAtomic(responseFile, `${JSON.stringify(response, null, 2)}\n`, { mode: 0o600 });
  fs.mkdirSync(record, { recursive: true, mode: 0o700 });
  writeFileAtomic(recordedCert, certificate, { mode: 0o644 });
  return { member: member.id, previousNotAfterMs, certificateNotAfterMs: certificateNotAfterMs(certificate), responseFile, version: doc.version };
}

// ---- consortium remove-member, set-bins ----

export interface ChangeResult {
  member: string;
  previousVersion: number;
  version: number;
  consortiumFile: string;
  /** What changed, one line each. */
  changes: string[];
}

function currentMember(state: OperatorState, id: string): RawMember {
  const m = state.document.members.find((x) => x.id === id);
  if (!m) throw new Error(`--id: "${id}" is not a member of the consortium (nothing was written)`);
  if (m.removedAtMs !== undefined) throw new Error(`--id: "${id}" was removed at ${new Date(m.removedAtMs).toISOString()} (nothing was written)`);
  return m;
}

function commit(state: OperatorState, member: string, previousVersion: number, changes: string[], nowMs: number): ChangeResult {
  state.document.version += 1;
  state.document.issuedAtMs = nowMs;
  writeSigned(state.layout.consortiumFile, state.document, state.operator);
  return { member, previousVersion, version: state.document.version, consortiumFile: state.layout.consortiumFile, changes };
}

/**
 * Removes a member: it stays listed with removedAtMs, so its earlier entries still verify;
 * nodes refuse its connections and new entries once they hold the new file.
 */
export async function removeMember(o: { dir: string; id: string; nowMs?: number }): Promise<ChangeResult> {
  await sodiumReady();
  const state = loadOperator(o.dir);
  const m = currentMember(state, o.id);
  const commonPoint = state.document.commonPoint as { aggregator?: string } | undefined;
  if (commonPoint?.aggregator === o.id) {
    throw new Error(`--id: "${o.id}" is the consortium's common-point aggregator (document.commonPoint.aggregator); choose another aggregator first (nothing was written)`);
  }
  const nowMs = o.nowMs ?? Date.now();
  const previousVersion = state.document.version;
  m.removedAtMs = nowMs;
  return commit(state, o.id, previousVersion, [`${o.id}: removed at ${new Date(nowMs).toISOString()} (its earlier entries still verify; nothing new is accepted from it)`], nowMs);
}

/** Sets an issuer's BIN ranges (card listings of those BINs are routed to it). */
export async function setBins(o: { dir: string; id: string; binRanges: string[]; nowMs?: number }): Promise<ChangeResult> {
  await sodiumReady();
  const state = loadOperator(o.dir);
  const m = currentMember(state, o.id);
  const problems = o.binRanges.flatMap((b) => (binRange.safeParse(b).success ? [] : [`--bin-ranges: "${b}" is not a BIN (6 to 8 digits)`]));
  problems.push(...binProblems(state.document, o.id, m.roles, o.binRanges, '--bin-ranges'));
  if (problems.length > 0) throw new Error(`${problems.join('; ')} (nothing was written)`);
  const before = m.binRanges ?? [];
  if (before.join(',') === o.binRanges.join(',')) throw new Error(`--bin-ranges: "${o.id}" already owns exactly ${before.join(', ') || 'no BIN range'} (nothing was written)`);
  const previousVersion = state.document.version;
  m.binRanges = [...o.binRanges];
  const added = o.binRanges.filter((b) => !before.includes(b));
  const removed = before.filter((b) => !o.binRanges.includes(b));
  return commit(state, o.id, previousVersion, [`${o.id}: BIN ranges ${before.join(', ') || '(none)'} -> ${o.binRanges.join(', ') || '(none)'}${added.length ? `; added ${added.join(', ')}` : ''}${removed.length ? `; removed ${removed.join(', ')}` : ''}`], o.nowMs ?? Date.now());
}

// ---- consortium show ----

export interface ConsortiumView {
  name: string;
  version: number;
  issuedAtMs: number;
  operatorKey: string;
  members: { id: string; roles: string[]; endpoint: string; binRanges: string[]; removedAtMs?: number; certificateNotAfterMs?: number }[];
  epochs: { epoch: number; activeFromMs: number; retiresAtMs?: number; sealedTo: string[] }[];
}

export async function showConsortium(dir: string): Promise<ConsortiumView> {
  await sodiumReady();
  const { layout, document: doc } = loadOperator(dir);
  return {
    name: doc.name,
    version: doc.version,
    issuedAtMs: doc.issuedAtMs,
    operatorKey: short(doc.operatorPublicKey),
    members: doc.members.map((m) => {
      const cert = path.join(layout.membersDir, m.id, 'node.cert.pem');
      return {
        id: m.id,
        roles: m.roles,
        endpoint: m.endpoint,
        binRanges: m.binRanges ?? [],
        removedAtMs: m.removedAtMs,
        certificateNotAfterMs: fs.existsSync(cert) ? certificateNotAfterMs(fs.readFileSync(cert, 'utf8')) : undefined,
      };
    }),
    epochs: doc.keyEpochs.map((e) => ({ epoch: e.epoch, activeFromMs: e.activeFromMs, retiresAtMs: e.retiresAtMs, sealedTo: Object.keys(e.sealed).sort() })),
  };
}

/** Days from now until a time, rounded down (negative once past). */
export function daysUntil(ms: number, nowMs = Date.now()): number {
  return Math.floor((ms - nowMs) / DAY_MS);
}

// ---- consortium push ----

export interface PushResult {
  to: string;
  endpoint: string;
  /** The member whose node answered (from its certificate). */
  member?: string;
  outcome: 'taken' | 'already-held' | 'refused' | 'unreachable';
  versionInForce?: number;
  reason?: string;
}

/**
 * Hands the operator's signed document to members' nodes over their peer endpoints (docs/runbook-consortium.md):
 * one is enough, the nodes pass it on to each other. `to`: HOST:PORT or a member id (its endpoint
 * in the document). Each push is recorded in OPDIR/pushes.jsonl; the node audits what it took.
 */
export async function pushConsortium(o: { dir: string; to: readonly string[]; deadlineMs?: number }): Promise<{ version: number; results: PushResult[] }> {
  await sodiumReady();
  const state = loadOperator(o.dir);
  const { layout, document: doc } = state;
  if (o.to.length === 0) throw new Error('--to: name at least one member node (HOST:PORT or a member id)');
  const targets = o.to.map((to) => {
    if (/^[a-z0-9-]{3,32}$/.test(to)) {
      const m = current(doc).find((x) => x.id === to);
      if (!m) throw new Error(`--to: "${to}" is not a current member of the consortium (nothing was sent)`);
      return { to, endpoint: m.endpoint };
    }
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(to)) throw new Error(`--to: "${to}" is neither HOST:PORT nor a member id (nothing was sent)`);
    return { to, endpoint: to };
  });
  const ca = { certPem: fs.readFileSync(layout.caCertFile, 'utf8'), keyPem: fs.readFileSync(layout.caKeyFile, 'utf8') };
  const client = await issueOperatorClientCertificate(ca);
  const tls = { ca: Buffer.from(ca.certPem), cert: Buffer.from(client.certPem), key: Buffer.from(client.keyPem) };
  const text = Buffer.from(signedConsortiumText(doc, state.operator), 'utf8');
  const results: PushResult[] = [];
  for (const t of targets) {
    try {
      const answer = await offerConsortiumTo(t.endpoint, tls, text, o.deadlineMs ?? 15_000);
      results.push({ ...t, member: answer.member, outcome: answer.taken ? 'taken' : 'already-held', versionInForce: answer.versionInForce });
    } catch (error) {
      const refused = error instanceof PushRefused && error.status !== 'UNAVAILABLE' && error.status !== 'DEADLINE_EXCEEDED';
      results.push({ ...t, outcome: refused ? 'refused' : 'unreachable', reason: error instanceof Error ? error.message : String(error) });
    }
  }
  const log = path.join(layout.dir, 'pushes.jsonl');
  fs.appendFileSync(log, results.map((r) => `${JSON.stringify({ atMs: Date.now(), version: doc.version, ...r })}\n`).join(''), { mode: 0o600 });
  return { version: doc.version, results };
}
