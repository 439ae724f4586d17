// Cost of the threshold PRF for PAN selectors (docs/oprf.md), on this machine, in one process:
// group operations (libsodium-wrappers-sumo, and @noble/curves when installed), client and
// evaluator CPU per PAN, and an end-to-end evaluation of many PANs for n = 3, t = 2.
//   npm run build --silent && node dist/scripts/bench/oprf.js [PANS=100000]
import { randomBytes, randomInt } from 'node:crypto';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { expandMessageXmd, hashToGroup, oprfReady, randomScalar, scalarMult, scalarMultBase, utf8, sumo } from '../../proto/ts/oprf/group';
import {
  TPRF_CONTEXT,
  TPRF_MAX_BATCH,
  TprfEvaluator,
  blindPan,
  combineAnswers,
  combineShamir,
  dealSeeds,
  planEvaluation,
  requestFor,
  type BlindedPan,
  type EvaluationPlan,
} from '../../proto/ts/oprf/threshold';

const now = () => process.hrtime.bigint();
const usSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e3;
const line = (label: string, value: string) => console.log(`${label.padEnd(64)} ${value}`);
const fmt = (x: number, digits = 1) => x.toFixed(digits);

function perOp(iterations: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) fn(i); // warm-up
  const t0 = now();
  for (let i = 0; i < iterations; i++) fn(i);
  return usSince(t0) / iterations;
}

const BINS = ['411111', '422222', '52545612', '601100', '353011', '372222'];
function randomPans(count: number): { pan: string; bin: string }[] {
  return Array.from({ length: count }, () => {
    const bin = BINS[randomInt(BINS.length)];
    let body = '';
    while (body.length < 15 - bin.length) body += String(randomInt(10));
    return { pan: withLuhnDigit(bin + body), bin };
  });
}

function noble(): { multiply: () => void; hash: (msg: Uint8Array) => void } | undefined {
  try {
    // ESM-only package, loaded through Node's require(esm); a devDependency used only here.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = require('@noble/curves/ed25519.js') as {
      ristretto255: { Point: { BASE: { multiply(k: bigint): { toBytes(): Uint8Array } } } };
      ristretto255_hasher: { hashToCurve(msg: Uint8Array, options: { DST: string }): { toBytes(): Uint8Array } };
    };
    const P = m.ristretto255_hasher.hashToCurve(utf8('noble'), { DST: 'bench' }) as unknown as { multiply(k: bigint): { toBytes(): Uint8Array } };
    const k = BigInt(`0x${Buffer.from(randomBytes(31)).toString('hex')}`);
    return {
      multiply: () => P.multiply(k).toBytes(),
      hash: (msg) => m.ristretto255_hasher.hashToCurve(msg, { DST: `HashToGroup-${TPRF_CONTEXT}` }).toBytes(),
    };
  } catch {
    return undefined;
  }
}

interface RunFigures {
  pans: number;
  seconds: number;
  clientBlindUs: number;
  clientCombineUs: number;
  evaluatorUs: Map<string, number>;
  ok: number;
}

function endToEnd(plan: EvaluationPlan, evaluators: Map<string, TprfEvaluator>, pans: { pan: string; bin: string }[]): RunFigures {
  let clientBlind = 0n;
  let clientCombine = 0n;
  const evaluatorTime = new Map<string, bigint>([...plan.requests.keys()].map((id) => [id, 0n]));
  let ok = 0;
  const t0 = now();
  for (let start = 0; start < pans.length; start += TPRF_MAX_BATCH) {
    const slice = pans.slice(start, start + TPRF_MAX_BATCH);
    let t = now();
    const batch: BlindedPan[] = slice.map((p) => blindPan(p.pan, p.bin));
    clientBlind += now() - t;
    const answers = new Map<string, Uint8Array[][]>();
    for (const id of plan.requests.keys()) {
      t = now();
      answers.set(id, (evaluators.get(id) as TprfEvaluator).evaluate(requestFor(plan, id, batch)));
      evaluatorTime.set(id, (evaluatorTime.get(id) as bigint) + (now() - t));
    }
    t = now();
    const result = combineAnswers(plan, batch, answers);
    clientCombine += now() - t;
    ok += result.results.filter((r) => r.status === 'ok').length;
  }
  const seconds = Number(now() - t0) / 1e9;
  return {
    pans: pans.length,
    seconds,
    clientBlindUs: Number(clientBlind) / 1e3 / pans.length,
    clientCombineUs: Number(clientCombine) / 1e3 / pans.length,
    evaluatorUs: new Map([...evaluatorTime].map(([id, ns]) => [id, Number(ns) / 1e3 / pans.length])),
    ok,
  };
}

