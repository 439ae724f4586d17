// The node as a child process that is killed, restarted and paused: a check still answers
// within its deadline — from the node, the mirror, or the fail mode — and the client recovers
// by itself when the node comes back.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import type { MamoriClient } from '../../client-sdk/src/client';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium } from '../helpers/node-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { childNode, Clients, timed, type ChildNode } from './helpers';

/** A fallback must come at once when the node is unreachable, and by the deadline when it hangs; this is the slack for a loaded test machine. */
const SLACK_MS = 500;

describe('SDK fail modes: the node stopped, hung, and back', function () {
  this.timeout(120_000);
  let layout: DevConsortiumLayout;
  let node: ChildNode;
  let listed: string;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    node = await childNode(layout, 'acquirer-b');
    listed = randomPan();
    const admin = clients.connect(node, { mode: 'remote' });
    await admin.publishCompromisedCards([listed], { reason: 'skimming' });
  });
  afterEach(async () => {
    clients.closeAll();
    node.resume();
    if (node.process.child.exitCode !== null || node.process.child.signalCode !== null) await node.start();
  });
  after(async () => {
    node?.process.child.kill('SIGKILL');
    await node?.process.exited;
  });

  const fromNode = async (client: MamoriClient, pan: string) => {
    const r = await client.checkCard(pan);
    return r.source === 'node' && !r.degraded ? r : undefined;
  };

  it('fail-open approves and fail-closed holds for review while the node is down; both recover when it is back', async () => {
    const open = clients.connect(node, { mode: 'remote', failMode: 'open', deadlineMs: 200 });
    const closed = clients.connect(node, { mode: 'mirror', failMode: 'closed', deadlineMs: 200 });
    await Promise.all([open.waitForReady(10_000), closed.waitForReady(10_000)]);
    expect(await open.checkCard(listed)).to.deep.include({ listed: true, action: 'step_up', source: 'node', degraded: false });
    expect(await closed.checkCard(listed)).to.deep.include({ listed: true, action: 'step_up', source: 'node', degraded: false });

    await node.kill();
    const a = await timed(() => open.checkCard(listed));
    expect(a.value).to.deep.include({ listed: false, action: 'approve', degraded: true, source: 'fallback', listingMembers: 0 });
    expect(a.value.evidence).to.deep.equal([]);
    expect(a.ms).to.be.below(200 + SLACK_MS);
    // The mirror still says "maybe" for the listed card, so the node is asked; it cannot answer.
    const b = await timed(() => closed.checkCard(listed));
    expect(b.value).to.deep.include({ action: 'review', degraded: true, source: 'fallback' });
    expect(b.ms).to.be.below(200 + SLACK_MS);
    const many = await open.checkCards(randomPans(50));
    expect(many.every((r) => r.degraded && r.action === 'approve')).to.equal(true);
    expect(open.sdkStatus().degradedSinceMs).to.be.a('number');
    expect(open.stats().checks.fallback).to.equal(51);

    await node.start();
    const back = await waitFor(() => fromNode(open, listed), 'the fail-open client to be answered by the node again', 30_000, 50);
    expect(back).to.deep.include({ listed: true, action: 'step_up' });
    await waitFor(() => fromNode(closed, listed), 'the fail-closed client to be answered by the node again', 30_000, 50);
    expect(open.sdkStatus().degradedSinceMs).to.equal(undefined);
  });

  it('a client created while the node is down answers by its fail mode, then from the node once it is back', async () => {
    await node.kill();
    const remote = clients.connect(node, { mode: 'remote', deadlineMs: 200 });
    const mirror = clients.connect(node, { mode: 'mirror', failMode: 'closed', deadlineMs: 200 });
    const r = await timed(() => remote.checkCard(listed));
    expect(r.value).to.deep.include({ action: 'approve', degraded: true, source: 'fallback' });
    expect(r.ms).to.be.below(200 + SLACK_MS);
    expect(await mirror.checkCard(randomPan())).to.deep.include({ action: 'review', degraded: true, source: 'fallback' });
    expect(mirror.sdkStatus()).to.deep.include({ checksVia: 'node' });
    expect(mirror.sdkStatus().fallbackReason).to.match(/mirror not usable/);

    await node.start();
    expect(await waitFor(() => fromNode(remote, listed), 'the new remote client to reach the node', 30_000, 50)).to.deep.include({ listed: true });
    expect(await waitFor(() => fromNode(mirror, listed), 'the new mirror client to reach the node', 30_000, 50)).to.deep.include({ listed: true });
    await waitFor(() => mirror.sdkStatus().checksVia === 'mirror', 'the mirror to load', 30_000, 50);
    expect(await mirror.checkCard(randomPan())).to.deep.include({ listed: false, action: 'approve', source: 'mirror', degraded: false });
  });

  it('honours the deadline when the node hangs (SIGSTOP); the mirror answers negatives until it goes stale, then says so', async () => {
    const remote = clients.connect(node, { mode: 'remote', deadlineMs: 50 });
    const mirror = clients.connect(node, { mode: 'mirror', deadlineMs: 50 });
    await Promise.all([remote.waitForReady(10_000), mirror.waitForReady(10_000)]);
    expect(mirror.sdkStatus().checksVia).to.equal('mirror');

    node.pause();
    // Negatives need no I/O: the mirror answers while it is fresh.
    expect(await mirror.checkCard(randomPan())).to.deep.include({ source: 'mirror', degraded: false });

    const one = await timed(() => remote.checkCard(listed));
    expect(one.value).to.deep.include({ action: 'approve', degraded: true, source: 'fallback', degradedReason: 'DEADLINE_EXCEEDED' });
    expect(one.ms).to.be.within(45, 50 + SLACK_MS);
    const crowd = await timed(() => Promise.all(randomPans(64).map((pan) => remote.checkCard(pan))));
    expect(crowd.value.every((r) => r.degraded && r.degradedReason === 'DEADLINE_EXCEEDED')).to.equal(true);
    expect(crowd.ms).to.be.below(50 + SLACK_MS);
    const tight = await timed(() => remote.checkCard(listed, { deadlineMs: 5 }));
    expect(tight.value.degraded).to.equal(true);
    expect(tight.ms).to.be.below(5 + SLACK_MS);

    await waitFor(() => mirror.sdkStatus().checksVia === 'node', 'the mirror to report itself stale', 30_000, 50);
    expect(mirror.sdkStatus().fallbackReason).to.match(/mirror not usable/);
    const stale = await timed(() => mirror.checkCard(randomPan()));
    expect(stale.value).to.deep.include({ degraded: true, source: 'fallback' });
    expect(stale.ms).to.be.below(50 + SLACK_MS);

    node.resume();
    await waitFor(() => fromNode(remote, listed), 'the node to answer after SIGCONT', 30_000, 50);
    await waitFor(() => mirror.sdkStatus().checksVia === 'mirror', 'the mirror to be fresh again', 30_000, 50);
  });
});
