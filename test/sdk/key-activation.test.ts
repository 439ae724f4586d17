// A hashing-key epoch that activates while SDK clients run: the node hands out upcoming epochs
// with their activation time, and a client created before the activation hashes under the new
// epoch as soon as it is active — it does not wait for its next key refresh (a minute), so a
// card published under the new epoch right after the activation is found at once.
import { expect } from 'chai';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { readClientConfig } from '../../client-sdk/src/config';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { rotateHashingKey } from '../../node/src/cli/keys-rotate';
import type { RunningNode } from '../../node/src/runtime/run-node';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { runMemberNode } from '../helpers/ops';
import { randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { Clients } from './helpers';

describe('SDK: a key epoch activating while clients run', function () {
  this.timeout(120_000);
  let layout: DevConsortiumLayout;
  let running: RunningNode | undefined;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    running = await runMemberNode(layout, 'psp-c', { consortiumPollMs: 100 });
  });
  after(async () => {
    clients.closeAll();
    await running?.stop();
  });

  it('hashes under the new epoch from its activation on, without waiting for the next refresh', async () => {
    const m = memberOf(layout, 'psp-c');
    const where = { target: m.listen, token: readClientConfig(m.clientConfig).token };
    const admin = clients.connect(where, { mode: 'remote', deadlineMs: 10_000 });

    const activeFromMs = Date.now() + 4_000;
    await rotateHashingKey({
      consortiumFile: path.join(layout.dir, 'consortium.json'),
      operatorKeyFile: path.join(layout.dir, 'operator', 'operator.key.json'),
      activateAtMs: activeFromMs,
    });
    await waitFor(async () => (await admin.status()).keyEpochs.some((e) => e.epoch === 2 && e.state === 'upcoming'), 'the node to hold upcoming epoch 2');

    // Clients created (and keyed) before the activation.
    const remote = clients.connect(where, { mode: 'remote', deadlineMs: 10_000 });
    const mirror = clients.connect(where, { mode: 'mirror', deadlineMs: 10_000 });
    await Promise.all([remote.waitForReady(20_000), mirror.waitForReady(20_000)]);
    expect(Date.now()).to.be.below(activeFromMs, 'the clients loaded their keys before the activation (raise the activation delay on a slow machine)');
    expect(remote.sdkStatus().keyEpochs).to.deep.equal([1]);
    const loadsBefore = remote.stats().rpcs.GetHashingKeys;

    await waitFor(() => Date.now() >= activeFromMs, 'epoch 2 to activate', 20_000);
    // A client keyed after the activation publishes under epoch 2 only.
    const publisher = clients.connect(where, { mode: 'remote', deadlineMs: 10_000 });
    expect((await publisher.hashingKeys()).map((k) => k.epoch)).to.deep.equal([2, 1]);
    const pan = randomPan();
    const published = await publisher.publishCompromisedCards([pan], { reason: 'phishing', exposed: ['pan'] });
    expect(published.accepted).to.equal(1);

    // Found at once by the clients keyed before; nowhere near the one-minute refresh.
    const startedMs = Date.now();
    expect((await remote.checkCard(pan)).listed).to.equal(true);
    expect(remote.sdkStatus().keyEpochs).to.deep.equal([2, 1]);
    await waitFor(async () => (await mirror.checkCard(pan)).listed, 'the mirror client to find the card', 20_000);
    expect(Date.now() - startedMs).to.be.below(30_000);
    // The activation also started a refresh (new dates from the node), in the background.
    await waitFor(() => remote.stats().rpcs.GetHashingKeys > loadsBefore, 'a key refresh at the activation', 20_000);
  });
});
