// Card testing (credit master) across three member processes: PSP and acquirer reports are
// replicated; the issuer owning the BIN range gets one alert once k = 2 distinct members
// reported it in one window — aggregates only — and its alert stream resumes after a restart.
import { expect } from 'chai';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { memberOf } from '../helpers/node-harness';
import { replay, nextWithin, expectRefused } from '../helpers/alerts';

const HOUR = 60 * 60_000;
const TEN_MINUTES = 10 * 60_000;

describe('consortium: card-testing alerts', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses;

  before(async () => {
    c = await startConsortium();
  });
  after(async () => {
    await c?.stopAll();
  });

  it('two distinct reporters of one BIN range in a window alert the owning issuer once, within seconds, with aggregates only', async () => {
    const issuer = c.client('issuer-a');
    const before = await replay(issuer);
    const following = issuer.alerts({ after: before.at(-1)?.id ?? 0, follow: true });
    try {
      const bucketStartMs = Math.floor(Date.now() / TEN_MINUTES) * TEN_MINUTES;
      // One member reporting twice is still one member: no alert.
      await c.client('psp-c').reportCardTesting({ bin: '45454512', attempts: 900, declines: 870, bucketStartMs, merchant: { domain: 'shop.example.jp' } });
      const first = await c.client('psp-c').reportCardTesting({ bin: '45454599', attempts: 300, declines: 290, bucketStartMs });
      await waitForFeed(issuer, 'psp-c', first.seq);
      expect(await replay(issuer, before.at(-1)?.id ?? 0), 'alerts at k - 1 reporters').to.deep.equal([]);

      const second = await c.client('acquirer-b').reportCardTesting({ bin: '45454512', attempts: 120, declines: 118, bucketStartMs, merchant: { phone: '03-1234-5678' } });
      const reportedAt = Date.now();
      const alert = await nextWithin(following, 10_000, 'the card-testing alert');
      expect(Date.now() - reportedAt, 'ms from the k-th report to the alert').to.be.lessThan(5_000);
      expect(alert).to.include({ kind: 'card-testing', bin: '454545', reportingMembers: 2, merchants: 2 });
      expect(alert.windowEndMs - alert.windowStartMs).to.equal(HOUR);
      expect(alert.windowStartMs).to.be.at.most(bucketStartMs).and.above(bucketStartMs - HOUR);
      expect(JSON.stringify(alert), 'no reporter named').to.not.match(/psp-c|acquirer-b/);

      // A third report in the same window: still one alert for (454545, window).
      const third = await c.client('acquirer-b').reportCardTesting({ bin: '454545', attempts: 50, declines: 50, bucketStartMs });
      await waitForFeed(issuer, 'acquirer-b', third.seq);
      await waitForFeed(issuer, 'acquirer-b', second.seq);
      const now = await replay(issuer, before.at(-1)?.id ?? 0);
      expect(now.map((a) => a.bin)).to.deep.equal(['454545']);

      // Only the owning issuer is alerted; the reporters' nodes hold the reports but raise nothing.
      await waitForFeed(c.client('psp-c'), 'acquirer-b', third.seq);
      await waitForFeed(c.client('acquirer-b'), 'psp-c', first.seq);
      expect(await replay(c.client('psp-c'))).to.deep.equal([]);
      expect(await replay(c.client('acquirer-b'))).to.deep.equal([]);
    } finally {
      await following.return(undefined);
    }
  });

  it('one reporter alone raises no alert', async () => {
    const issuer = c.client('issuer-a');
    const bucketStartMs = Math.floor((Date.now() - 3 * HOUR) / HOUR) * HOUR;
    const r = await c.client('psp-c').reportCardTesting({ bin: '356900', attempts: 40, declines: 39, bucketStartMs });
    await waitForFeed(issuer, 'psp-c', r.seq);
    expect((await replay(issuer)).filter((a) => a.bin === '356900')).to.deep.equal([]);
  });

  it('an issuer may not report card testing (PERMISSION_DENIED); an invalid report is refused naming the field', async () => {
    const denied = await expectRefused(c.client('issuer-a').reportCardTesting({ bin: '454545', attempts: 10, declines: 9 }), 'PERMISSION_DENIED');
    expect(denied.message).to.match(/acquirers and PSPs/);
    const badBin = await expectRefused(c.client('psp-c').reportCardTesting({ bin: '4545', attempts: 10, declines: 9 }), 'INVALID_ARGUMENT');
    expect(badBin.message).to.match(/^report\.bin: /);
    const badCounts = await expectRefused(c.client('psp-c').reportCardTesting({ bin: '454545', attempts: 10, declines: 11 }), 'INVALID_ARGUMENT');
    expect(badCounts.message).to.match(/^report\.declines: /);
    const unaligned = await expectRefused(c.client('psp-c').reportCardTesting({ bin: '454545', attempts: 10, declines: 1, bucketStartMs: 1_000 }), 'INVALID_ARGUMENT');
    expect(unaligned.message).to.match(/^report\.bucketStartMs: /);
  });

  it('an alert stream resumes from its cursor after the node restarts: none missed, none repeated', async () => {
    const clientConfig = memberOf(c.layout, 'issuer-a').clientConfig;
    const subscriber = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
    try {
      const earlier = await replay(subscriber);
      expect(earlier.length, 'the alert of the first test').to.be.at.least(1);
      const following = subscriber.alerts({ follow: true });
      const seen: MamoriAlert[] = [];
      for (let i = 0; i < earlier.length; i++) seen.push(await nextWithin(following, 10_000, `replayed alert ${i + 1}`));
      expect(seen.map((a) => a.id)).to.deep.equal(earlier.map((a) => a.id));

      // The issuer's node goes down; both reports of another window arrive while it is down.
      await c.kill('issuer-a');
      const bucketStartMs = Math.floor((Date.now() - 5 * HOUR) / HOUR) * HOUR;
      const p = await c.client('psp-c').reportCardTesting({ bin: '35690001', attempts: 500, declines: 480, bucketStartMs });
      const a = await c.client('acquirer-b').reportCardTesting({ bin: '356900', attempts: 70, declines: 69, bucketStartMs: bucketStartMs + TEN_MINUTES });
      await c.start('issuer-a');
      await waitForFeed(c.client('issuer-a'), 'psp-c', p.seq);
      await waitForFeed(c.client('issuer-a'), 'acquirer-b', a.seq);

      const resumed = await nextWithin(following, 30_000, 'the alert raised while the subscriber was disconnected');
      seen.push(resumed);
      expect(resumed).to.include({ bin: '356900', reportingMembers: 2, merchants: 0, windowStartMs: bucketStartMs });
      await following.return(undefined);

      const all = await replay(subscriber);
      expect(seen.map((x) => x.id), 'every alert once, in order').to.deep.equal(all.map((x) => x.id));
      expect(new Set(seen.map((x) => x.id)).size).to.equal(seen.length);
      // A new client given the cursor gets only what came after it.
      const fresh = await replay(c.client('issuer-a'), (seen.at(-2) as MamoriAlert).id);
      expect(fresh.map((x) => x.id)).to.deep.equal([resumed.id]);
    } finally {
      subscriber.close();
    }
  });
});
