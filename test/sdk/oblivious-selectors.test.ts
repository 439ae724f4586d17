// Oblivious PAN selectors from the client's side: a real gRPC server on 127.0.0.1:0 stands in
// for the member's node (test/helpers/tprf-stand-in.ts: real TprfEvaluator instances from
// dealSeeds, t = 2 of n = 3, and the real planner), and the SDK blinds, checks, combines,
// unblinds, caches and coalesces.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { MamoriClient } from '../../client-sdk/src/client';
import { MamoriClientError } from '../../client-sdk/src/errors';
import type { ClientOptions } from '../../client-sdk/src/options';
import { fallbackResult } from '../../client-sdk/src/results';
import { scalarFromInt, scalarMult } from '../../proto/ts/oprf/group';
import { panForms, randomPan, randomPans } from '../helpers/cards';
import { TprfStandIn } from '../helpers/tprf-stand-in';
import { waitFor } from '../helpers/wait';
import { Clients, tcpProxy } from './helpers';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const BINS = ['454545', '411111', '520000', '601100'];
/** A wrong but valid group element: the answer times 2. */
const doubled = (point: Uint8Array): Uint8Array => scalarMult(scalarFromInt(2), point);

async function rejection(work: Promise<unknown>): Promise<MamoriClientError> {
  try {
    await work;
  } catch (error) {
    expect(error).to.be.instanceOf(MamoriClientError);
    return error as MamoriClientError;
  }
  throw new Error('expected a rejection');
}

