// `mamori member api-tls`: what a node needs to serve its member API beyond loopback, made in
// the member's directory: a CA of the member's own (never the consortium CA, so no other
// member's certificate opens this member's API), a server certificate for the node naming the
// hosts its payment systems reach it by, and a client certificate for those systems. node.json
// gets apiTls and the new listen address, client.json the matching tls section and target.
// Every file is 0600 in DIR/api-tls (0700). docs/operations.md#member-api-tls.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isIP } from 'node:net';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import { createCertificateAuthority, issueApiClientCertificate, issueMemberCertificate } from '../crypto/certificates';
import { readJsonValue, writeJsonFile, writeSecretFile } from '../config/files';
import { hostPort, memberId } from '../config/schemas';

export interface ApiTlsOptions {
  /** The member's directory: node.json and client.json side by side (mamori member init, dev-consortium). */
  dir: string;
  /** Names and addresses the member's systems reach the node by; the first goes in client.json. */
  hosts: string[];
  /** Where the node serves the member API, for example 0.0.0.0:7101. */
  listen: string;
  /** The name in the client certificate. */
  clientName?: string;
  /** Validity of the server and client certificates. */
  certDays?: number;
}

export interface ApiTlsResult {
  member: string;
  dir: string;
  listen: string;
  target: string;
  files: { caCert: string; caKey: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string };
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
export const DEFAULT_API_CLIENT_NAME = 'payments';

/** Checks the options and the directory; every problem names its option or file. */
function apiTlsProblems(o: ApiTlsOptions, nodeConfigFile: string, clientConfigFile: string, tlsDir: string): string[] {
  const problems: string[] = [];
  if (!fs.existsSync(nodeConfigFile) || !fs.existsSync(clientConfigFile)) problems.push(`--dir: ${o.dir} holds no node.json and client.json (a member's directory)`);
  if (fs.existsSync(tlsDir)) problems.push(`--dir: ${tlsDir} exists; remove it to make new material (running nodes keep the files they read at start)`);
  if (o.hosts.length === 0) problems.push('--host: at least one name or address the member\'s systems reach the node by');
  for (const host of o.hosts) if (!isIP(host) && !HOST_NAME.test(host)) problems.push(`--host: "${host}" is neither a DNS name nor an IP address`);
  if (!hostPort.safeParse(o.listen).success) problems.push(`--listen: "${o.listen}" is not HOST:PORT`);
  const client = memberId.safeParse(o.clientName ?? DEFAULT_API_CLIENT_NAME);
  if (!client.success) problems.push(`--client-name: ${client.error.issues[0]?.message ?? 'not a name'}`);
  return problems;
}

export async function makeApiTls(o: ApiTlsOptions): Promise<ApiTlsResult> {
  const dir = path.resolve(o.dir);
  const nodeConfigFile = path.join(dir, 'node.json');
  const clientConfigFile = path.join(dir, 'client.json');
  const tlsDir = path.join(dir, 'api-tls');
  const problems = apiTlsProblems(o, nodeConfigFile, clientConfigFile, tlsDir);
  if (problems.length > 0) throw new Error(`${problems.join('; ')} (nothing was written)`);
  const nodeConfig = readJsonValue(nodeConfigFile) as Record<string, unknown>;
  const clientConfig = readJsonValue(clientConfigFile) as Record<string, unknown>;
  const member = nodeConfig.member;
  if (typeof member !== 'string' || !memberId.safeParse(member).success) throw new Error(`${nodeConfigFile}: member: not a member id (nothing was written)`);

  const ca = await createCertificateAuthority(`${member} Mamori member API CA`);
  const server = await issueMemberCertificate(ca, member, { hosts: o.hosts, validDays: o.certDays });
  const client = await issueApiClientCertificate(ca, o.clientName ?? DEFAULT_API_CLIENT_NAME, o.certDays);
  const files = {
    caCert: path.join(tlsDir, 'ca.cert.pem'),
    caKey: path.join(tlsDir, 'ca.key.pem'),
    serverCert: path.join(tlsDir, 'node.cert.pem'),
    serverKey: path.join(tlsDir, 'node.key.pem'),
    clientCert: path.join(tlsDir, 'client.cert.pem'),
    clientKey: path.join(tlsDir, 'client.key.pem'),
  };
  fs.mkdirSync(tlsDir, { mode: 0o700 });
  fs.chmodSync(tlsDir, 0o700);
  writeSecretFile(files.caCert, ca.certPem);
  writeSecretFile(files.caKey, ca.keyPem);
  writeSecretFile(files.serverCert, server.certPem);
  writeSecretFile(files.serverKey, server.keyPem);
  writeSecretFile(files.clientCert, client.certPem);
  writeSecretFile(files.clientKey, client.keyPem);

  const relative = (file: string) => `./${path.relative(dir, file)}`;
  const [firstHost] = o.hosts as [string];
  const target = `${isIP(firstHost) === 6 ? `[${firstHost}]` : firstHost}:${o.listen.slice(o.listen.lastIndexOf(':') + 1)}`;
  const nodeMode = fs.statSync(nodeConfigFile).mode & 0o777;
  const apiTls = { caFile: relative(files.caCert), certFile: relative(files.serverCert), keyFile: relative(files.serverKey) };
  writeFileAtomic(nodeConfigFile, `${JSON.stringify({ ...nodeConfig, listen: o.listen, apiTls }, null, 2)}\n`, { mode: nodeMode });
  const tls = { caFile: relative(files.caCert), certFile: relative(files.clientCert), keyFile: relative(files.clientKey) };
  writeJsonFile(clientConfigFile, { ...clientConfig, target, tls }, true);
  return { member, dir, listen: o.listen, target, files };
}

