// What the crash and disk-full fault tests check after a node process dies or refuses a
// write: recovery time, listed cards, SQLite integrity, duplicate rows, the verified feed.
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { MamoriClient } from '../../client-sdk/src/client';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { Consortium } from '../../node/src/membership/consortium';
import { verifyStoredLedger } from '../../node/src/integrity/verify-ledger';
import type { FeedHead } from '../../node/src/ledger/entry';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { databaseFile } from '../../node/src/store/database';
import { spawnNode, type NodeProcess } from './node-harness';
import { randomPan } from './cards';
import { waitFor } from './wait';

/**
 * Spawns `mamori start` and measures its recovery: from the spawn to the first check the
 * node itself answers (not a fail-open answer of the SDK). A new client per probe, so no
 * gRPC reconnect backoff stretches the figure.
 */
export async function spawnAndTimeRecovery(nodeConfig: string, clientConfig: string, logFile: string, probePan: string, timeoutMs = 120_000): Promise<{ node: NodeProcess; recoveryMs: number }> {
  const started = Date.now();
  const node = spawnNode(nodeConfig, logFile);
  let exited = false;
  void node.exited.then(() => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new Error(`the node exited during start-up; see ${logFile}`);
      const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote', deadlineMs: 2_000 });
      try {
        const verdict = await client.checkCard(probePan);
        return !verdict.degraded;
      } finally {
        client.close();
      }
    },
    `node of ${clientConfig} to answer a check`,
    timeoutMs,
    25,
  );
  if (exited) throw new Error(`the node exited during start-up; see ${logFile}`);
  return { node, recoveryMs: Date.now() - started };
}

/** How many of the cards the node does not answer as listed (checked in batches). */
export async function unlistedCards(client: MamoriClient, pans: readonly string[], batch = 5_000): Promise<number> {
  let missing = 0;
  for (let i = 0; i < pans.length; i += batch) {
    const verdicts = await client.checkCards(pans.slice(i, i + batch));
    missing += verdicts.filter((v) => !v.listed).length;
  }
  return missing;
}

export interface DatabaseInspection {
  integrity: string;
  selectorRows: number;
  distinctDigests: number;
  entries: number;
}

/** SQLite's integrity check and row counts, through a read-only connection (the node may be running). */
export function inspectDatabase(file: string): DatabaseInspection {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const rows = db
      .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT digest) AS d FROM (SELECT digest FROM selectors UNION ALL SELECT digest FROM selectors_recent)')
      .get() as { n: number; d: number };
    const entries = (db.prepare('SELECT COUNT(*) AS n FROM entries').get() as { n: number }).n;
    return { integrity, selectorRows: rows.n, distinctDigests: rows.d, entries };
  } finally {
    db.close();
  }
}

export function databaseFileOf(nodeConfig: string): string {
  return databaseFile(loadNodeConfig(nodeConfig).dataDir);
}

/** Every stored feed verified end to end (signatures, hash chains); only with the node stopped. */
export function verifyFeedsOffline(nodeConfig: string): Map<string, FeedHead> {
  const config = loadNodeConfig(nodeConfig);
  const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
  const store = LedgerStore.open(databaseFile(config.dataDir));
  try {
    return verifyStoredLedger(store, (origin) => consortium.memberKeys(origin) ?? consortium.formerMemberKeys(origin));
  } finally {
    store.close();
  }
}

export function editJson(file: string, change: (value: Record<string, unknown>) => void): void {
  const value = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(value);
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

export function minMedianMax(values: readonly number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted.length === 0 ? 0 : sorted.length % 2 === 1 ? (sorted[(sorted.length - 1) / 2] as number) : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return { min: sorted[0] ?? 0, median, max: sorted[sorted.length - 1] ?? 0 };
}

/** Random card numbers never handed out before in this run, so every batch is accepted whole. */
export class FreshPans {
  private readonly seen = new Set<string>();

  batch(count: number): string[] {
    const out: string[] = [];
    while (out.length < count) {
      const pan = randomPan();
      if (this.seen.has(pan)) continue;
      this.seen.add(pan);
      out.push(pan);
    }
    return out;
  }
}

export interface ImportRun {
  acknowledgedPans: string[];
  acknowledgedBatches: number;
  highestAcknowledgedSeq: number;
  cutOff: number;
  partial: number[];
}

/** Publishes batches of fresh cards with several in flight until the node dies; SIGKILL after `killAfterMs`. */
export async function importUntilKilled(clientConfig: string, node: NodeProcess, killAfterMs: number, pans: FreshPans, batchSize: number, inFlight = 4): Promise<ImportRun> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote', deadlineMs: 30_000 });
  const run: ImportRun = { acknowledgedPans: [], acknowledgedBatches: 0, highestAcknowledgedSeq: 0, cutOff: 0, partial: [] };
  await client.status(); // connected, hashing keys fetched: the kill lands in the import, not the handshake
  const killer = setTimeout(() => node.child.kill('SIGKILL'), killAfterMs);
  const worker = async () => {
    for (;;) {
      const batch = pans.batch(batchSize);
      try {
        const r = await client.publishCompromisedCards(batch, { reason: 'merchant-breach' });
        if (r.accepted !== batchSize) run.partial.push(r.accepted);
        run.acknowledgedPans.push(...batch);
        run.acknowledgedBatches++;
        run.highestAcknowledgedSeq = Math.max(run.highestAcknowledgedSeq, r.seq);
      } catch {
        run.cutOff++;
        return; // the node is gone
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    clearTimeout(killer);
    client.close();
  }
  return run;
}