describe('SDK: oblivious PAN selectors (threshold PRF, t = 2 of n = 3)', function () {
  this.timeout(60_000);
  let node: TprfStandIn;
  const clients = new Clients();
  const connect = (options: Partial<ClientOptions> = {}): MamoriClient => clients.connect({ target: node.target, token: 'test-token' }, { mode: 'remote', ...options });
  const selectorRpcs = (client: MamoriClient): number => client.stats().rpcs.EvaluatePanSelectors;

  beforeEach(async () => {
    node = await TprfStandIn.start();
  });
  afterEach(async () => {
    clients.closeAll();
    await node.close();
  });

  it('gives the selectors of the direct computation (binKey + evaluateDirect), for cards of several BINs', async () => {
    const client = connect();
    const pans = BINS.flatMap((bin) => randomPans(3, bin));
    const selectors = await client.panSelectors(pans);
    expect(selectors.map(hex)).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    expect(selectors.every((s) => s.length === 32)).to.equal(true);
    // One parameter fetch, then one evaluation; every card blinded under its 6-digit BIN.
    expect(node.served).to.deep.include({ parameterCalls: 1, evaluationCalls: 1, elements: pans.length });
    const evaluation = node.requests[1];
    expect(evaluation?.items.map((i) => i.bin)).to.deep.equal(pans.map((p) => p.slice(0, 6)));
    expect(evaluation?.items.every((i) => i.blinded.length === 32)).to.equal(true);
    expect(evaluation?.verify).to.equal(false);
    // A grouped form is the same card.
    const grouped = (panForms(pans[0] as string)[1]) as string;
    expect(hex((await client.panSelectors([grouped]))[0] as Buffer)).to.equal(node.expectedSelector(pans[0] as string));
  });

  it('uses the BIN length the node states (8 digits)', async () => {
    await node.close();
    node = await TprfStandIn.start({ binDigits: 8 });
    const client = connect();
    const pans = randomPans(4, '45454545');
    expect((await client.panSelectors(pans)).map(hex)).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    expect(node.requests[1]?.items.map((i) => i.bin)).to.deep.equal(pans.map((p) => p.slice(0, 8)));
  });

  it('answers a cached card without any RPC', async () => {
    const client = connect();
    const pans = randomPans(5);
    const first = await client.panSelectors(pans);
    const rpcs = client.stats().rpcs.total;
    const served = { ...node.served };
    const again = await client.panSelectors([...pans].reverse());
    expect(again.map(hex)).to.deep.equal([...first].reverse().map(hex));
    expect(client.stats().rpcs.total).to.equal(rpcs);
    expect(node.served).to.deep.equal(served);
    expect(client.stats().selectors).to.deep.include({ requested: 10, cached: 5, evaluated: 5 });
    expect(client.stats().selectors.cache).to.deep.include({ size: 5, hits: 5 });
  });

  it('sends 64 concurrent first-seen cards in one EvaluatePanSelectors call', async () => {
    const client = connect();
    await client.panSelectors([randomPan()]); // parameters loaded, so only evaluations are counted below
    const before = { calls: node.served.evaluationCalls, rpcs: selectorRpcs(client) };
    const pans = randomPans(64, '411111');
    const results = await Promise.all(pans.map((p) => client.panSelectors([p])));
    expect(results.map((r) => hex(r[0] as Buffer))).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    expect(node.served.evaluationCalls - before.calls, 'evaluation calls served').to.equal(1);
    expect(selectorRpcs(client) - before.rpcs, 'EvaluatePanSelectors RPCs sent').to.equal(1);
    expect(client.stats().selectors.largestBatch).to.equal(64);
  });

  it('evaluates a card requested concurrently only once, within a turn and across turns', async () => {
    const client = connect();
    const pan = randomPan();
    const same = await Promise.all(Array.from({ length: 20 }, () => client.panSelectors([pan, pan])));
    expect(new Set(same.flat().map(hex))).to.deep.equal(new Set([node.expectedSelector(pan)]));
    expect(node.served.elements).to.equal(1);

    // Across turns: the second caller arrives while the first evaluation is at the node.
    let release!: () => void;
    node.hold = new Promise((resolve) => (release = resolve));
    const other = randomPan('520000');
    const first = client.panSelectors([other]);
    await waitFor(() => node.requests.length === 3, 'the evaluation to reach the node');
    const second = client.panSelectors([other]);
    release();
    node.hold = undefined;
    const [a, b] = await Promise.all([first, second]);
    expect(hex(a[0] as Buffer)).to.equal(hex(b[0] as Buffer));
    expect(node.served.elements).to.equal(2);
    expect(client.stats().selectors.joined).to.be.at.least(1);
  });

  it('an evaluator answering with something that is not a group element: found faulty, asked again with verify and without it, right selectors, counted', async () => {
    const client = connect();
    const pans = randomPans(6);
    const bad = node.description.evaluators[0] as string; // in the minimal plan, which takes the first t
    node.tamper = (id, _e, _g, point) => (id === bad ? new Uint8Array(32).fill(0xff) : point);
    const selectors = await client.panSelectors(pans);
    expect(selectors.map(hex)).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    const [, firstTry, retry] = node.requests;
    expect(firstTry).to.deep.include({ verify: false, exclude: [] });
    expect(retry).to.deep.include({ verify: true, exclude: [bad] });
    const stats = client.stats().selectors.evaluation;
    expect(stats.faulty).to.deep.equal({ [bad]: pans.length });
    expect(stats).to.deep.include({ rounds: 2, retried: pans.length, failed: 0 });
  });

  it('with verify, an evaluator answering valid but wrong elements is named faulty in the first round and left out', async () => {
    const client = connect({ selectors: { verify: true } });
    const pans = randomPans(5, '601100');
    const bad = node.description.evaluators[1] as string;
    node.tamper = (id, _e, _g, point) => (id === bad ? doubled(point) : point);
    const selectors = await client.panSelectors(pans);
    expect(selectors.map(hex)).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    expect(node.served.evaluationCalls).to.equal(1);
    expect(node.requests[1]).to.deep.include({ verify: true });
    expect(client.stats().selectors.evaluation.faulty).to.deep.equal({ [bad]: pans.length });
  });

  it('an evaluator wrong on one seed only: disputed, asked again, still disputed → UNAVAILABLE for that card only', async () => {
    const logs: string[] = [];
    const client = connect({ selectors: { verify: true }, log: (m) => logs.push(m) });
    const target = randomPan('411111');
    const others = randomPans(2, '454545');
    const bad = node.description.evaluators[0] as string;
    node.tamper = (id, _e, g, point, bin) => (id === bad && bin === '411111' && g === 0 ? doubled(point) : point);
    const error = await rejection(client.panSelectors([target]));
    expect(error.code).to.equal('UNAVAILABLE');
    expect(error.retryable).to.equal(true);
    expect(error.degradable).to.equal(true);
    expect(error.message).to.match(/conflict/).and.include(bad);
    const stats = client.stats().selectors.evaluation;
    expect(stats.disputed[bad]).to.equal(2);
    expect(stats).to.deep.include({ retried: 1, failed: 1 });
    expect(node.requests.slice(1).map((r) => r.verify)).to.deep.equal([true, true]);
    expect(logs.some((l) => l.includes('still without a selector'))).to.equal(true);
    // The other cards of the same batch are unaffected.
    const results = await Promise.allSettled([others[0], target, others[1]].map((p) => client.panSelectors([p as string])));
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(node.requests.at(-2)?.items).to.have.length(3);
  });

  it('fewer than t evaluators: UNAVAILABLE (retryable, degradable), so a check answers by the fail mode; a budget refusal is RESOURCE_EXHAUSTED', async () => {
    const [a, b] = node.description.evaluators as [string, string, string];
    node.down.add(a).add(b);
    for (const failMode of ['open', 'closed'] as const) {
      const client = connect({ failMode });
      const error = await rejection(client.panSelectors([randomPan()]));
      expect(error.code).to.equal('UNAVAILABLE');
      expect(error).to.deep.include({ retryable: true, degradable: true });
      expect(error.message).to.include('need answers from 2 of 3 evaluators');
      // What a check does with such an error (client.ts degraded()): the fail mode's answer.
      expect(fallbackResult(client.options.failMode, error.code as 'UNAVAILABLE')).to.deep.include({ action: failMode === 'open' ? 'approve' : 'review', degraded: true, source: 'fallback' });
    }
    // One evaluator down, t still reachable: answers.
    node.down.delete(b);
    const pan = randomPan();
    expect(hex((await connect().panSelectors([pan]))[0] as Buffer)).to.equal(node.expectedSelector(pan));

    node.refusal = { evaluator: b, code: 'RESOURCE_EXHAUSTED', message: 'budget acquirer-b/454545/hour exhausted' };
    const refused = await rejection(connect().panSelectors([randomPan()]));
    expect(refused.code).to.equal('RESOURCE_EXHAUSTED');
    expect(refused.retryable).to.equal(true);
    expect(refused.message).to.include('budget acquirer-b/454545/hour exhausted');

    // The node itself unreachable, and an answer that does not come within the budget.
    node.refusal = undefined;
    node.failure = { code: grpc.status.UNAVAILABLE, details: 'no peer connection', times: 1 };
    expect((await rejection(connect().panSelectors([randomPan()]))).code).to.equal('UNAVAILABLE');
    node.hold = new Promise(() => undefined);
    const started = Date.now();
    const late = await rejection(connect().panSelectors([randomPan()], { deadlineMs: 200 }));
    // The stand-in never answers, so only the call's own deadline can end it (a hang ends at
    // mocha's timeout instead); no upper wall-clock bound, which a busy machine would break.
    expect(late.code).to.equal('DEADLINE_EXCEEDED');
    expect(Date.now() - started, 'waited for the deadline').to.be.at.least(150);
    node.hold = undefined;
  });

  it('refuses bad card input by argument and position before any I/O', async () => {
    const client = connect();
    const good = randomPan();
    const bad = `${good.slice(0, -1)}${(Number(good.slice(-1)) + 1) % 10}`;
    const luhn = await rejection(client.panSelectors([good, bad]));
    expect(luhn).to.deep.include({ code: 'INVALID_PAN', message: 'pans[1]: card number fails the Luhn check digit' });
    expect(luhn.message).to.not.include(bad);
    expect((await rejection(client.panSelectors(['4545 45xx']))).message).to.equal('pans[0]: card number contains characters other than digits, spaces and dashes');
    expect((await rejection(client.panSelectors([42 as unknown as string]))).message).to.equal('pans[0]: card number is not a string (number)');
    expect((await rejection(client.panSelectors('4545454545454545' as unknown as string[]))).message).to.equal('pans: expected an array of card numbers');
    expect((await rejection(client.panSelectors([good], { deadlineMs: 0 }))).message).to.match(/^deadlineMs: /);
    expect((await rejection(client.preEvaluate([good, '12']))).message).to.equal('pans[1]: card number is too short: 2 digits (a card number has 12 to 19)');
    expect((await rejection(client.preEvaluate([good], { batchSize: 20_000 }))).message).to.match(/^options\.batchSize: /);
    expect(client.stats().rpcs.total, 'RPCs sent').to.equal(0);
    expect(client.stats().invalidPans).to.equal(4);
    expect(() => connect({ selectors: { cacheSize: -1 } })).to.throw(MamoriClientError, /^options\.selectors\.cacheSize: /);
    expect(() => connect({ selectors: { cacheKey: 'abc' } })).to.throw(MamoriClientError, /^options\.selectors\.cacheKey: expected 32 bytes/);
  });

  it('no card number in the requests (as serialized, and on the wire) nor in the exported cache', async () => {
    const proxy = await tcpProxy(node.target);
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-selector-cache-'));
      const client = clients.connect({ target: proxy.target, token: 'test-token' }, { mode: 'remote' });
      const pans = BINS.flatMap((bin) => randomPans(25, bin));
      node.tamper = (id, e, _g, point) => (id === node.description.evaluators[0] && e === 3 ? new Uint8Array(32).fill(0xff) : point); // a retry too
      await client.panSelectors(pans);
      await client.preEvaluate(randomPans(30));
      const file = path.join(dir, 'selectors.json');
      client.saveSelectorCache(file);
      const exported = client.exportSelectorCache();
      const saved = fs.readFileSync(file);
      expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
      expect(node.rawRequests.length).to.be.at.least(3);
      const wire = proxy.bytes();
      expect(wire.length).to.be.greaterThan(5_000);
      const leaks = (bytes: Buffer): string[] =>
        pans.filter((pan) => [...panForms(pan), pan.slice(6)].some((form) => bytes.includes(Buffer.from(form, 'latin1')) || bytes.includes(Buffer.from(form, 'utf16le'))));
      expect(leaks(Buffer.concat(node.rawRequests)), 'in the serialized requests').to.deep.equal([]);
      expect(leaks(wire), 'on the wire').to.deep.equal([]);
      expect(leaks(Buffer.from(exported)), 'in the exported cache').to.deep.equal([]);
      expect(leaks(saved), 'in the saved cache').to.deep.equal([]);
      // The search sees a number that is there: the BIN, which is sent on purpose.
      expect(Buffer.concat(node.rawRequests).includes(Buffer.from(BINS[1] as string))).to.equal(true);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      await proxy.close();
    }
  });

  it('exports and imports the cache under the member’s key; another key is refused', async () => {
    const cacheKey = 'a1'.repeat(32);
    const first = connect({ selectors: { cacheKey } });
    const pans = randomPans(20);
    const selectors = (await first.panSelectors(pans)).map(hex);
    const exported = first.exportSelectorCache();
    expect(JSON.parse(exported)).to.include({ format: 'mamori-selector-cache-v2', setId: node.description.setId });

    const second = connect({ selectors: { cacheKey: Buffer.from(cacheKey, 'hex') } });
    expect(second.importSelectorCache(exported)).to.deep.equal({ imported: 20, skipped: 0 });
    expect((await second.panSelectors(pans)).map(hex)).to.deep.equal(selectors);
    expect(second.stats().rpcs.total, 'imported cards need no RPC').to.equal(0);

    const stranger = connect();
    const refused = (() => {
      try {
        stranger.importSelectorCache(exported);
      } catch (error) {
        return error as MamoriClientError;
      }
      return undefined;
    })();
    expect(refused).to.deep.include({ code: 'INVALID_ARGUMENT', message: 'selector cache: written under another cache key (options.selectors.cacheKey)' });
  });

  it('a new dealing (new set_id) empties the cache; a changed BIN length is picked up after the node refuses', async () => {
    const logs: string[] = [];
    const client = connect({ log: (m) => logs.push(m) });
    const pans = randomPans(4);
    const before = (await client.panSelectors(pans)).map(hex);
    node.deal();
    const fresh = randomPan();
    expect(hex((await client.panSelectors([fresh]))[0] as Buffer)).to.equal(node.expectedSelector(fresh));
    expect(client.stats().selectors.setId).to.equal(node.description.setId);
    expect(client.stats().selectors.cache).to.deep.include({ size: 1, invalidated: 4 });
    const after = (await client.panSelectors(pans)).map(hex);
    expect(after).to.deep.equal(pans.map((p) => node.expectedSelector(p)));
    expect(after).to.not.deep.include(before[0]);
    expect(logs.some((l) => l.includes('dealing changed'))).to.equal(true);

    // The consortium moves to 8-digit BINs and a new set: the node refuses 6-digit BINs; the client asks for the parameters again.
    node.deal();
    node.binDigits = 8;
    const eight = randomPan('45454545');
    expect(hex((await client.panSelectors([eight]))[0] as Buffer)).to.equal(node.expectedSelector(eight));
    expect(node.requests.at(-1)?.items[0]?.bin).to.equal('45454545');
  });

  it('pre-evaluates a card base in batches with progress; afterwards the cards need no RPC', async () => {
    const client = connect({ selectors: { cacheSize: 5000 } });
    const base = [...BINS.flatMap((bin) => randomPans(300, bin))];
    const progress: number[] = [];
    async function* cards(): AsyncGenerator<string> {
      for (const pan of base) yield pan;
    }
    const result = await client.preEvaluate(cards(), { batchSize: 500, maxInFlight: 2, onProgress: (p) => progress.push(p.done) });
    expect(result).to.deep.include({ done: 1200, evaluated: 1200, seen: 1200, cacheSize: 1200 });
    expect(progress.sort((x, y) => x - y)).to.deep.equal([500, 1000, 1200]);
    expect(node.served.elements).to.equal(1200);
    expect(Math.max(...node.requests.map((r) => r.items.length))).to.equal(500);
    const rpcs = client.stats().rpcs.total;
    const sample = [base[0], base[599], base[1199]] as string[];
    expect((await client.panSelectors(sample)).map(hex)).to.deep.equal(sample.map((p) => node.expectedSelector(p)));
    expect(client.stats().rpcs.total).to.equal(rpcs);
    // A second run finds everything cached.
    expect(await client.preEvaluate(base)).to.deep.include({ done: 1200, evaluated: 0 });
  });
});
