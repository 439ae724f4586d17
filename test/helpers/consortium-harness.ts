// A three-member consortium of real node processes on loopback, talking mutual TLS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import type { DevConsortiumLayout, DevMember } from '../../node/src/runtime/dev-consortium';
import { makeConsortium, memberOf, spawnNode, waitUntilServing, type NodeProcess } from './node-harness';
import { waitFor } from './wait';

export interface ConsortiumProcesses {
  layout: DevConsortiumLayout;
  nodes: Map<string, NodeProcess>;
  clients: Map<string, MamoriClient>;
  client(id: string): MamoriClient;
  /** Starts a member's node; waits until it accepts own writes unless told not to. */
  start(id: string, options?: { waitForOwnWrites?: boolean }): Promise<void>;
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  stopAll(): Promise<void>;
}

/** Changes a member's node.json (for example its peers) before it starts. */
export function editNodeConfig(layout: DevConsortiumLayout, id: string, change: (config: Record<string, unknown>) => void): void {
  const file = memberOf(layout, id).nodeConfig;
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(config);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
}

export async function startConsortium(
  options: { configure?: (layout: DevConsortiumLayout) => void; only?: string[]; extraMembers?: readonly DevMember[]; panSelectors?: 'keyed' | 'dual' | 'oblivious' } = {},
): Promise<ConsortiumProcesses> {
  // "keyed" unless asked, as before the phase existed: many tests stop peers, and an oblivious
  // selector needs t evaluators online. The tests of card listings, sightings and the common
  // point run "dual" (the SDK publishes oblivious selectors and checks both kinds, and what a
  // test hashes under the key itself, a listing of the keyed era, stays checkable); the
  // oblivious tests and `npm start` run "oblivious".
  const layout = await makeConsortium({ extraMembers: options.extraMembers, panSelectors: options.panSelectors ?? 'keyed' });
  for (const m of layout.members) editNodeConfig(layout, m.id, (c) => Object.assign(c, { antiEntropyIntervalMs: 1000, consortiumPollMs: 200, ownFeedRecovery: { timeoutMs: 3000, required: false } }));
  options.configure?.(layout);
  const nodes = new Map<string, NodeProcess>();
  const clients = new Map<string, MamoriClient>();
  const start = async (id: string, startOptions: { waitForOwnWrites?: boolean } = {}) => {
    const m = memberOf(layout, id);
    nodes.set(id, spawnNode(m.nodeConfig, path.join(layout.dir, id, 'node.log')));
    await waitUntilServing(m.clientConfig);
    clients.get(id)?.close();
    const client = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 30_000 });
    clients.set(id, client);
    // Own-feed recovery: the node refuses own writes until a peer answered (or its timeout).
    if (startOptions.waitForOwnWrites !== false) await waitForOwnWrites(client);
  };
  const kill = async (id: string, signal: NodeJS.Signals = 'SIGKILL') => {
    const n = nodes.get(id);
    if (!n || n.child.exitCode !== null || n.child.signalCode !== null) return;
    n.child.kill(signal);
    await n.exited;
  };
  const started = await Promise.allSettled((options.only ?? layout.members.map((m) => m.id)).map((id) => start(id)));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // A hook that fails here leaves no handle to stop what did start: stop it now.
    for (const c of clients.values()) c.close();
    await Promise.all([...nodes.keys()].map((id) => kill(id)));
    throw failed.reason;
  }
  if (!options.only && (options.panSelectors ?? 'keyed') !== 'keyed') {
    // An oblivious selector needs t evaluators over the peer connections: wait until they are up.
    await Promise.all([...clients.values()].map((client) => waitForPeers(client, layout.members.length - 1)));
  }
  return {
    layout,
    nodes,
    clients,
    client: (id) => {
      const c = clients.get(id);
      if (!c) throw new Error(`no client for ${id}`);
      return c;
    },
    start,
    kill,
    stopAll: async () => {
      for (const c of clients.values()) c.close();
      await Promise.all([...nodes.keys()].map((id) => kill(id, 'SIGTERM')));
    },
  };
}

/** Waits until a member's node holds an origin's feed up to a seq. */
export async function waitForFeed(client: MamoriClient, origin: string, seq: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => ((await client.status()).feeds.find((f) => f.origin === origin)?.seq ?? 0) >= seq,
    `feed ${origin} to reach seq ${seq}`,
    timeoutMs,
    50,
  );
}

/** Waits until a member's node has a connection to `count` peers (evaluations go over them). */
export async function waitForPeers(client: MamoriClient, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await client.status()).peers.filter((p) => p.connected).length >= count, `${count} peers connected`, timeoutMs, 50);
}

/** Waits until a member's node accepts own writes (own-feed recovery finished). */
export async function waitForOwnWrites(client: MamoriClient, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await client.status()).ownFeedRecovery?.acceptingWrites === true, 'own writes to be accepted', timeoutMs, 50);
}
