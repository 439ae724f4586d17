// The SDK's in-process filter mirror against a real node.
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import { FilterMirror } from '../../client-sdk/src/mirror';
import { MamoriClient } from '../../client-sdk/src/client';
import { panSelector } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

describe('filter mirror', function () {
  let n: InProcessNode;
  let key: Uint8Array;
  const digest = (pan: string) => MamoriClient.panDigest(pan, key);

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c', { filter: { capacity: 1000, targetFpRate: 1e-6 } });
    key = (await n.client.hashingKeys())[0]?.key as Uint8Array;
  });
  after(async () => {
    await n?.stop();
  });

  it('loads the node filter, answers negatives locally, and receives new selectors live', async () => {
    const before = randomPans(300);
    await n.client.publishCompromisedCards(before, { reason: 'phishing' });
    const mirror = FilterMirror.start({ target: n.target, token: n.token });
    try {
      expect(mirror.mayContain(digest(before[0] as string))).to.equal(undefined); // not loaded yet: ask the node
      expect(await mirror.whenReady(20_000)).to.equal(true);
      expect(before.every((p) => mirror.mayContain(digest(p)) === true)).to.equal(true);
      const negatives = Array.from({ length: 20_000 }, () => crypto.randomBytes(32));
      expect(negatives.filter((d) => mirror.mayContain(d) !== false).length).to.be.at.most(2);

      const later = randomPans(200);
      await n.client.publishCompromisedCards(later, { reason: 'skimming' });
      await waitFor(() => later.every((p) => mirror.mayContain(digest(p)) === true), 'the new selectors in the mirror', 10_000, 5);
      expect(mirror.status()).to.deep.include({ ready: true, stale: false });
      expect(mirror.status().items).to.equal(500);
    } finally {
      mirror.close();
    }
  });

  it('reloads when the node replaces its filter, and keeps every listed selector', async () => {
    const mirror = FilterMirror.start({ target: n.target, token: n.token });
    try {
      expect(await mirror.whenReady(20_000)).to.equal(true);
      const reloadsBefore = mirror.status().reloads;
      const more = randomPans(1200); // past the node's capacity of 1000: it grows its filter
      await n.client.publishCompromisedCards(more, { reason: 'malware' });
      await waitFor(() => mirror.status().reloads > reloadsBefore, 'the mirror to reload the grown filter', 20_000);
      await waitFor(() => mirror.mayContain(digest(more[0] as string)) === true, 'the mirror to answer again', 20_000);
      expect(more.every((p) => mirror.mayContain(digest(p)) === true)).to.equal(true);
      expect((await n.client.status()).filter?.capacity).to.be.at.least(2000);
    } finally {
      mirror.close();
    }
  });

  it('says it is stale when the node stops talking, instead of answering', async () => {
    const other = await startInProcessNode(await makeConsortium(), 'issuer-a');
    const mirror = FilterMirror.start({ target: other.target, token: other.token, staleAfterMs: 1500 });
    try {
      expect(await mirror.whenReady(20_000)).to.equal(true);
      await other.stop();
      // The stream ended: updates are no longer seen, so the copy stops answering at once.
      await waitFor(() => mirror.mayContain(crypto.randomBytes(32)) === undefined, 'the mirror to stop answering', 20_000);
      expect(mirror.status().stale).to.equal(true);
    } finally {
      mirror.close();
    }
  });

  it('refuses a client without the token', async () => {
    const mirror = FilterMirror.start({ target: n.target, token: 'wrong-token-wrong-token' });
    try {
      await waitFor(() => /not accepted/.test(mirror.status().reason ?? ''), 'the refusal', 10_000);
      expect(mirror.status().ready).to.equal(false);
    } finally {
      mirror.close();
    }
  });
});

describe('filter mirror loaded in many chunks', function () {
  // The smallest message cap a node accepts: bits in chunks of 32 KiB, a 50,000-capacity filter in 6.
  const CAP = 64 * 1024;
  let n: InProcessNode;
  let key: Uint8Array;

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c', { maxMessageBytes: CAP, filter: { capacity: 50_000, targetFpRate: 1e-6 } });
    key = (await n.client.hashingKeys())[0]?.key as Uint8Array;
  });
  after(async () => {
    await n?.stop();
  });

  it('holds the node\'s bits exactly, once, in the array the chunks were written to, and answers as the node', async () => {
    const listed = randomPans(2_000);
    // Publications of 500 cards stay under the node's 64 KiB message cap.
    for (let i = 0; i < listed.length; i += 500) await n.client.publishCompromisedCards(listed.slice(i, i + 500), { reason: 'phishing' });
    const node = n.parts.index.copy();
    expect(node.bits.length).to.be.greaterThan(4 * (CAP / 2)); // several chunks
    const mirror = FilterMirror.start({ target: n.target, token: n.token });
    try {
      expect(await mirror.whenReady(20_000)).to.equal(true);
      const bytes = mirror['filter']?.bitsetBytes();
      if (!bytes) throw new Error('the mirror holds no filter');
      expect(Buffer.compare(Buffer.from(bytes), node.bits)).to.equal(0);
      // Its own buffer of exactly the filter's size: not a view into a received message, not a second array.
      expect(bytes.byteOffset).to.equal(0);
      expect(bytes.buffer.byteLength).to.equal(node.bits.length);
      expect(mirror.status().items).to.equal(node.items);
      expect(listed.every((pan) => mirror.has(MamoriClient.panDigest(pan, key)))).to.equal(true);
      const others = Array.from({ length: 20_000 }, () => crypto.randomBytes(32));
      expect(others.map((d) => mirror.has(d))).to.deep.equal(others.map((d) => n.parts.index.mayContainAt(d, 0)));
    } finally {
      mirror.close();
    }
  });
});
