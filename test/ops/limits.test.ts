// Resource and rate limits on a real node (gRPC server in this process): the deadline rule,
// check and publication rates per client token (RESOURCE_EXHAUSTED, then allowed again after
// refill), nothing stored for a refused publication, the enumeration warning (never naming a
// selector or a card), and the concurrent-streams limit.
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import type { CardListingDetails } from '../../client-sdk/src/details';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { tokenDigest } from '../../node/src/crypto/epochs';
import { nodeConfigSchema } from '../../node/src/config/schemas';
import { LIMITS } from '../../node/src/ledger/limits';
import { createNodeMetrics } from '../../node/src/metrics/node-metrics';
import { EnumerationDetector } from '../../node/src/rpc/enumeration';
import { limitsOf } from '../../node/src/rpc/limits';
import { RateLimiter } from '../../node/src/rpc/rate-limit';
import { NodeEvents } from '../../node/src/metrics/observer';
import { metricsSources } from '../../node/src/runtime/ports';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import { bearer, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { grpcError } from '../helpers/ops';

const randomSelectors = (n: number) => Array.from({ length: n }, () => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: crypto.randomBytes(32) }));

describe('operations: resource and rate limits', function () {
  let layout: DevConsortiumLayout;
  let limited: InProcessNode; // small check and publication rates
  let watched: InProcessNode; // default rates, a small enumeration threshold
  let stub: ExchangeClient;
  let watchedStub: ExchangeClient;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    limited = await startInProcessNode(layout, 'psp-c', {
      limits: { maxConcurrentStreams: 2, rates: { checks: { perSecond: 40, burst: 20 }, publications: { perSecond: 10, burst: 25 } } },
    });
    watched = await startInProcessNode(layout, 'issuer-a', { limits: { enumeration: { distinctSelectors: 50, windowMs: 60_000 } } });
    stub = rawExchange(limited.target);
    watchedStub = rawExchange(watched.target);
  });
  after(async () => {
    stub?.close();
    watchedStub?.close();
    await Promise.all([limited?.stop(), watched?.stop()]);
  });

  it('refuses a unary call without a deadline with INVALID_ARGUMENT; a stream needs none', async () => {
    const error = await grpcError(
      new Promise((resolve, reject) => stub.Check({ selectors: randomSelectors(1) }, bearer(limited.token), (e, r) => (e ? reject(e) : resolve(r)))),
    );
    expect(error.code).to.equal(grpc.status.INVALID_ARGUMENT);
    expect(error.details).to.contain('deadline required');
    // The same call with a deadline is answered.
    await rawCall(stub, 'Status', {}, bearer(limited.token));
    // MirrorFilter (a stream) without a deadline: served.
    const call = stub.MirrorFilter({}, bearer(limited.token));
    await new Promise<void>((resolve, reject) => {
      call.once('data', () => resolve());
      call.once('error', reject);
    });
    call.cancel();
  });

  it('answers a client over its check rate with RESOURCE_EXHAUSTED, counts it, and allows it again after refill', async () => {
    const before = limited.parts.events.totals.rateLimited.checks;
    await rawCall(stub, 'Check', { selectors: randomSelectors(10) }, bearer(limited.token)).catch(() => undefined);
    // Burst 20 selectors: a full Check of 20 drains the bucket, the next selector is refused.
    await waitFor(() => rawCall(stub, 'Check', { selectors: randomSelectors(20) }, bearer(limited.token)).then(() => true), 'a full bucket', 5_000, 10);
    const error = await grpcError(rawCall(stub, 'Check', { selectors: randomSelectors(20) }, bearer(limited.token)));
    expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(error.details).to.equal('rate limit: 40 per second for checked selectors per client');
    expect(limited.parts.events.totals.rateLimited.checks).to.be.greaterThan(before);
    const metrics = createNodeMetrics(metricsSources(limited.parts));
    const text = await metrics.scrape();
    metrics.close();
    expect(text).to.match(/^mamori_rate_limited_total\{(?=[^}]*scope="checks")[^}]*\} [1-9]/m);
    expect(text).to.match(/^mamori_rate_limited_total\{(?=[^}]*scope="fetches")[^}]*\} 0$/m);
    // Refilled (40 per second, so in about half a second): a batch of 20 is accepted again. The
    // refill rate itself is checked with an injected clock ("a token bucket refills at its rate…").
    await waitFor(
      () => rawCall(stub, 'Check', { selectors: randomSelectors(20) }, bearer(limited.token)).then(() => true),
      'the bucket to refill',
      30_000,
      20,
    );
    // A batch larger than the burst is never accepted, and says so.
    const tooBig = await grpcError(rawCall(stub, 'Check', { selectors: randomSelectors(21) }, bearer(limited.token)));
    expect(tooBig.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(tooBig.details).to.contain('more than the burst of 20');
  });

  it('refuses a publication batch over the rate with RESOURCE_EXHAUSTED and stores nothing of it', async () => {
    const details: CardListingDetails = { reason: 'phishing', exposed: ['pan'] };
    const first = randomPans(20);
    const second = randomPans(10);
    expect((await limited.client.publishCompromisedCards(first, details)).accepted).to.equal(20);
    const indicatorsBefore = limited.node.status().indicators;
    const entriesBefore = limited.node.status().entries;
    // 20 of 25 taken, 10 more asked for (refill is 10 per second): refused as a whole.
    const error = await limited.client.publishCompromisedCards(second, details).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error?.code).to.equal('RESOURCE_EXHAUSTED');
    expect(error?.message).to.equal('rate limit: 10 per second for published indicators per client');
    expect(limited.node.status().indicators).to.equal(indicatorsBefore);
    expect(limited.node.status().entries).to.equal(entriesBefore);
    expect(limited.parts.events.totals.rateLimited.publications).to.be.greaterThan(0);
    // After refill the same batch goes through.
    await waitFor(() => limited.client.publishCompromisedCards(second, details).then((r) => r.accepted === 10), 'publication after refill', 5_000, 50);

    // Retractions write signed entries too and share the budget: a burst of them is refused.
    const entries = limited.node.status().entries;
    const retraction = await limited.client.retractCards([...first, ...second], 'reissued').then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(retraction?.code).to.equal('RESOURCE_EXHAUSTED');
    expect(limited.node.status().entries).to.equal(entries);
  });

  it('warns the operator once per window about a client sweeping distinct selectors, naming neither selector nor card', async () => {
    const warnings = () => watched.logLines.filter((l) => l.includes('possible enumeration'));
    // The same few selectors again and again: not a sweep.
    const few = randomSelectors(5);
    for (let i = 0; i < 20; i++) await rawCall(watchedStub, 'Check', { selectors: few }, bearer(watched.token));
    expect(warnings()).to.have.length(0);

    // A sweep: card numbers through the SDK and raw digests, all distinct, none listed.
    const pans = randomPans(30);
    await watched.client.checkCards(pans);
    const digests = randomSelectors(40);
    await rawCall(watchedStub, 'Check', { selectors: digests }, bearer(watched.token));
    await waitFor(() => warnings().length === 1, 'the enumeration warning', 5_000);
    await rawCall(watchedStub, 'Check', { selectors: randomSelectors(40) }, bearer(watched.token));
    expect(warnings()).to.have.length(1); // once per window

    const warning = JSON.parse(warnings()[0] as string) as Record<string, unknown>;
    expect(warning.level).to.equal(40);
    expect(warning.client).to.equal(tokenDigest(watched.token).slice(0, 8));
    expect(warning.selectors).to.be.within(70, 110);
    const everything = watched.logLines.join('\n');
    for (const pan of pans) for (const form of panForms(pan)) expect(everything).not.to.contain(form);
    for (const s of [...few, ...digests]) {
      expect(everything).not.to.contain(s.digest.toString('hex').slice(0, 16));
      expect(everything).not.to.contain(s.digest.toString('base64').slice(0, 16));
    }
    expect(everything).not.to.contain(watched.token);
  });

  it('honours maxConcurrentStreams per connection', async () => {
    // Two streams held open on one connection; a third call waits until one ends.
    const streams = [stub.MirrorFilter({}, bearer(limited.token)), stub.MirrorFilter({}, bearer(limited.token))];
    await Promise.all(streams.map((s) => new Promise<void>((resolve, reject) => (s.once('data', () => resolve()), s.once('error', reject)))));
    let answered = false;
    const third = rawCall(stub, 'Status', {}, bearer(limited.token)).then(() => (answered = true));
    // No sleep: a probe on the same connection, sent after the third, must end by its own deadline
    // unanswered (without the limit it is answered OK, and this fails); the third is still waiting.
    const probe = await grpcError(
      new Promise((resolve, reject) =>
        stub.Status({}, bearer(limited.token), { deadline: Date.now() + 2_000 }, (e, r) => (e ? reject(e) : resolve(r))),
      ),
    );
    expect(probe.code, 'a call beyond the two streams answered').to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(answered).to.equal(false);
    streams[0]?.cancel();
    await third;
    expect(answered).to.equal(true);
    streams[1]?.cancel();
  });
});

