// Creates a local consortium of three members on loopback (more on request, for tests): operator key, signed
// consortium file, hashing-key epoch 1 sealed to each member, member keys, and one node
// config and one client.json per member.
import type { PanSelectorPhase } from '../membership/pan-selector-phase';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { signConsortiumDocument } from '../../../proto/ts/trust/verify';
import { sodiumReady } from '../../../proto/ts/sodium';
import { oprfReady } from '../../../proto/ts/oprf/group';
import { dealSeeds } from '../../../proto/ts/oprf/threshold';
import { sealEvaluatorSeeds } from '../membership/oprf-dealing';
import type { ClientConfig } from '../../../client-sdk/src/config';
import { generateBoxKeyPair, generateHashingKey, randomToken, sealHashingKey, tokenDigest } from '../crypto/epochs';
import { generateSigningKeyPair } from '../crypto/signing';
import { writeJsonFile, writeSecretFile } from '../config/files';
import { createConsortiumCa, issueMemberCertificate } from '../crypto/certificates';
import { TOKEN_SCOPES, type ConsortiumDocument, type MemberKeyFile, type NodeConfigFile, type OperatorKeyFile } from '../config/schemas';
import type { Role } from '../ledger/roles';
import { DEV_PAN_SELECTORS } from './dev-pan-selectors';

export interface DevMember {
  id: string;
  roles: Role[];
  binRanges: string[];
}

export const DEV_MEMBERS: readonly DevMember[] = [
  { id: 'issuer-a', roles: ['issuer'], binRanges: ['454545', '356900'] },
  { id: 'acquirer-b', roles: ['acquirer'], binRanges: [] },
  { id: 'psp-c', roles: ['psp'], binRanges: [] },
];

/** A second issuer, for tests of what needs several issuers (common point of purchase). */
export const DEV_EXTRA_ISSUER: DevMember = { id: 'issuer-d', roles: ['issuer'], binRanges: ['520000', '530000'] };

/** The member that reads fraud reports and publishes common-point flags: not an issuer, so no issuer reads a competitor's reports. */
export const DEV_COMMON_POINT_AGGREGATOR = 'psp-c';

/** The threshold of the dev consortium's PRF dealing: any 2 of its 3 members evaluate (docs/oprf.md). */
export const DEV_OPRF_THRESHOLD = 2;

export interface DevConsortiumLayout {
  dir: string;
  consortiumFile: string;
  /** endpoint: where peers reach the member (replication); listen: its member-local API. */
  members: { id: string; roles: Role[]; nodeConfig: string; clientConfig: string; endpoint: string; listen: string }[];
  caFile: string;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

export function devConsortiumExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'consortium.json'));
}

export function devLayout(dir: string): DevConsortiumLayout {
  const abs = path.resolve(dir);
  const consortiumFile = path.join(abs, 'consortium.json');
  const doc = (JSON.parse(fs.readFileSync(consortiumFile, 'utf8')) as { document: ConsortiumDocument }).document;
  return {
    dir: abs,
    consortiumFile,
    caFile: path.join(abs, 'ca', 'ca.cert.pem'),
    members: doc.members.map((m) => {
      const nodeConfig = path.join(abs, m.id, 'node.json');
      const { listen } = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as { listen: string };
      return { id: m.id, roles: m.roles as Role[], endpoint: m.endpoint, listen, nodeConfig, clientConfig: path.join(abs, m.id, 'client.json') };
    }),
  };
}

