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

// No wall-clock limit stands in for "at once" (a loaded machine breaks those). A fallback must
// come at once when the node is unreachable: such a check is given a long deadline and must
// answer UNAVAILABLE, i.e. before that deadline. When the node hangs it must come by the
// deadline: DEADLINE_EXCEEDED, not before the deadline, and long before a node that never
// answers would be given up on (GIVE_UP_MS: only a check ignoring its deadline comes near it).
const LONG_DEADLINE_MS = 10_000;
const GIVE_UP_MS = 10_000;

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
    const a = await open.checkCard(listed, { deadlineMs: LONG_DEADLINE_MS });
    expect(a, 'answered at once (UNAVAILABLE), not at the deadline').to.deep.include({ listed: false, action: 'approve', degraded: true, source: 'fallback', listingMembers: 0, degradedReason: 'UNAVAILABLE' });
    expect(a.evidence).to.deep.equal([]);
    // The mirror still says "maybe" for the listed card, so the node is asked; it cannot answer.
    const b = await closed.checkCard(listed, { deadlineMs: LONG_DEADLINE_MS });
    expect(b, 'answered at once (UNAVAILABLE), not at the deadline').to.deep.include({ action: 'review', degraded: true, source: 'fallback', degradedReason: 'UNAVAILABLE' });
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
    const r = await remote.checkCard(listed, { deadlineMs: LONG_DEADLINE_MS });
    expect(r, 'answered at once (UNAVAILABLE), not at the deadline').to.deep.include({ action: 'approve', degraded: true, source: 'fallback', degradedReason: 'UNAVAILABLE' });
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
    expect(one.ms, 'not before the deadline').to.be.at.least(45);
    expect(one.ms, 'by the deadline, not when the node comes back').to.be.below(GIVE_UP_MS);
    const crowd = await timed(() => Promise.all(randomPans(64).map((pan) => remote.checkCard(pan))));
    expect(crowd.value.every((r) => r.degraded && r.degradedReason === 'DEADLINE_EXCEEDED')).to.equal(true);
    expect(crowd.ms).to.be.at.least(45).and.below(GIVE_UP_MS);
    const tight = await timed(() => remote.checkCard(listed, { deadlineMs: 5 }));
    expect(tight.value).to.deep.include({ degraded: true, degradedReason: 'DEADLINE_EXCEEDED' });
    expect(tight.ms).to.be.below(GIVE_UP_MS);
    // A call's own deadline replaces the client's (50 ms): a later one is waited for in full.
    const longer = await timed(() => remote.checkCard(listed, { deadlineMs: 1_000 }));
    expect(longer.value).to.deep.include({ degraded: true, degradedReason: 'DEADLINE_EXCEEDED' });
    expect(longer.ms, "the call's own deadline, not the client's").to.be.at.least(990).and.below(GIVE_UP_MS);

    await waitFor(() => mirror.sdkStatus().checksVia === 'node', 'the mirror to report itself stale', 30_000, 50);
    expect(mirror.sdkStatus().fallbackReason).to.match(/mirror not usable/);
    const stale = await timed(() => mirror.checkCard(randomPan()));
    expect(stale.value).to.deep.include({ degraded: true, source: 'fallback', degradedReason: 'DEADLINE_EXCEEDED' });
    expect(stale.ms).to.be.at.least(45).and.below(GIVE_UP_MS);

    node.resume();
    await waitFor(() => fromNode(remote, listed), 'the node to answer after SIGCONT', 30_000, 50);
    await waitFor(() => mirror.sdkStatus().checksVia === 'mirror', 'the mirror to be fresh again', 30_000, 50);
  });
});
