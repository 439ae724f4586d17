// Mirror mode: negatives answered in this process with no I/O, positives confirmed by the
// node, and the same answers as remote mode.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { Clients, countServedChecks } from './helpers';

describe('SDK mirror mode', function () {
  let n: InProcessNode;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c');
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    await n?.stop();
  });

  it('gives the same answers as remote mode on 2,000 listed and 2,000 unlisted cards, asking the node only about positives', async () => {
    const listed = randomPans(2000);
    const unlisted = randomPans(2000);
    await n.client.publishCompromisedCards(listed.slice(0, 1000), { reason: 'merchant-breach', exposed: ['pan', 'cvv'], confidence: 90 });
    await n.client.publishCompromisedCards(listed.slice(1000), { reason: 'phishing' });
    const mirror = clients.connect(n, { mode: 'mirror', deadlineMs: 10_000 });
    const remote = clients.connect(n, { mode: 'remote', deadlineMs: 10_000 });
    await Promise.all([mirror.waitForReady(20_000), remote.waitForReady(20_000)]);
    expect(mirror.sdkStatus()).to.deep.include({ mode: 'mirror', checksVia: 'mirror', fallbackReason: undefined });
    expect(mirror.sdkStatus().mirror).to.deep.include({ ready: true, stale: false, items: 2000 });

    const cards = listed.flatMap((pan, i) => [pan, unlisted[i] as string]);
    const served = countServedChecks(n);
    const fromMirror = await mirror.checkCards(cards);
    const mirrorRpcs = served.calls;
    const fromRemote = await remote.checkCards(cards);

    const strip = (r: { listed: boolean; action: string; listingMembers: number; evidence: { origin: string; reason: string }[] }) => ({
      listed: r.listed,
      action: r.action,
      listingMembers: r.listingMembers,
      evidence: r.evidence.map((e) => `${e.origin}/${e.reason}`),
    });
    expect(fromMirror.map(strip)).to.deep.equal(fromRemote.map(strip));
    expect(fromMirror.filter((r) => r.listed).length).to.equal(2000);
    expect(fromMirror.filter((r, i) => i % 2 === 0 && r.action === 'review').length).to.equal(1000);
    // Every listed card was confirmed by the node; the unlisted were answered here (a few false positives allowed).
    expect(fromMirror.filter((r) => r.listed).every((r) => r.source === 'node')).to.equal(true);
    const local = fromMirror.filter((r) => r.source === 'mirror').length;
    expect(local, 'negatives answered in-process').to.be.at.least(1990);
    expect(mirrorRpcs, 'RPCs for the mirror-mode checks').to.be.at.most(Math.ceil((4000 - local) / 1000) + 1);
    expect(fromRemote.every((r) => r.source === 'node')).to.equal(true);
  });

  it('answers a negative with no I/O at all', async () => {
    const client = clients.connect(n, { deadlineMs: 10_000 });
    await client.waitForReady(20_000);
    const before = client.stats();
    for (const pan of randomPans(500)) expect(await client.checkCard(pan)).to.deep.include({ listed: false, action: 'approve', source: 'mirror', degraded: false });
    const after = client.stats();
    expect(after.rpcs.total).to.equal(before.rpcs.total);
    expect(after.checks.mirror - before.checks.mirror).to.be.at.least(499);
  });

  it('lists a card published after the client started, and stops listing it once retracted', async () => {
    const client = clients.connect(n, { deadlineMs: 10_000 });
    await client.waitForReady(20_000);
    const pan = randomPan();
    expect(await client.checkCard(pan)).to.deep.include({ listed: false, source: 'mirror' });
    await n.client.publishCompromisedCards([pan], { reason: 'skimming' });
    const hit = await waitFor(async () => {
      const r = await client.checkCard(pan);
      return r.listed ? r : undefined;
    }, 'the new listing to reach the mirror', 10_000, 10);
    expect(hit).to.deep.include({ source: 'node', action: 'step_up', listingMembers: 1 });
    expect(hit.evidence[0]).to.deep.include({ origin: 'psp-c', reason: 'REASON_CODE_SKIMMING' });

    await n.client.retractCards([pan], 'reissued');
    // The filter keeps the bit (a Bloom filter cannot forget); the node has the last word.
    expect(await client.checkCard(pan)).to.deep.include({ listed: false, action: 'approve', degraded: false });
  });

  it('status() carries the node status and the SDK\'s own: mode, mirror, counters', async () => {
    const client = clients.connect(n, { deadlineMs: 10_000 });
    expect(client.sdkStatus().checksVia).to.equal('node'); // just started: nothing loaded yet
    expect(client.sdkStatus().fallbackReason).to.match(/mirror not usable/);
    await client.waitForReady(20_000);
    const status = await client.status();
    expect(status.member).to.equal('psp-c');
    expect(status.sdk).to.deep.include({ mode: 'mirror', checksVia: 'mirror', failMode: 'open', deadlineMs: 10_000 });
    expect(status.sdk.keyEpochs.length).to.be.at.least(1);
    expect(status.sdk.stats.rpcs.Status).to.equal(1);
  });
});
