// What generic operations tools do, done from tests: a gRPC health probe, a server-reflection
// client (list services, fetch descriptors, build a client from them), a Prometheus scrape,
// and `mamori start` run in this process so both gRPC servers and the metrics port are up.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino from 'pino';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { runNode, type RunningNode } from '../../node/src/runtime/run-node';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { LOADER_OPTIONS } from '../../proto/ts/loader';
import { memberOf } from './node-harness';

type Ctor = new (target: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

function serviceConstructor(definition: protoLoader.PackageDefinition, name: string): Ctor {
  let value: unknown = grpc.loadPackageDefinition(definition);
  for (const part of name.split('.')) value = (value as Record<string, unknown>)[part];
  if (typeof value !== 'function') throw new Error(`no service ${name} in the package definition`);
  return value as Ctor;
}

const REFLECTION_PROTO = path.join(path.dirname(require.resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');

export interface OpsTarget {
  target: string;
  credentials: grpc.ChannelCredentials;
  options?: grpc.ChannelOptions;
}

/** Channel credentials of a member's node, as a peer presents them (mutual TLS, consortium CA). */
export function memberTlsTarget(layout: DevConsortiumLayout, member: string, target: string): OpsTarget {
  const dir = path.join(layout.dir, member, 'tls');
  return {
    target,
    credentials: grpc.credentials.createSsl(
      fs.readFileSync(path.join(layout.dir, 'ca', 'ca.cert.pem')),
      fs.readFileSync(path.join(dir, 'node.key.pem')),
      fs.readFileSync(path.join(dir, 'node.cert.pem')),
    ),
    options: { 'grpc.ssl_target_name_override': 'localhost' },
  };
}

export function insecureTarget(target: string): OpsTarget {
  return { target, credentials: grpc.credentials.createInsecure() };
}

export function unaryCall<Res>(client: grpc.Client, method: string, request: object, metadata = new grpc.Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Res) => void) => void>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(client, request, metadata, { deadline: Date.now() + 10_000 }, (error, value) => (error ? reject(error) : resolve(value as Res)));
  });
}

/** grpc.health.v1.Health/Check, with no credentials beyond the channel's. */
export async function healthCheck(at: OpsTarget, service: string): Promise<string> {
  const Health = serviceConstructor(protoLoader.loadSync(healthProtoPath, { enums: String }), 'grpc.health.v1.Health');
  const client = new Health(at.target, at.credentials, at.options);
  try {
    return (await unaryCall<{ status: string }>(client, 'Check', { service })).status;
  } finally {
    client.close();
  }
}

export interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** One request on grpc.reflection.v1.ServerReflection/ServerReflectionInfo; an error response is returned, not thrown. */
export async function reflectionRequest(at: OpsTarget, request: object): Promise<ReflectionResponse> {
  const Reflection = serviceConstructor(protoLoader.loadSync(REFLECTION_PROTO), 'grpc.reflection.v1.ServerReflection');
  const client = new Reflection(at.target, at.credentials, at.options);
  try {
    const call = (client as unknown as { ServerReflectionInfo(o: grpc.CallOptions): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo({
      deadline: Date.now() + 10_000,
    });
    const response = await new Promise<ReflectionResponse>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
      call.write(request);
    });
    call.end();
    return response;
  } finally {
    client.close();
  }
}

/** One request on grpc.reflection.v1.ServerReflection/ServerReflectionInfo; an error response is thrown. */
async function reflect(at: OpsTarget, request: object): Promise<ReflectionResponse> {
  const response = await reflectionRequest(at, request);
  if (response.errorResponse) throw new Error(`reflection error ${response.errorResponse.errorCode}: ${response.errorResponse.errorMessage}`);
  return response;
}

export async function reflectionListServices(at: OpsTarget): Promise<string[]> {
  const response = await reflect(at, { listServices: '' });
  return (response.listServicesResponse?.service ?? []).map((s) => s.name).sort();
}

/**
 * A client for a service built only from what reflection returns (the file that defines
 * the symbol and its imports), the way grpcurl calls an API it has no .proto files for.
 */
export async function clientFromReflection(at: OpsTarget, service: string): Promise<grpc.Client> {
  const response = await reflect(at, { fileContainingSymbol: service });
  // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`: tag, length, bytes.
  const parts: Buffer[] = [];
  for (const file of response.fileDescriptorResponse?.fileDescriptorProto ?? []) parts.push(Buffer.from([0x0a]), varint(file.length), file);
  const definition = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.concat(parts), LOADER_OPTIONS);
  return new (serviceConstructor(definition, service))(at.target, at.credentials, at.options);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** GET http://<address>/metrics: status and body. */
export function scrape(address: string, urlPath = '/metrics'): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${address}${urlPath}`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
  });
}

/** The value of the first sample of a metric whose labels include the given ones, in Prometheus text. */
export function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

/** `mamori start` for a member, in this process: API, peer server and metrics on their configured ports. */
export async function runMemberNode(layout: DevConsortiumLayout, member: string, overrides: Record<string, unknown> = {}): Promise<RunningNode & { logLines: string[] }> {
  const file = memberOf(layout, member).nodeConfig;
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...raw, ...overrides }, null, 2));
  const logLines: string[] = [];
  const log = pino({ level: 'debug', base: { member } }, { write: (line: string) => void logLines.push(line) });
  const running = await runNode(loadNodeConfig(file), log);
  return Object.assign(running, { logLines });
}

/** The error a call fails with; throws if it succeeds. */
export async function grpcError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}