function report(title: string, plan: EvaluationPlan, f: RunFigures): void {
  console.log(`\n${title}`);
  line('  evaluators asked', `${plan.requests.size} (${[...plan.requests.values()].map((g) => g.length).join(' + ')} groups)`);
  line('  scalar multiplications per PAN: client / evaluators (total)', `2 / ${plan.evaluatorMults}`);
  line('  answers verified', plan.verifiable ? 'yes (every seed from two holders)' : 'no');
  line('  client CPU per PAN: hash + blind', `${fmt(f.clientBlindUs)} µs`);
  line('  client CPU per PAN: check + combine + unblind + finalize', `${fmt(f.clientCombineUs)} µs`);
  for (const [id, us] of f.evaluatorUs) line(`  evaluator ${id} CPU per PAN`, `${fmt(us)} µs`);
  line(`  end to end, ${f.pans} PANs, one process`, `${fmt(f.seconds, 2)} s = ${fmt(f.pans / f.seconds, 0)} PANs/s (${f.ok} selectors)`);
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? process.env.PANS ?? 100_000);
  await oprfReady();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wrappersVersion = (require('libsodium-wrappers-sumo/package.json') as { version: string }).version;
  console.log(`Threshold PRF benchmark (node ${process.version}, libsodium-wrappers-sumo ${wrappersVersion}, libsodium ${sumo().sodium_version_string()})`);

  console.log('\nGroup operations (ristretto255)');
  const P = hashToGroup(utf8('bench'), utf8('bench'));
  const scalars = Array.from({ length: 64 }, () => randomScalar());
  line('  libsodium-sumo crypto_scalarmult_ristretto255', `${fmt(perOp(3000, (i) => scalarMult(scalars[i & 63], P)))} µs`);
  line('  libsodium-sumo crypto_scalarmult_ristretto255_base', `${fmt(perOp(3000, (i) => scalarMultBase(scalars[i & 63])))} µs`);
  const wide = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(64)));
  line('  libsodium-sumo crypto_core_ristretto255_from_hash alone', `${fmt(perOp(5000, (i) => sumo().crypto_core_ristretto255_from_hash(wide[i & 63])))} µs`);
  const dst = utf8(`HashToGroup-${TPRF_CONTEXT}`);
  const inputs = randomPans(64).map((p) => utf8(p.pan));
  line('  expand_message_xmd(SHA-512, 64 bytes)', `${fmt(perOp(20000, (i) => expandMessageXmd(inputs[i & 63], dst, 64)))} µs`);
  line('  HashToGroup = expand_message_xmd + from_hash', `${fmt(perOp(5000, (i) => hashToGroup(inputs[i & 63], dst)))} µs`);
  const n = noble();
  if (n) {
    line('  @noble/curves ristretto255 Point.multiply', `${fmt(perOp(300, () => n.multiply()))} µs`);
    line('  @noble/curves ristretto255_hasher.hashToCurve', `${fmt(perOp(1000, (i) => n.hash(inputs[i & 63])))} µs`);
  } else {
    line('  @noble/curves', 'not installed: skipped');
  }

  const { description, shares } = dealSeeds(['member-a', 'member-b', 'member-c'], 2);
  const evaluators = new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)]));
  const plans = {
    minimal: planEvaluation(description, description.evaluators),
    spread: planEvaluation(description, description.evaluators, { spread: 'all' }),
    verify: planEvaluation(description, description.evaluators, { verify: true }),
  };
  for (const p of Object.values(plans)) if (!p.ok) throw new Error(p.reason);
  const ok = (p: (typeof plans)['minimal']) => p as EvaluationPlan;

  console.log('\nn = 3, t = 2: scalar multiplications per PAN by plan (evaluator side, total)');
  line('  2 evaluators, one group each (minimal plan)', `${ok(plans.minimal).evaluatorMults}`);
  line('  2 evaluators, every held seed answered separately', `${2 * 2} (1 of 3 seeds checked)`);
  line('  3 evaluators, one group each (spread plan)', `${ok(plans.spread).evaluatorMults}`);
  line('  3 evaluators, every seed from two holders (verifying plan)', `${ok(plans.verify).evaluatorMults}`);
  line('  Shamir mode, t answers / t + 1 answers', `${description.t} / ${description.t + 1} (client: 1 + t / 1 + 2t)`);

  report(`End to end, n = 3, t = 2, minimal plan`, ok(plans.minimal), endToEnd(ok(plans.minimal), evaluators, randomPans(count)));
  const smaller = Math.max(1000, Math.floor(count / 10));
  report(`End to end, n = 3, t = 2, spread plan`, ok(plans.spread), endToEnd(ok(plans.spread), evaluators, randomPans(smaller)));
  report(`End to end, n = 3, t = 2, verifying plan`, ok(plans.verify), endToEnd(ok(plans.verify), evaluators, randomPans(smaller)));

  // Shamir mode, t + 1 = 3 answers (verified), smaller run.
  const pans = randomPans(smaller);
  let evalTime = 0n;
  let clientTime = 0n;
  const t0 = now();
  for (let start = 0; start < pans.length; start += TPRF_MAX_BATCH) {
    let t = now();
    const batch = pans.slice(start, start + TPRF_MAX_BATCH).map((p) => blindPan(p.pan, p.bin));
    clientTime += now() - t;
    const answers = new Map<string, Uint8Array[]>();
    t = now();
    for (const [id, evaluator] of evaluators) answers.set(id, evaluator.evaluateShamir({ bins: batch.map((b) => b.bin), blindedElements: batch.map((b) => b.blindedElement) }));
    evalTime += now() - t;
    t = now();
    combineShamir(description, batch, answers);
    clientTime += now() - t;
  }
  const seconds = Number(now() - t0) / 1e9;
  console.log('\nEnd to end, n = 3, t = 2, Shamir mode, 3 answers (verified)');
  line('  scalar multiplications per PAN: client / evaluators', `${1 + 2 * description.t} / 3`);
  line('  client CPU per PAN (blind + Lagrange with unblinding + check + finalize)', `${fmt(Number(clientTime) / 1e3 / pans.length)} µs`);
  line('  evaluator CPU per PAN, each', `${fmt(Number(evalTime) / 1e3 / pans.length / 3)} µs`);
  line(`  end to end, ${pans.length} PANs, one process`, `${fmt(seconds, 2)} s = ${fmt(pans.length / seconds, 0)} PANs/s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
