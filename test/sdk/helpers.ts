// Helpers for the SDK tests: clients that are closed after each test, a node as a child
// process that can be killed, paused and restarted, a TCP proxy that records every byte, and
// a count of the Check calls a node served.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import type { ClientOptions } from '../../client-sdk/src/options';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium, memberOf, spawnNode, startInProcessNode, type InProcessNode, type NodeProcess } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { sodiumReady } from '../../proto/ts/sodium';
import { waitFor } from '../helpers/wait';

/** Clients made through this are closed by closeAll(). */
export class Clients {
  private readonly open: MamoriClient[] = [];

  connect(where: { target: string; token: string }, options: Partial<ClientOptions> = {}): MamoriClient {
    const client = MamoriClient.connect({ target: where.target, token: where.token, ...options });
    this.open.push(client);
    return client;
  }

  closeAll(): void {
    for (const c of this.open.splice(0)) c.close();
  }
}

/**
 * Counts the Check calls the node itself served (below the SDK, independent of its counters),
 * in either wire form; `packed` counts those of the packed form.
 */
export function countServedChecks(n: InProcessNode): { calls: number; selectors: number; packed: number } {
  const count = { calls: 0, selectors: 0, packed: 0 };
  const node = n.node as unknown as { check: (selectors: unknown[]) => unknown; checkPacked: (packed: { count: number }) => unknown };
  const original = node.check.bind(node);
  node.check = (selectors: unknown[]) => {
    count.calls++;
    count.selectors += selectors.length;
    return original(selectors);
  };
  const originalPacked = node.checkPacked.bind(node);
  node.checkPacked = (packed: { count: number }) => {
    count.calls++;
    count.packed++;
    count.selectors += packed.count;
    return originalPacked(packed);
  };
  return count;
}

export interface ChildNode {
  target: string;
  token: string;
  process: NodeProcess;
  kill(): Promise<void>;
  start(): Promise<void>;
  pause(): void;
  resume(): void;
}

/** `mamori start` for one member of a dev consortium, as a child process on its fixed port. */
export async function childNode(layout: DevConsortiumLayout, memberId: string): Promise<ChildNode> {
  const m = memberOf(layout, memberId);
  const { token } = readClientConfig(m.clientConfig);
  const logFile = path.join(layout.dir, memberId, 'node.log');
  const node: ChildNode = {
    target: m.listen,
    token,
    process: spawnNode(m.nodeConfig, logFile),
    async kill() {
      node.process.child.kill('SIGKILL');
      await node.process.exited;
    },
    async start() {
      node.process = spawnNode(m.nodeConfig, logFile);
      await waitServing(node.target, token);
    },
    pause() {
      node.process.child.kill('SIGSTOP');
    },
    resume() {
      node.process.child.kill('SIGCONT');
    },
  };
  try {
    await waitServing(node.target, token);
  } catch (error) {
    node.process.child.kill('SIGKILL');
    throw new Error(`${String(error)}\n${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
  }
  return node;
}

async function waitServing(target: string, token: string): Promise<void> {
  await waitFor(
    async () => {
      const client = MamoriClient.connect({ target, token, mode: 'remote', adminDeadlineMs: 1000 });
      try {
        await client.status();
        return true;
      } finally {
        client.close();
      }
    },
    `a node to answer on ${target}`,
    60_000,
    50,
  );
}

export interface TcpProxy {
  target: string;
  /** Every byte that crossed, both directions, in arrival order. */
  bytes(): Buffer;
  close(): Promise<void>;
}

/** A plain TCP relay between a client and a node that keeps a copy of all the traffic. */
export async function tcpProxy(upstream: string): Promise<TcpProxy> {
  const [host, port] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const seen: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const up = net.connect(port, host);
    for (const s of [downstream, up]) {
      s.setNoDelay(true); // as grpc-js does; with Nagle, each small call would wait ~40 ms
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    downstream.on('data', (chunk: Buffer) => {
      seen.push(Buffer.from(chunk));
      up.write(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      seen.push(Buffer.from(chunk));
      downstream.write(chunk);
    });
    downstream.on('close', () => up.destroy());
    up.on('close', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: listening } = server.address() as net.AddressInfo;
  return {
    target: `127.0.0.1:${listening}`,
    bytes: () => Buffer.concat(seen),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Milliseconds an async call took, and its value. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

/** A keyed in-process node (psp-c) holding `listedCount` published cards, beside `unlistedCount` others, and its hashing key. */
export async function nodeWithListedCards(listedCount: number, unlistedCount: number): Promise<{ n: InProcessNode; key: Uint8Array; listed: string[]; unlisted: string[] }> {
  await sodiumReady();
  const n = await startInProcessNode(await makeConsortium(), 'psp-c');
  const listed = randomPans(listedCount);
  const unlisted = randomPans(unlistedCount);
  await n.client.publishCompromisedCards(listed, { reason: 'phishing' });
  const key = ((await n.client.hashingKeys())[0] as { key: Uint8Array }).key;
  return { n, key, listed, unlisted };
}
