// Common point of purchase and merchant watch lists across five member processes: two
// issuers report fraud cards sealed to the aggregator (psp-c); only a merchant that recurs
// across both issuers' reports beyond what its volume explains is flagged, and the acquirer
// watching it is alerted once. Below the threshold nothing is published, and no other
// member's disk holds the report's selectors. Another acquirer's listing of a watched
// merchant alerts once, across a restart and a resumed stream.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import { MamoriClient } from '../../client-sdk/src/client';
import type { FraudReportInput } from '../../client-sdk/src/common-point';
import { DEV_EXTRA_ISSUER, type DevMember } from '../../node/src/runtime/dev-consortium';
import { merchantSelectors, type MerchantFields } from '../../proto/ts/merchant';
import { panSelector } from '../../proto/ts/trust/domains';
import { randomPans } from '../helpers/cards';
import { editNodeConfig, startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { filesUnder, memberOf, runCli, tempDir } from '../helpers/node-harness';
import { sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';
import { replay, nextWithin, expectRefused } from '../helpers/alerts';

const SECOND_ACQUIRER: DevMember = { id: 'acquirer-e', roles: ['acquirer'], binRanges: [] };
const DAY = 24 * 60 * 60_000;
const ACTIVE_CARDS = 100_000;
const FRAUD_CARDS_PER_ISSUER = 30;

const planted: MerchantFields = { domain: 'planted-skimmer.example.jp' };
const popular: MerchantFields = { domain: 'everyday-mart.example.jp' };
const innocents: MerchantFields[] = Array.from({ length: 50 }, (_, i) => ({ domain: `shop-${i}.example.jp` }));

/**
 * One issuer's report: 30 fraud cards; 6 used the planted merchant (volume 200 of 100,000
 * cards), 12 the popular one (volume 40,000: 40% of all cards, as expected), each three
 * innocent shops in turn (volume 2,000 each).
 */
function issuerReport(bin: string, nowMs: number, offset: number): FraudReportInput {
  const pans = randomPans(FRAUD_CARDS_PER_ISSUER, bin);
  return {
    windowStartMs: nowMs - 30 * DAY,
    windowEndMs: nowMs,
    activeCards: ACTIVE_CARDS,
    cards: pans.map((pan, j) => {
      const merchants = [0, 1, 2].map((d) => innocents[(offset + 3 * j + d) % innocents.length] as MerchantFields);
      if (j < 6) merchants.push(planted);
      if (j % 5 < 2) merchants.push(popular);
      return { pan, merchants };
    }),
    volumes: [{ merchant: planted, cards: 200 }, { merchant: popular, cards: 40_000 }, ...innocents.map((m) => ({ merchant: m, cards: 2_000 }))],
  };
}

function domainDigest(key: Uint8Array, fields: MerchantFields): Buffer {
  const [selector] = merchantSelectors(key, fields).selectors;
  if (!selector) throw new Error('no selector');
  return selector.digest;
}

function dataDirHolds(c: ConsortiumProcesses, member: string, needle: Buffer): boolean {
  return filesUnder(path.join(c.layout.dir, member, 'data')).some((file) => fs.readFileSync(file).includes(needle));
}

async function metrics(c: ConsortiumProcesses, member: string): Promise<string> {
  const { metricsListen } = JSON.parse(fs.readFileSync(memberOf(c.layout, member).nodeConfig, 'utf8')) as { metricsListen: string };
  return (await scrape(metricsListen)).body;
}

const commonPointAlerts = (alerts: MamoriAlert[]) => alerts.filter((a) => a.kind === 'common-point');

describe('consortium: common point of purchase and merchant watch lists', function () {
  this.timeout(300_000);
  let c: ConsortiumProcesses;

  before(async () => {
    c = await startConsortium({
      extraMembers: [DEV_EXTRA_ISSUER, SECOND_ACQUIRER],
      panSelectors: 'dual',
      configure: (layout) => {
        for (const m of layout.members) editNodeConfig(layout, m.id, (config) => Object.assign(config, { commonPointIntervalMs: 1_000 }));
      },
    });
  });
  after(async () => {
    await c?.stopAll();
  });

  it('flags only the merchant both issuers\' fraud cards share beyond its volume, and alerts the watching acquirer once with aggregates', async () => {
    const acquirer = c.client('acquirer-b');
    expect((await acquirer.watchMerchants([planted, popular, ...innocents])).watched).to.equal(52);

    const nowMs = Date.now();
    const reports = [issuerReport('454545', nowMs, 0), issuerReport('520000', nowMs, 25)];
    await c.client('issuer-a').reportFraud(reports[0] as FraudReportInput);
    await c.client('issuer-d').reportFraud(reports[1] as FraudReportInput);

    const alerts = await waitFor(async () => {
      const found = commonPointAlerts(await replay(acquirer));
      return found.length > 0 ? found : undefined;
    }, 'a common-point alert at acquirer-b', 90_000);
    const [key] = await acquirer.hashingKeys();
    expect(alerts).to.have.length(1);
    const alert = alerts[0] as MamoriAlert;
    expect(alert.commonPoint?.merchant?.type).to.equal('SELECTOR_TYPE_MERCHANT_DOMAIN');
    expect(Buffer.from(alert.commonPoint?.merchant?.digest ?? []).equals(domainDigest(key!.key, planted)), 'the planted merchant').to.equal(true);
    // Published coarsened: 12 fraud cards as the band of 10, so neither issuer learns the
    // other's 6 by subtracting its own; the issuers (the k-threshold aggregate) exactly.
    expect(alert.commonPoint).to.include({ issuers: 2, fraudCards: 10 });
    // Baseline 60 fraud cards in 200,000 active ones; the planted merchant's volume is 400:
    // 0.12 expected, published to one significant digit.
    expect(alert.commonPoint?.expectedFraudCards).to.equal(0.1);
    // The p-value as a power of ten at or above it.
    const pValue = alert.commonPoint?.pValue ?? 1;
    expect(pValue).to.be.at.most(1e-6);
    expect(pValue).to.equal(Number(`1e${Math.round(Math.log10(pValue))}`));
    expect(alert.windowEndMs).to.equal(nowMs);
    expect(JSON.stringify(alert), 'no issuer named').to.not.match(/issuer-a|issuer-d/);

    // No node logs a reported card, the merchant's identity or its selector (hex or base64).
    const digest = domainDigest(key!.key, planted);
    const secrets = [...reports.flatMap((r) => r.cards.map((card) => card.pan)), planted.domain as string, digest.toString('hex'), digest.toString('base64')];
    await waitFor(() => fs.readFileSync(path.join(c.layout.dir, 'psp-c', 'node.log'), 'utf8').includes('common-point'), 'the aggregator to log its analysis');
    for (const member of ['issuer-a', 'issuer-d', 'acquirer-b', 'psp-c']) {
      const log = fs.readFileSync(path.join(c.layout.dir, member, 'node.log'), 'utf8');
      for (const secret of secrets) expect(log.includes(secret), `${member}'s log holds a reported card or the merchant`).to.equal(false);
    }
  });

  it('publishes nothing for a merchant only one issuer reported, and its selectors stay on the aggregator\'s disk only', async () => {
    // acquirer-e watches both merchants (its own disk then holds their digests); acquirer-b watches neither.
    const watcher = c.client('acquirer-e');
    const acquirer = c.client('acquirer-b');
    const lonely: MerchantFields = { domain: 'lonely-shop.example.jp' };
    const proof: MerchantFields = { domain: 'second-breach.example.jp' };
    await watcher.watchMerchants([lonely, proof]);
    const before = commonPointAlerts(await replay(watcher));

    const nowMs = Date.now();
    const lonelyPans = randomPans(10, '356900');
    const below = await c.client('issuer-a').reportFraud({
      windowStartMs: nowMs - 30 * DAY,
      windowEndMs: nowMs,
      activeCards: ACTIVE_CARDS,
      cards: lonelyPans.map((pan) => ({ pan, merchants: [lonely] })),
      volumes: [{ merchant: lonely, cards: 50 }],
    });
    // Reports after it in issuer-a's feed: the analysis that flags `proof` has provably read the lonely report.
    const proofReport = (bin: string): FraudReportInput => ({
      windowStartMs: nowMs - 30 * DAY,
      windowEndMs: nowMs,
      activeCards: ACTIVE_CARDS,
      cards: randomPans(5, bin).map((pan) => ({ pan, merchants: [proof] })),
      volumes: [{ merchant: proof, cards: 100 }],
    });
    await c.client('issuer-a').reportFraud(proofReport('454545'));
    await c.client('issuer-d').reportFraud(proofReport('530000'));

    const [key] = await acquirer.hashingKeys();
    const proofDigest = domainDigest(key!.key, proof);
    const lonelyDigest = domainDigest(key!.key, lonely);
    const after = await waitFor(async () => {
      const found = commonPointAlerts(await replay(watcher)).slice(before.length);
      return found.length > 0 ? found : undefined;
    }, 'the common-point alert for the second merchant', 90_000);
    expect(after.map((a) => Buffer.from(a.commonPoint?.merchant?.digest ?? []).equals(proofDigest))).to.deep.equal([true]);
    expect(after[0]?.commonPoint).to.include({ issuers: 2, fraudCards: 10 });
    // The aggregator opened every report (two of the first test, three here) and refused none.
    const aggregator = await metrics(c, 'psp-c');
    expect(sample(aggregator, 'mamori_fraud_reports', { result: 'opened' })).to.equal(5);
    expect(sample(aggregator, 'mamori_fraud_reports', { result: 'refused' })).to.equal(0);
    expect(sample(aggregator, 'mamori_common_point_analyses_total')).to.be.at.least(2);
    expect(sample(await metrics(c, 'acquirer-e'), 'mamori_watched_merchant_selectors')).to.equal(2);
    expect(commonPointAlerts(await replay(watcher)).some((a) => Buffer.from(a.commonPoint?.merchant?.digest ?? []).equals(lonelyDigest)), 'flag for the lonely merchant').to.equal(false);

    // Every member stores and relays the sealed report; only the aggregator has opened it.
    await waitForFeed(acquirer, 'issuer-a', below.seq);
    await waitForFeed(c.client('issuer-d'), 'issuer-a', below.seq);
    // The cards' digests in the report: oblivious selectors under the phase "dual" (the SDK
    // sends those, so the aggregator cannot brute-force them with the hashing key), else keyed.
    const reporter = c.client('issuer-a');
    const cardDigests = (await reporter.panSelectorPhase()) === 'keyed' ? lonelyPans.map((pan) => panSelector(key!.key, pan)) : await reporter.panSelectors(lonelyPans);
    expect(lonelyPans.some((pan) => dataDirHolds(c, 'psp-c', panSelector(key!.key, pan))), 'a keyed digest of a reported card at the aggregator').to.equal((await reporter.panSelectorPhase()) === 'keyed');
    const needles = [lonelyDigest, ...cardDigests];
    for (const member of ['acquirer-b', 'issuer-d', 'issuer-a']) {
      for (const needle of needles) expect(dataDirHolds(c, member, needle), `a selector of the report in ${member}'s data directory`).to.equal(false);
    }
    expect(needles.every((needle) => dataDirHolds(c, 'psp-c', needle)), 'the aggregator holds the opened report').to.equal(true);
  });

  it('another acquirer\'s listing of a watched merchant alerts once: a following stream resumes after a restart, none missed, none repeated', async () => {
    const all = await replay(c.client('acquirer-b'));
    const cursor = all.at(-1)?.id ?? 0;
    const subscriber = MamoriClient.fromConfigFile(memberOf(c.layout, 'acquirer-b').clientConfig, { mode: 'remote' });
    const following = subscriber.alerts({ after: cursor, follow: true });
    try {
      const listed = await c.client('acquirer-e').publishFraudulentMerchant({ ...innocents[7], phone: '03-5555-0107' }, { reason: 'laundering' });
      const alert = await nextWithin(following, 60_000, 'the merchant-listing alert');
      expect(alert.kind).to.equal('merchant-listing');
      expect(alert.merchantListing).to.deep.include({ origin: 'acquirer-e', reason: 'REASON_CODE_LAUNDERING', matched: ['SELECTOR_TYPE_MERCHANT_DOMAIN'] });

      // The node re-examines stored entries at start-up: the alert is not raised again. A
      // listing made while it is down alerts once it has caught up.
      await c.kill('acquirer-b');
      const whileDown = await c.client('acquirer-e').publishFraudulentMerchant(innocents[8] as MerchantFields, { reason: 'excessive-fraud' });
      await c.start('acquirer-b');
      await waitForFeed(c.client('acquirer-b'), 'acquirer-e', whileDown.seq);
      const resumed = await nextWithin(following, 60_000, 'the alert raised while the subscriber was disconnected');
      expect(resumed.merchantListing).to.deep.include({ origin: 'acquirer-e', reason: 'REASON_CODE_EXCESSIVE_FRAUD' });
      expect(resumed.id).to.be.above(alert.id);
      await following.return(undefined);

      const afterRestart = await replay(c.client('acquirer-b'));
      expect(afterRestart.map((a) => a.id), 'every alert once, in order').to.deep.equal([...all.map((a) => a.id), alert.id, resumed.id]);
      expect(listed.seq).to.be.below(whileDown.seq);
      expect(await replay(c.client('acquirer-b'), resumed.id), 'after the cursor').to.deep.equal([]);

      // Watching an already-listed merchant again raises nothing new either.
      await c.client('acquirer-b').watchMerchants([innocents[7] as MerchantFields]);
      expect((await replay(c.client('acquirer-b'), cursor)).map((a) => a.id)).to.deep.equal([alert.id, resumed.id]);
    } finally {
      await following.return(undefined);
      subscriber.close();
    }
  });

  it('only issuers report fraud (PERMISSION_DENIED); a bad report is refused naming the field', async () => {
    const nowMs = Date.now();
    const valid: FraudReportInput = {
      windowStartMs: nowMs - DAY,
      windowEndMs: nowMs,
      activeCards: 10,
      cards: randomPans(1, '454545').map((pan) => ({ pan, merchants: [planted] })),
      volumes: [{ merchant: planted, cards: 3 }],
    };
    const denied = await expectRefused(c.client('acquirer-b').reportFraud(valid), 'PERMISSION_DENIED');
    expect(denied.message).to.match(/issuers only/);
    const cases: [Partial<FraudReportInput>, RegExp][] = [
      [{ activeCards: 0 }, /^contents\.activeCards: /],
      [{ windowEndMs: nowMs - 2 * DAY }, /^contents\.windowEndMs: /],
      [{ windowEndMs: nowMs + DAY, windowStartMs: nowMs }, /^contents\.windowEndMs: is in the future/],
      [{ windowStartMs: nowMs - 91 * DAY }, /^contents\.windowStartMs: must be at most 90 days \(the look-back\)/],
      [{ activeCards: 2_000_000_000 }, /^contents\.activeCards: must be at most 1000000000/],
      [{ volumes: [] }, /^contents\.cards\[0\]\.merchants\[0\]: has no volume/],
      [{ volumes: [{ merchant: planted, cards: 11 }] }, /^contents\.volumes\[0\]\.cards: must not exceed activeCards/],
      [{ cards: [] }, /^contents\.cards: must contain at least one card/],
    ];
    for (const [change, message] of cases) {
      const refused = await expectRefused(c.client('issuer-a').reportFraud({ ...valid, ...change }), 'INVALID_ARGUMENT');
      expect(refused.message).to.match(message);
    }
    const notMerchant = await expectRefused(c.client('acquirer-b').watchMerchants([]), 'INVALID_ARGUMENT');
    expect(notMerchant.message).to.match(/^merchants: /);
  });

  it('mamori watch merchant and mamori report fraud --file, with --json', async () => {
    const watch = await runCli(['watch', 'merchant', '--config', memberOf(c.layout, 'acquirer-b').clientConfig, '--domain', 'cli-watched.example.jp', '--json']);
    expect(watch.stderr).to.equal('');
    expect(watch.code).to.equal(0);
    expect((JSON.parse(watch.stdout) as { watched: number }).watched).to.equal(53);
    const unwatch = await runCli(['watch', 'merchant', '--config', memberOf(c.layout, 'acquirer-b').clientConfig, '--domain', 'cli-watched.example.jp', '--remove']);
    expect(unwatch.stdout).to.match(/holds 52 merchant selector/);

    const nowMs = Date.now();
    const file = path.join(tempDir(), 'report.json');
    const pans = randomPans(2, '520000');
    fs.writeFileSync(file, JSON.stringify({
      windowStartMs: nowMs - DAY,
      windowEndMs: nowMs,
      activeCards: 1_000,
      cards: pans.map((pan) => ({ pan, merchants: [{ domain: 'cli-shop.example.jp' }] })),
      volumes: [{ merchant: { domain: 'cli-shop.example.jp' }, cards: 40 }],
    }));
    const reported = await runCli(['report', 'fraud', '--config', memberOf(c.layout, 'issuer-d').clientConfig, '--file', file, '--json']);
    expect(reported.code, reported.stderr).to.equal(0);
    const outcome = JSON.parse(reported.stdout) as { accepted: number; seq: number };
    expect(outcome.accepted).to.equal(2);
    await waitForFeed(c.client('psp-c'), 'issuer-d', outcome.seq);
    for (const pan of pans) expect(reported.stdout + reported.stderr).to.not.include(pan);

    const refused = await runCli(['report', 'fraud', '--config', memberOf(c.layout, 'acquirer-b').clientConfig, '--file', file]);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/issuers only/);
    for (const pan of pans) expect(refused.stderr).to.not.include(pan);
  });
});