export async function createDevConsortium(dir: string, basePort: number, options: { force?: boolean; extraMembers?: readonly DevMember[]; panSelectors?: PanSelectorPhase; countBucketSeconds?: number } = {}): Promise<DevConsortiumLayout> {
  await sodiumReady();
  await oprfReady();
  const abs = path.resolve(dir);
  if (devConsortiumExists(abs) && !options.force) {
    throw new Error(`${path.join(abs, 'consortium.json')} already exists; pass --force to replace the whole consortium`);
  }
  fs.mkdirSync(abs, { recursive: true, mode: 0o700 });

  const operator = generateSigningKeyPair();
  const operatorFile: OperatorKeyFile = { operator: true, publicKey: b64(operator.publicKey), secretKey: b64(operator.secretKey) };
  writeJsonFile(path.join(abs, 'operator', 'operator.key.json'), operatorFile, true);

  // The consortium CA (held by the operator) and one certificate per member for mutual TLS.
  const ca = await createConsortiumCa('mamori-dev');
  writeSecretFile(path.join(abs, 'ca', 'ca.key.pem'), ca.keyPem);
  fs.writeFileSync(path.join(abs, 'ca', 'ca.cert.pem'), ca.certPem);

  const epochKey = generateHashingKey();
  const now = Date.now();
  // Extra members take the ports after the default layout's, which stays as it is.
  const all = [...DEV_MEMBERS, ...(options.extraMembers ?? [])];
  const portOf = (i: number, block: number) => (i < DEV_MEMBERS.length ? basePort + block * DEV_MEMBERS.length + i : basePort + 3 * DEV_MEMBERS.length + 3 * (i - DEV_MEMBERS.length) + block);
  const members = all.map((m, i) => ({
    ...m,
    signing: generateSigningKeyPair(),
    box: generateBoxKeyPair(),
    listen: `127.0.0.1:${portOf(i, 0)}`,
    endpoint: `127.0.0.1:${portOf(i, 1)}`,
    metrics: `127.0.0.1:${portOf(i, 2)}`,
    token: randomToken(),
  }));

  // The threshold PRF: seeds dealt in memory to the three default members, each evaluator's
  // seeds sealed to its box key. The dealer's copy (`dealt`) is never written anywhere and
  // goes out of scope when this function returns (docs/security.md, "The dealer").
  const dealt = dealSeeds(
    DEV_MEMBERS.map((m) => m.id),
    DEV_OPRF_THRESHOLD,
  );
  const boxOf = new Map(members.map((m) => [m.id, m.box.publicKey]));
  const sealedSeeds = Object.fromEntries(dealt.shares.map((share) => [share.evaluator, sealEvaluatorSeeds(share, boxOf.get(share.evaluator) as Uint8Array)]));
  for (const share of dealt.shares) for (const s of share.seeds) s.seed.fill(0);

  const document: ConsortiumDocument = {
    format: 'mamori-consortium/1',
    name: 'mamori-dev',
    version: 1,
    issuedAtMs: now,
    operatorPublicKey: b64(operator.publicKey),
    members: members.map((m) => ({
      id: m.id,
      roles: m.roles,
      signingPublicKey: b64(m.signing.publicKey),
      boxPublicKey: b64(m.box.publicKey),
      endpoint: m.endpoint,
      binRanges: m.binRanges,
    })),
    keyEpochs: [{ epoch: 1, activeFromMs: now - 60_000, sealed: Object.fromEntries(members.map((m) => [m.id, b64(sealHashingKey(epochKey, m.box.publicKey))])) }],
    commonPoint: { aggregator: DEV_COMMON_POINT_AGGREGATOR, k: 2, lookBackDays: 90, minCards: 3, maxPValue: 1e-6 },
    oprf: {
      ...dealt.description,
      binDigits: 6,
      panSelectors: options.panSelectors ?? DEV_PAN_SELECTORS,
      budgets: { perMemberBinHour: 10_000, perMemberDay: 1_000_000, issuerPerMemberBinHour: 2_000_000, issuerPerMemberDay: 20_000_000 },
      counts: { floor: 64, alertThreshold: 4_096, bucketSeconds: options.countBucketSeconds ?? 3_600 },
      sealedSeeds,
    },
  };
  writeJsonFile(path.join(abs, 'consortium.json'), { document, signature: signConsortiumDocument(document, operator.secretKey) });

  for (const m of members) {
    const memberDir = path.join(abs, m.id);
    const keyFile: MemberKeyFile = {
      member: m.id,
      signing: { publicKey: b64(m.signing.publicKey), secretKey: b64(m.signing.secretKey) },
      box: { publicKey: b64(m.box.publicKey), secretKey: b64(m.box.secretKey) },
    };
    writeJsonFile(path.join(memberDir, 'member.key.json'), keyFile, true);
    const tls = await issueMemberCertificate(ca, m.id);
    writeSecretFile(path.join(memberDir, 'tls', 'node.key.pem'), tls.keyPem);
    fs.writeFileSync(path.join(memberDir, 'tls', 'node.cert.pem'), tls.certPem);
    const nodeConfig: NodeConfigFile = {
      member: m.id,
      listen: m.listen,
      dataDir: './data',
      consortiumFile: '../consortium.json',
      operatorPublicKey: b64(operator.publicKey),
      memberKeyFile: './member.key.json',
      // The dev client.json drives every command, unfreeze included: its token has every scope.
      // A production member gives each system a token of its own with only what it calls.
      clientTokens: [{ name: 'dev-client', digest: tokenDigest(m.token), scopes: [...TOKEN_SCOPES] }],
      logLevel: 'info',
      filter: { capacity: 1_000_000, targetFpRate: 1e-6 },
      snapshotIntervalMs: 30_000,
      cardTesting: { k: 2, windowMinutes: 60 },
      audit: { retentionDays: 365 },
      maxMessageBytes: 8 * 1024 * 1024,
      peerListen: m.endpoint,
      tls: { caFile: '../ca/ca.cert.pem', certFile: './tls/node.cert.pem', keyFile: './tls/node.key.pem' },
      insecureDev: false,
      antiEntropyIntervalMs: 5_000,
      rejectionBackoff: { baseMs: 1_000, maxMs: 60_000 },
      consortiumPollMs: 2_000,
      metricsListen: m.metrics,
      commonPointIntervalMs: 60_000,
      walCheckpointIntervalMs: 60_000,
      walTruncateAboveBytes: 64 * 1024 * 1024,
      scrub: { enabled: true, intervalMs: 3_600_000, entriesPerSlice: 500, sliceDelayMs: 50, startUpVerification: 'since-checkpoint' },
      alerts: { retentionDays: 365 },
      ownFeedRecovery: { timeoutMs: 30_000, required: false },
    };
    writeJsonFile(path.join(memberDir, 'node.json'), nodeConfig);
    const client: ClientConfig = { member: m.id, target: m.listen, token: m.token, deadlineMs: 5_000 };
    writeJsonFile(path.join(memberDir, 'client.json'), client, true);
  }
  return devLayout(abs);
}
