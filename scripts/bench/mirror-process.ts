// The SDK's filter mirror alone in a process of its own, so its memory is the process's RSS
// growth and nothing else the bench holds: `node --expose-gc mirror-process.js CLIENT_JSON
// CHECKS RUNS` loads the mirror of the member's node, then times RUNS × CHECKS negative
// checks on one thread (scripts/bench/sdk.ts's mirror loop) and prints one JSON line.
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import { sodiumReady } from '../../proto/ts/sodium';
import { mallocHeapRss, processMemory } from './common';
import { mirrorRun, summarize, unlistedPans, type MirrorViolations, type Run } from './sdk';

export interface MirrorProcessResult {
  items: number;
  /** The filter the node serves: what the mirror holds. */
  filterBytes: number;
  loadSeconds: number;
  /** RSS after start-up (modules, SDK, no mirror), after the mirror loaded, and after the runs; bytes. */
  rssBefore: number;
  rssLoaded: number;
  rssAfterRuns: number;
  /** Of rssBefore and rssLoaded: the main malloc arena's resident bytes (freed receive buffers it keeps count here), bytes. */
  mallocHeapBefore: number;
  mallocHeapLoaded: number;
  /** The process's own view once the mirror loaded: ArrayBuffers (the filter's bits among them) and the JS heap, bytes. */
  loadedMemory: { arrayBuffers: number; external: number; heapUsed: number };
  runs: Run[];
  summary: Run;
  violations: MirrorViolations;
}

/**
 * Lets the collector run first, so RSS shows what is held rather than what awaits collection.
 * Twice: V8 frees the backing stores of dead ArrayBuffers (the transport's receive buffers)
 * on a background sweep that a collection starts and only the next one waits for.
 */
function settledRss(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return processMemory(process.pid)?.rss ?? NaN;
}

async function main(): Promise<void> {
  const [clientJson, checksArg, runsArg] = process.argv.slice(2);
  const checks = Number(checksArg);
  const runCount = Number(runsArg);
  if (!clientJson || !Number.isInteger(checks) || checks < 1 || !Number.isInteger(runCount) || runCount < 1) {
    throw new Error('usage: mirror-process.js CLIENT_JSON CHECKS RUNS');
  }
  await sodiumReady();
  const { target, token } = readClientConfig(clientJson);
  // The check PANs are made before the baseline: they are the load, not the mirror.
  const warmPans = unlistedPans(Math.min(50_000, checks));
  const pans = Array.from({ length: runCount }, () => unlistedPans(checks));
  const rssBefore = settledRss();
  const mallocHeapBefore = mallocHeapRss(process.pid);
  const t0 = process.hrtime.bigint();
  const client = MamoriClient.connect({ target, token, mode: 'mirror', deadlineMs: 1000 });
  try {
    const sdk = await client.waitForReady(120_000);
    if (sdk.checksVia !== 'mirror') throw new Error(`the mirror is not usable after 120 s: ${sdk.fallbackReason}`);
    const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rssLoaded = settledRss();
    const mallocHeapLoaded = mallocHeapRss(process.pid);
    const { arrayBuffers, external, heapUsed } = process.memoryUsage();
    const filter = (await client.status()).filter;
    if (!filter) throw new Error('the node reports no filter');
    const violations: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    await mirrorRun(client, warmPans, { nodeNotListed: 0, listed: 0, fallback: 0 });
    const runs: Run[] = [];
    for (const batch of pans) runs.push(await mirrorRun(client, batch, violations));
    const result: MirrorProcessResult = {
      items: client.sdkStatus().mirror?.items ?? NaN,
      filterBytes: Math.ceil(filter.bits / 8),
      loadSeconds,
      rssBefore,
      rssLoaded,
      rssAfterRuns: settledRss(),
      mallocHeapBefore,
      mallocHeapLoaded,
      loadedMemory: { arrayBuffers, external, heapUsed },
      runs,
      summary: summarize(runs),
      violations,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    client.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
