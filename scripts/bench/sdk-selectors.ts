// The SDK's oblivious PAN selectors, client side (docs/oprf.md#the-client-sdk):
//
//   npm run build --silent && node dist/scripts/bench/sdk-selectors.js [PANS]
//
// The node is test/helpers/tprf-stand-in.ts (real evaluators, t = 2 of n = 3, minimal plan) in a
// child process, so this process's CPU is the client's alone: blinding, gRPC, checking,
// combining, unblinding, finalizing, the cache. Figures:
//   - first-seen cards in bulk (preEvaluate, batches of 1,000): client CPU per card, and the
//     blind / combine+unblind+finalize split measured on the library calls with no I/O;
//   - one card at a time (concurrency 1): per call, first-seen vs cached, latency and client CPU;
//   - 64 concurrent callers of first-seen cards: RPCs, cards per RPC, latency p50 / p99.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { MamoriClient } from '../../client-sdk/src/client';
import { normalizePan, withLuhnDigit } from '../../proto/ts/normalize';
import { oprfReady } from '../../proto/ts/oprf/group';
import { TprfEvaluator, blindPan, combineAnswers, dealSeeds, planEvaluation, requestFor, type EvaluationPlan } from '../../proto/ts/oprf/threshold';
import { sodiumReady } from '../../proto/ts/sodium';
import { panSelector } from '../../proto/ts/trust/domains';
import { randomBytes } from 'node:crypto';

const BINS = ['454545', '411111', '520000', '601100', '356600', '379999'];

function randomPan(i: number): string {
  const bin = BINS[i % BINS.length] as string;
  const body = randomBytes(9).reduce((s, b) => s + String(b % 10), '');
  return withLuhnDigit(bin + body);
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

async function startStandIn(): Promise<{ target: string; stop: () => void }> {
  const helper = path.resolve(__dirname, '../../test/helpers/tprf-stand-in.js');
  const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(helper)}).TprfStandIn.start().then((s) => console.log(s.target))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout }).once('line', resolve));
  return { target: line.trim(), stop: () => child.kill('SIGKILL') };
}

