// `mamori member replica` (docs/runbook-consortium.md#read-replicas), run where the member's
// directory is: makes the directory of a read replica of this member. The replica gets the
// member's box key (to open hashing-key epochs), its TLS identity (to follow the peers), the
// consortium file and the client tokens, but not the signing secret key: in its place an audit
// key of its own, endorsed by the signing key (membership/audit-key.ts). Its node.json names
// the signer (replicaOf) and has no peerListen: peers reach the member at its endpoint, the
// signer. The member's directory is only read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../../proto/ts/sodium';
import { readClientConfig, type ClientConfig } from '../../../client-sdk/src/config';
import { isLoopbackHost } from '../config/addresses';
import { loadNodeConfig } from '../config/node-config';
import { readJsonValue, writeJsonFile, writeSecretFile } from '../config/files';
import { hostPort, nodeConfigSchema, type MemberKeyFile } from '../config/schemas';
import { createEndorsedAuditKey } from '../membership/audit-key';
import { Consortium, loadMemberIdentity } from '../membership/consortium';
import { hostOf } from './consortium-operator';
import { memberLayout } from './member-setup';

export interface MemberReplicaOptions {
  /** The member's directory (mamori member init, or a dev consortium's member folder). */
  dir: string;
  /** The replica's directory: created 0700, must be empty. */
  out: string;
  /** The replica's member API, on loopback. */
  api: string;
  /** How the replica names the signer in its refusal of writes; default the member's endpoint. */
  signer?: string;
}

export interface MemberReplicaResult {
  member: string;
  dir: string;
  nodeConfig: string;
  clientConfig: string;
  keyFile: string;
  signer: string;
}

/** Settings of the signer's node.json a replica does not take: where it listens for peers, and its metrics port. */
const SIGNER_ONLY_SETTINGS = ['peerListen', 'metricsListen'];

export async function makeMemberReplica(o: MemberReplicaOptions): Promise<MemberReplicaResult> {
  const problems: string[] = [];
  if (!hostPort.safeParse(o.api).success) problems.push(`--api: "${o.api}" is not HOST:PORT`);
  else if (!isLoopbackHost(hostOf(o.api))) problems.push(`--api: ${o.api} is not a loopback address; the member API (token-authenticated, no TLS) stays on its machine`);
  const out = path.resolve(o.out);
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0) problems.push(`--out: ${out} is not empty; a replica's directory starts empty`);
  const source = memberLayout(o.dir);
  if (!fs.existsSync(source.nodeConfig)) problems.push(`--dir: ${source.dir} has no node.json (a member's directory, after mamori member join)`);
  if (problems.length > 0) throw new Error(`${problems.join('; ')} (nothing was written)`);

  await sodiumReady();
  const signerConfig = loadNodeConfig(source.nodeConfig);
  if (signerConfig.replicaOf !== undefined) throw new Error(`${source.nodeConfig} is a replica's; make replicas from the signer's directory (nothing was written)`);
  const identity = loadMemberIdentity(signerConfig.memberKeyFile);
  if (!identity.signing.secretKey) throw new Error(`${signerConfig.memberKeyFile} holds no signing key: make replicas from the signer's directory (nothing was written)`);
  const consortium = Consortium.load(signerConfig.consortiumFile, signerConfig.operatorPublicKey);
  const self = consortium.member(identity.member);
  if (!self) throw new Error(`${signerConfig.consortiumFile} has no member "${identity.member}" (nothing was written)`);
  const signer = o.signer ?? self.endpoint;
  const signerCheck = nodeConfigSchema.shape.replicaOf.safeParse(signer);
  if (!signerCheck.success) throw new Error(`--signer: ${signerCheck.error.issues[0]?.message ?? 'not a description of the signer'} (nothing was written)`);
  const client = fs.existsSync(source.clientConfig) ? readClientConfig(source.clientConfig) : undefined;

  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  const auditKey = createEndorsedAuditKey(identity.member, identity.signing.secretKey);
  const keyFile: MemberKeyFile = {
    member: identity.member,
    signing: { publicKey: b64(identity.signing.publicKey) },
    box: { publicKey: b64(identity.box.publicKey), secretKey: b64(identity.box.secretKey) },
    auditKey: { publicKey: b64(auditKey.publicKey), secretKey: b64(auditKey.secretKey), endorsement: b64(auditKey.endorsement) },
  };
  const raw = readJsonValue(source.nodeConfig) as Record<string, unknown>;
  const nodeConfig: Record<string, unknown> = Object.fromEntries(Object.entries(raw).filter(([key]) => !SIGNER_ONLY_SETTINGS.includes(key)));
  Object.assign(nodeConfig, {
    listen: o.api,
    dataDir: './data',
    consortiumFile: './consortium.json',
    memberKeyFile: './replica.key.json',
    replicaOf: signer,
    tls: signerConfig.tls && { caFile: './tls/ca.cert.pem', certFile: './tls/node.cert.pem', keyFile: './tls/node.key.pem' },
  });

  const files = {
    nodeConfig: path.join(out, 'node.json'),
    clientConfig: path.join(out, 'client.json'),
    keyFile: path.join(out, 'replica.key.json'),
  };
  fs.mkdirSync(out, { recursive: true, mode: 0o700 });
  fs.chmodSync(out, 0o700);
  writeJsonFile(files.keyFile, keyFile, true);
  fs.copyFileSync(signerConfig.consortiumFile, path.join(out, 'consortium.json'));
  if (signerConfig.tls) {
    writeSecretFile(path.join(out, 'tls', 'node.key.pem'), fs.readFileSync(signerConfig.tls.keyFile, 'utf8'));
    fs.copyFileSync(signerConfig.tls.certFile, path.join(out, 'tls', 'node.cert.pem'));
    fs.copyFileSync(signerConfig.tls.caFile, path.join(out, 'tls', 'ca.cert.pem'));
  }
  writeJsonFile(files.nodeConfig, nodeConfig, true);
  // The member's own tokens work at the replica too (same digests): its systems switch by target only.
  if (client) writeJsonFile(files.clientConfig, { ...client, target: o.api } satisfies ClientConfig, true);
  return { member: identity.member, dir: out, ...files, clientConfig: client ? files.clientConfig : '', signer };
}