describe('limits: token bucket, enumeration counting and the limits config', function () {
  it('a token bucket refills at its rate up to its burst, all or nothing', () => {
    let now = 1_000;
    const events = new NodeEvents();
    const limiter = new RateLimiter(events, 'checks', { perSecond: 100, burst: 10 }, 'things', () => now);
    limiter.take('a', 10);
    expect(() => limiter.take('a', 1)).to.throw('rate limit: 100 per second for things');
    limiter.take('b', 10); // another caller has its own bucket
    now += 50; // 5 tokens back
    expect(() => limiter.take('a', 6)).to.throw('rate limit');
    limiter.take('a', 5);
    now += 10_000; // refilled to the burst, not beyond
    limiter.take('a', 10);
    expect(() => limiter.take('a', 1)).to.throw('rate limit');
    expect(events.totals.rateLimited).to.deep.equal({ checks: 3, publications: 0, fetches: 0, heads: 0, consortium: 0 });
  });

  it('counts distinct selectors within a few percent (HyperLogLog), warning only above the threshold and miss ratio', () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    const detector = new EnumerationDetector({ distinctSelectors: 100_000, windowMs: 60_000, minMissRatio: 0.9 }, log);
    const miss = { listed: false };
    const batch = Array.from({ length: 1000 }, () => ({ digest: Buffer.alloc(32) }));
    const verdicts = batch.map(() => miss);
    for (let i = 0; i < 90; i++) {
      for (const s of batch) crypto.randomFillSync(s.digest);
      detector.observe('c'.repeat(64), batch, verdicts);
    }
    expect(lines).to.have.length(0); // 90,000 distinct: under the threshold
    for (let i = 0; i < 20; i++) {
      for (const s of batch) crypto.randomFillSync(s.digest);
      detector.observe('c'.repeat(64), batch, verdicts);
    }
    expect(lines).to.have.length(1);
    const selectors = (JSON.parse(lines[0] as string) as { selectors: number }).selectors;
    expect(selectors).to.be.within(100_000, 120_000); // 110,000 distinct

    // Mostly hits: a client re-checking listed cards is not enumerating.
    const hit = batch.map(() => ({ listed: true }));
    for (let i = 0; i < 150; i++) {
      for (const s of batch) crypto.randomFillSync(s.digest);
      detector.observe('d'.repeat(64), batch, hit);
    }
    expect(lines).to.have.length(1);
  });

  it('fills every default, and names the field of a bad limit', () => {
    const defaults = limitsOf({});
    expect(defaults.maxConcurrentStreams).to.equal(100);
    expect(defaults.requireDeadline).to.equal(true);
    expect(defaults.rates.checks).to.deep.equal({ perSecond: 2_000_000, burst: 4_000_000 });
    expect(defaults.rates.publications.burst).to.be.at.least(LIMITS.maxIndicatorsPerEntry);
    const partial = nodeConfigSchema.shape.limits.parse({ rates: { checks: { perSecond: 5 } } });
    expect(partial?.rates.checks).to.deep.equal({ perSecond: 5, burst: 4_000_000 });
    expect(partial?.rates.fetches).to.deep.equal({ perSecond: 200, burst: 1_000 });
    const bad = nodeConfigSchema.shape.limits.safeParse({ rates: { checks: { perSecond: -1 } }, keepaliveTimeMs: 5 });
    expect(bad.success).to.equal(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.'));
    expect(paths).to.include.members(['rates.checks.perSecond', 'keepaliveTimeMs']);
    expect(nodeConfigSchema.shape.limits.safeParse({ maxStreams: 3 }).success).to.equal(false); // strict
  });
});
