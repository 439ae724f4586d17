// Real nodes for tests: a dev consortium in a temp dir, a node in this process or as a
// child process, gRPC on 127.0.0.1 with an ephemeral port.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import { createDevConsortium, type DevConsortiumLayout, type DevMember } from '../../node/src/runtime/dev-consortium';
import { loadNodeConfig } from '../../node/src/config/node-config';
import type { MamoriNode } from '../../node/src/exchange/node';
import type { RunningServer } from '../../node/src/rpc/server';
import type { OpenNode } from '../../node/src/runtime/open-node';
import { runExchangeNode } from '../../node/src/runtime/run-node';
import { waitFor } from './wait';

export const CLI = path.resolve(__dirname, '../../../bin/mamori.js');

export function tempDir(prefix = 'mamori-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Consecutive free loopback ports for a dev consortium (APIs, peer ports, metrics): nine, three
 * more per extra member. Drawn below Linux's ephemeral range (32768+), where the outgoing
 * connections of the tests themselves could take one of them between this check and the
 * node's bind.
 */
export async function freePortBlock(count = 9): Promise<number> {
  const low = 20_000;
  const high = 32_000 - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const ok = await Promise.all(Array.from({ length: count }, (_, i) => portIsFree(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no block of ${count} free ports`);
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A dev consortium in a temporary folder. Its PAN-selector phase is "keyed" unless asked: most
 * tests run one node alone, and an oblivious selector needs t = 2 evaluators online. Tests of
 * real consortia (consortium-harness.ts) run "dual" by default; "oblivious" is what `npm start`
 * runs (docs/oprf.md#migration).
 */
export async function makeConsortium(options: { extraMembers?: readonly DevMember[]; panSelectors?: 'keyed' | 'dual' | 'oblivious' } = {}): Promise<DevConsortiumLayout> {
  const extraMembers = options.extraMembers ?? [];
  const layout = await createDevConsortium(path.join(tempDir(), 'consortium'), await freePortBlock(9 + 3 * extraMembers.length), { extraMembers, panSelectors: options.panSelectors ?? 'keyed' });
  // Most tests start one member alone and publish at once: own writes are not held for peers
  // that will never come (consortium-harness.ts and the restore tests turn the wait on).
  for (const m of layout.members) {
    const config = JSON.parse(fs.readFileSync(m.nodeConfig, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(m.nodeConfig, JSON.stringify({ ...config, ownFeedRecovery: { timeoutMs: 0, required: false } }, null, 2));
  }
  return layout;
}

export function memberOf(layout: DevConsortiumLayout, id: string) {
  const m = layout.members.find((x) => x.id === id);
  if (!m) throw new Error(`no member ${id}`);
  return m;
}

export interface InProcessNode {
  node: MamoriNode;
  /** Every object of the node (audit log, writer, events…), as the runtime built it. */
  parts: OpenNode;
  server: RunningServer;
  client: MamoriClient;
  target: string;
  token: string;
  logLines: string[];
  dataDir: string;
  stop(): Promise<void>;
}

/** A node in this process, its gRPC server on an ephemeral port, and an SDK client to it. */
export async function startInProcessNode(
  layout: DevConsortiumLayout,
  memberId = 'psp-c',
  overrides: Record<string, unknown> = {},
): Promise<InProcessNode> {
  const m = memberOf(layout, memberId);
  const raw = JSON.parse(fs.readFileSync(m.nodeConfig, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(m.nodeConfig, JSON.stringify({ ...raw, ...overrides, listen: '127.0.0.1:0' }, null, 2));
  const config = loadNodeConfig(m.nodeConfig);
  const logLines: string[] = [];
  const log = pino({ level: 'debug', base: { member: memberId } }, { write: (line: string) => void logLines.push(line) });
  const { node, parts, server, stop } = await runExchangeNode(config, log);
  const { token } = readClientConfig(m.clientConfig);
  const target = `127.0.0.1:${server.port}`;
  const client = MamoriClient.connect({ target, token, mode: 'remote', deadlineMs: 30_000 });
  return {
    node,
    parts,
    server,
    client,
    target,
    token,
    logLines,
    dataDir: config.dataDir,
    stop: async () => {
      client.close();
      await stop();
    },
  };
}

/** A raw gRPC stub, for requests the SDK would never send (insecure unless credentials are given). */
export function rawExchange(target: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): ExchangeClient {
  return new (loadGrpcTypes().mamori.v1.Exchange)(target, credentials);
}

/** A copy of a member's node.json with some fields replaced (undefined: removed), beside it; returns its path. */
export function nodeConfigVariant(layout: DevConsortiumLayout, member: string, name: string, overrides: Record<string, unknown>): string {
  const raw = JSON.parse(fs.readFileSync(memberOf(layout, member).nodeConfig, 'utf8')) as Record<string, unknown>;
  const file = path.join(path.dirname(memberOf(layout, member).nodeConfig), name);
  fs.writeFileSync(file, JSON.stringify({ ...raw, ...overrides }, null, 2));
  return file;
}

export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export function rawCall<Res>(stub: ExchangeClient, method: 'Publish' | 'Retract' | 'Check' | 'Status' | 'GetHashingKeys', request: object, metadata: grpc.Metadata): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = stub[method] as unknown as (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Res) => void) => void;
    fn.call(stub, request, metadata, { deadline: Date.now() + 10_000 }, (error, value) => (error ? reject(error) : resolve(value as Res)));
  });
}

export interface NodeProcess {
  child: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Node processes still running when the test process exits (mocha --exit, a failed hook) are killed. */
const runningNodes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of runningNodes) child.kill('SIGKILL');
});

/** `mamori start` as a real child process, its output appended to a log file. */
export function spawnNode(nodeConfig: string, logFile: string): NodeProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [CLI, 'start', '--config', nodeConfig], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  runningNodes.add(child);
  child.once('exit', () => runningNodes.delete(child));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, logFile, exited };
}

export async function waitUntilServing(clientConfig: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
      try {
        await client.status();
        return true;
      } finally {
        client.close();
      }
    },
    `node of ${clientConfig} to answer`,
    timeoutMs,
    50,
  );
}

/** Runs the CLI to completion and returns its output. */
export function runCli(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mamori ${args.join(' ')} did not finish in time`));
    }, options.timeoutMs ?? 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Every file under a folder, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}
