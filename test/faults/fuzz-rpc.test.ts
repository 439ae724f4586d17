// Thousands of random, malformed, truncated, oversize, unauthenticated and deadline-less
// requests on every RPC of Exchange and Replication, against a real `mamori start` process:
// every call ends with an expected status (never INTERNAL or UNKNOWN), the process stays up,
// the ledger grows only by the writes the node acknowledged, its memory stays bounded, and no
// card-number-looking string the fuzzer sent reaches its log.
// MAMORI_FUZZ_CASES sets the number of cases (default 5,000); MAMORI_FUZZ_SEED replays a run.
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { readClientConfig } from '../../client-sdk/src/config';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { editNodeConfig } from '../helpers/consortium-harness';
import { mamoriMethods, rawCallOf, type CallResult, type FuzzMethod } from '../helpers/fuzz-client';
import { allowedOutcomes, describeCase, makeCase, type FuzzCase } from '../helpers/fuzz-cases';
import { mamoriProtoRoot, PanLikeStrings } from '../helpers/fuzz-proto';
import { bearer, makeConsortium, memberOf, spawnNode, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { memberTlsTarget } from '../helpers/ops';
import { panForms } from '../helpers/cards';
import { waitForSteadyRss } from '../helpers/fuzz-process';

const CASES = Number(process.env.MAMORI_FUZZ_CASES ?? 5000);
const SEED = Number(process.env.MAMORI_FUZZ_SEED ?? crypto.randomInt(2 ** 31));
const CONCURRENCY = 16;
const MiB = 1024 * 1024;
/**
 * RSS growth allowed over the run. A MirrorFilter case copies the 3.6 MB filter and oversize
 * cases pass 8 MB buffers through the HTTP/2 layer; V8 keeps freed heap pages for a while. A
 * leak of the size that matters here (per-call state never released) grows with the cases.
 */
const RSS_GROWTH_BOUND = 256 * MiB;

describe('faults: a fuzzer over every RPC of Exchange and Replication', function () {
  let layout: DevConsortiumLayout;
  let node: NodeProcess;
  let exchange: grpc.Client;
  let replication: grpc.Client;
  let token: string;
  let methods: FuzzMethod[];

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    // Debug logging: every log line a request could reach is searched for the card numbers sent.
    // Peer rate limits out of the way, so a valid Heads or Fetch is answered OK however fast the fuzzer goes
    // (and OfferConsortium's garbage reaches the intake rather than the limit).
    editNodeConfig(layout, 'psp-c', (c) => Object.assign(c, { logLevel: 'debug', limits: { rates: { fetches: { perSecond: 1e6, burst: 1e7 }, heads: { perSecond: 1e6, burst: 1e7 }, consortium: { perSecond: 1e6, burst: 1e7 } } } }));
    const m = memberOf(layout, 'psp-c');
    node = spawnNode(m.nodeConfig, path.join(layout.dir, 'psp-c', 'node.log'));
    await waitUntilServing(m.clientConfig);
    const client = readClientConfig(m.clientConfig);
    token = client.token;
    exchange = new grpc.Client(client.target, grpc.credentials.createInsecure());
    const config = JSON.parse(fs.readFileSync(m.nodeConfig, 'utf8')) as { peerListen: string };
    const peer = memberTlsTarget(layout, 'acquirer-b', config.peerListen);
    replication = new grpc.Client(peer.target, peer.credentials, peer.options);
    methods = mamoriMethods();
  });

  after(async () => {
    exchange?.close();
    replication?.close();
    if (node && node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  const status = async (): Promise<StatusResponse__Output> => {
    const statusMethod = methods.find((m) => m.path === '/mamori.v1.Exchange/Status') as FuzzMethod;
    const result = await rawCallOf(exchange, statusMethod, Buffer.alloc(0), { metadata: bearer(token), deadline: Date.now() + 30_000, streamCancelMs: 0 });
    if (result.outcome !== 'OK') throw new Error(`Status: ${result.outcome} ${result.details}`);
    return result.response as StatusResponse__Output;
  };

  it('covers every method of both services, ends every call with an expected status, and leaves the node up, its ledger and log clean', async () => {
    console.log(`      fuzz seed ${SEED} (MAMORI_FUZZ_SEED=${SEED} replays), ${CASES} cases, ${methods.length} methods: ${methods.map((m) => m.path).join(' ')}`);
    expect(methods.map((m) => m.service)).to.include.members(['mamori.v1.Exchange', 'mamori.v1.Replication']);
    const root = mamoriProtoRoot();
    const pans = new PanLikeStrings();
    const maxMessageBytes = (JSON.parse(fs.readFileSync(memberOf(layout, 'psp-c').nodeConfig, 'utf8')) as { maxMessageBytes: number }).maxMessageBytes;
    const factory = { seed: SEED, methods, root, pans, maxMessageBytes };

    const run = async (c: FuzzCase): Promise<CallResult> => {
      const client = c.method.service.endsWith('.Replication') ? replication : exchange;
      const metadata = c.token ? bearer(token) : new grpc.Metadata();
      return rawCallOf(client, c.method, c.request, { metadata, deadline: c.deadline ? Date.now() + 20_000 : undefined, streamCancelMs: 1500 });
    };

    // Warm-up: the node's caches, JIT and SQLite pages, so the RSS baseline is not its cold start.
    for (let i = 0; i < 100; i++) await run({ ...makeCase(i, factory), kind: 'valid' } as FuzzCase);
    const before = await status();
    const rssBefore = await waitForSteadyRss(node.child.pid as number);

    const histogram = new Map<string, Map<string, number>>();
    const perMethod = new Map<string, number>();
    const unexpected: string[] = [];
    let writes = 0;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < CASES; i = next++) {
        const c = makeCase(i, factory);
        const result = await run(c);
        const byOutcome = histogram.get(c.kind) ?? new Map<string, number>();
        byOutcome.set(result.outcome, (byOutcome.get(result.outcome) ?? 0) + 1);
        histogram.set(c.kind, byOutcome);
        perMethod.set(c.method.name, (perMethod.get(c.method.name) ?? 0) + 1);
        // Every acknowledged write (Publish, Retract, ReportCardTesting) names the seq it created.
        const seq = (result.response as { seq?: unknown } | undefined)?.seq;
        if (result.outcome === 'OK' && typeof seq === 'number' && seq > 0) writes++;
        if (!allowedOutcomes(c).includes(result.outcome)) unexpected.push(`${result.outcome} "${result.details}" for ${describeCase(c)}`);
        if (node.child.exitCode !== null || node.child.signalCode !== null) throw new Error(`the node exited after ${describeCase(c)}`);
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (Date.now() - t0) / 1000;

    const rssAfter = await waitForSteadyRss(node.child.pid as number);
    const after = await status();
    console.log(`      ${CASES} cases in ${seconds.toFixed(1)} s; per method ${JSON.stringify(Object.fromEntries(perMethod))}`);
    for (const [kind, byOutcome] of [...histogram].sort()) console.log(`      ${kind.padEnd(13)} ${JSON.stringify(Object.fromEntries([...byOutcome].sort((a, b) => b[1] - a[1])))}`);
    console.log(`      node RSS ${(rssBefore / MiB).toFixed(1)} MB before, ${(rssAfter / MiB).toFixed(1)} MB after; ${writes} acknowledged writes; entries ${before.entries} -> ${after.entries}`);
    for (const line of unexpected.slice(0, 30)) console.log(`      UNEXPECTED ${line}`);

    expect(unexpected, `${unexpected.length} calls ended with an unexpected status`).to.deep.equal([]);
    expect(node.child.exitCode, 'the node process is still running').to.equal(null);
    expect(node.child.signalCode).to.equal(null);
    expect(after.entries, 'the ledger grew by exactly the acknowledged writes').to.equal(before.entries + writes);
    expect(after.ownFeed?.seq).to.equal((before.ownFeed?.seq ?? 0) + writes);
    expect(rssAfter - rssBefore, 'RSS growth').to.be.below(RSS_GROWTH_BOUND);
    for (const m of methods) expect(perMethod.get(m.name) ?? 0, `${m.path} fuzzed`).to.be.greaterThan(0);

    // The node still answers a real check after all that.
    const check = methods.find((m) => m.path === '/mamori.v1.Exchange/Check') as FuzzMethod;
    const ok = await rawCallOf(exchange, check, Buffer.from(root.lookupType('mamori.v1.CheckRequest').encode({ selectors: [{ type: 1, digest: crypto.randomBytes(32) }] }).finish()), {
      metadata: bearer(token),
      deadline: Date.now() + 30_000,
      streamCancelMs: 0,
    });
    expect(ok.outcome).to.equal('OK');

    // Pino writes asynchronously: stop the node so its log is complete, then search it.
    node.child.kill('SIGTERM');
    expect((await node.exited).code, 'clean shutdown after the fuzzing').to.equal(0);
    const log = fs.readFileSync(node.logFile, 'utf8');
    const leaked = [...pans.sent].filter((pan) => panForms(pan).some((form) => log.includes(form)));
    console.log(`      ${pans.sent.size} card-number-looking strings sent; ${leaked.length} found in the node log ${node.logFile} (${(log.length / 1024).toFixed(0)} KiB)`);
    for (const pan of leaked.slice(0, 5)) {
      const line = log.split('\n').find((l) => panForms(pan).some((form) => l.includes(form))) ?? '';
      console.log(`      LEAK in: ${panForms(pan).reduce((text, form) => text.split(form).join('<PAN>'), line).slice(0, 400)}`);
    }
    expect(leaked.length, 'card-number-looking strings from requests in the node log').to.equal(0);
  });
});