async function main(): Promise<void> {
  const pans = Number(process.argv[2] ?? 4000);
  await Promise.all([oprfReady(), sodiumReady()]);
  const rows: [string, string][] = [];

  // Library calls alone: blind, and combine + unblind + finalize of the minimal plan's answers.
  {
    const { description, shares } = dealSeeds(['a', 'b', 'c'], 2);
    const evaluators = new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)]));
    const plan = planEvaluation(description, description.evaluators) as EvaluationPlan & { ok: true };
    const cards = Array.from({ length: 2000 }, (_, i) => randomPan(i));
    let t = cpuMs();
    const batch = cards.map((p) => blindPan(p, p.slice(0, 6)));
    const blindUs = ((cpuMs() - t) * 1000) / cards.length;
    const answers = new Map([...plan.requests.keys()].map((id) => [id, (evaluators.get(id) as TprfEvaluator).evaluate(requestFor(plan, id, batch))]));
    t = cpuMs();
    combineAnswers(plan, batch, answers);
    const combineUs = ((cpuMs() - t) * 1000) / cards.length;
    rows.push(['library, CPU: blindPan (HashToGroup + 1 mult)', `${blindUs.toFixed(0)} µs/card`]);
    rows.push(['library, CPU: combineAnswers (check + sum + inverse + 1 mult + finalize)', `${combineUs.toFixed(0)} µs/card`]);
    t = cpuMs();
    const key = randomBytes(32);
    for (const p of cards) panSelector(key, (normalizePan(p) as { digits: string }).digits);
    rows.push(['for comparison: normalizePan + keyed-BLAKE2b panSelector (today’s selector), CPU', `${(((cpuMs() - t) * 1000) / cards.length).toFixed(1)} µs/card`]);
  }

  const node = await startStandIn();
  try {
    // Bulk first-seen: preEvaluate.
    {
      const client = MamoriClient.connect({ target: node.target, token: 'bench', mode: 'remote', selectors: { cacheSize: pans * 2 } });
      await client.panSelectors([randomPan(0)]); // parameters, warm-up
      const cards = Array.from({ length: pans }, (_, i) => randomPan(i));
      const cpu0 = cpuMs();
      const t0 = performance.now();
      await client.preEvaluate(cards, { batchSize: 1000, maxInFlight: 2 });
      const wall = performance.now() - t0;
      const cpu = cpuMs() - cpu0;
      rows.push([`first-seen, bulk (preEvaluate ${pans} cards, batches of 1,000): client CPU`, `${((cpu * 1000) / pans).toFixed(0)} µs/card`]);
      rows.push([`first-seen, bulk: rate with evaluators in one other process on this machine`, `${((pans / wall) * 1000).toFixed(0)} cards/s`]);

      // Cached, one at a time.
      const sample = cards.slice(0, 2000);
      const rpcs = client.stats().rpcs.total;
      const lat: number[] = [];
      const c1 = cpuMs();
      for (const p of sample) {
        const s = performance.now();
        await client.panSelectors([p]);
        lat.push((performance.now() - s) * 1000);
      }
      const cachedCpu = ((cpuMs() - c1) * 1000) / sample.length;
      lat.sort((a, b) => a - b);
      rows.push(['cached card, one call at a time: latency p50 / p99', `${percentile(lat, 0.5).toFixed(1)} / ${percentile(lat, 0.99).toFixed(1)} µs`]);
      rows.push(['cached card: client CPU per call', `${cachedCpu.toFixed(1)} µs`]);
      if (client.stats().rpcs.total !== rpcs) throw new Error('a cached card made an RPC');
      client.close();
    }

    // First-seen, one at a time (concurrency 1).
    {
      const client = MamoriClient.connect({ target: node.target, token: 'bench', mode: 'remote' });
      await client.panSelectors([randomPan(1)]);
      const n = 300;
      const lat: number[] = [];
      const c1 = cpuMs();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await client.panSelectors([randomPan(i)]);
        lat.push(performance.now() - s);
      }
      const cpu = ((cpuMs() - c1) * 1000) / n;
      lat.sort((a, b) => a - b);
      rows.push(['first-seen card, concurrency 1: latency p50 / p99 (one round to the stand-in)', `${percentile(lat, 0.5).toFixed(2)} / ${percentile(lat, 0.99).toFixed(2)} ms`]);
      rows.push(['first-seen card, concurrency 1: client CPU per call (incl. one gRPC call)', `${cpu.toFixed(0)} µs`]);
      client.close();
    }

    // 64 concurrent callers of first-seen cards.
    {
      const client = MamoriClient.connect({ target: node.target, token: 'bench', mode: 'remote' });
      await client.panSelectors([randomPan(2)]);
      const before = client.stats().rpcs.EvaluatePanSelectors;
      const perCaller = 20;
      const lat: number[] = [];
      const c1 = cpuMs();
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, async (_, c) => {
          for (let i = 0; i < perCaller; i++) {
            const s = performance.now();
            await client.panSelectors([randomPan(c * perCaller + i)]);
            lat.push(performance.now() - s);
          }
        }),
      );
      const wall = performance.now() - t0;
      const cpu = ((cpuMs() - c1) * 1000) / (64 * perCaller);
      const rpcs = client.stats().rpcs.EvaluatePanSelectors - before;
      lat.sort((a, b) => a - b);
      rows.push([`64 concurrent callers × ${perCaller} first-seen cards: EvaluatePanSelectors RPCs`, `${rpcs} (${((64 * perCaller) / rpcs).toFixed(1)} cards per RPC; largest ${client.stats().selectors.largestBatch})`]);
      rows.push(['64 concurrent: latency p50 / p99', `${percentile(lat, 0.5).toFixed(1)} / ${percentile(lat, 0.99).toFixed(1)} ms`]);
      rows.push(['64 concurrent: rate, client CPU per card', `${(((64 * perCaller) / wall) * 1000).toFixed(0)} cards/s, ${cpu.toFixed(0)} µs`]);
      client.close();
    }
  } finally {
    node.stop();
  }
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
