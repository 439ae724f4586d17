// Remote mode: concurrent checks share Check RPCs, and every answer is still the right one.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import type { MamoriClient } from '../../client-sdk/src/client';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { Clients, countServedChecks } from './helpers';

describe('SDK remote mode: coalesced Check RPCs', function () {
  let n: InProcessNode;
  let listed: string[];
  let unlisted: string[];
  let epochs: number;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c');
    listed = randomPans(300);
    unlisted = randomPans(300);
    await n.client.publishCompromisedCards(listed, { reason: 'phishing' });
    epochs = (await n.client.hashingKeys()).length;
  });
  afterEach(() => clients.closeAll());
  after(async () => {
    await n?.stop();
  });

  /** Listed and unlisted cards interleaved, with the answer each must get. */
  const mixed = (): [string, boolean][] => listed.flatMap((pan, i) => [[pan, true], [unlisted[i] as string, false]] as [string, boolean][]);

  async function runConcurrently(client: MamoriClient, cards: [string, boolean][], callers: number): Promise<string[]> {
    const wrong: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: callers }, async () => {
        while (next < cards.length) {
          const [pan, expected] = cards[next++] as [string, boolean];
          const r = await client.checkCard(pan);
          const ok = r.listed === expected && r.source === 'node' && !r.degraded && r.action === (expected ? 'step_up' : 'approve') && r.listingMembers === (expected ? 1 : 0);
          if (!ok) wrong.push(`card #${next}: expected listed=${expected}, got ${JSON.stringify({ ...r, evidence: r.evidence.length })}`);
        }
      }),
    );
    return wrong;
  }

  it('64 concurrent callers share a few Check RPCs, and all 600 answers are right', async () => {
    // A long deadline: this test is about answers and RPC counts, and the node shares this thread.
    const client = clients.connect(n, { mode: 'remote', deadlineMs: 10_000 });
    await client.waitForReady(10_000);
    const served = countServedChecks(n);
    const before = client.stats();

    const cards = mixed();
    const wrong = await runConcurrently(client, cards, 64);

    const after = client.stats();
    const rpcs = after.rpcs.Check - before.rpcs.Check;
    expect(wrong).to.deep.equal([]);
    expect(served.calls, 'the node served exactly the RPCs the client counts').to.equal(rpcs);
    expect(served.selectors).to.equal(cards.length * epochs);
    // 600 checks by 64 callers: about one RPC per round of 64; never one per check.
    expect(rpcs, `${rpcs} RPCs for ${cards.length} checks`).to.be.at.most(cards.length / 16);
    expect(after.batching.largestBatch).to.be.at.least(32 * epochs);
    expect(after.checks.node - before.checks.node).to.equal(cards.length);
  });

  it('splits a large checkCards call into batches of at most maxSize selectors', async () => {
    const client = clients.connect(n, { mode: 'remote', deadlineMs: 10_000, batch: { maxSize: 100 } });
    await client.waitForReady(10_000);
    const served = countServedChecks(n);
    const cards = mixed();
    const results = await client.checkCards(cards.map(([pan]) => pan));
    expect(results.map((r) => r.listed)).to.deep.equal(cards.map(([, expected]) => expected));
    expect(results.every((r) => r.source === 'node' && !r.degraded)).to.equal(true);
    expect(served.calls).to.equal(Math.ceil((cards.length * epochs) / 100));
    expect(client.stats().batching.largestBatch).to.equal(100);
  });

  it('with a small maxInFlight, checks that arrive while an RPC is out accumulate into larger batches', async () => {
    // One check per event-loop turn: with unlimited RPCs in flight each turn sends its own.
    const rpcsFor = async (maxInFlight: number) => {
      const client = clients.connect(n, { mode: 'remote', deadlineMs: 10_000, batch: { maxInFlight } });
      await client.waitForReady(10_000);
      const served = countServedChecks(n);
      const cards = mixed();
      const pending: Promise<boolean>[] = [];
      for (const [pan, expected] of cards) {
        pending.push(client.checkCard(pan).then((r) => r.listed === expected));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await Promise.all(pending)).every(Boolean)).to.equal(true);
      return served.calls;
    };
    const unlimited = await rpcsFor(1024);
    const one = await rpcsFor(1);
    expect(one, `maxInFlight 1: ${one} RPCs; unlimited: ${unlimited}`).to.be.below(unlimited / 2);
  });

  it('by default a batch is what arrived in one event-loop turn; windowMs gathers a few milliseconds', async () => {
    const spaced = async (client: MamoriClient) => {
      const before = client.stats().rpcs.Check;
      // Three checks in three different event-loop turns: a turn's batch is flushed by a
      // setImmediate queued before the next check's turn, so no timing is involved.
      const pending: Promise<unknown>[] = [];
      for (const pan of unlisted.slice(0, 3)) {
        pending.push(client.checkCard(pan as string));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(pending);
      return client.stats().rpcs.Check - before;
    };
    const perTurn = clients.connect(n, { mode: 'remote', deadlineMs: 10_000 });
    // A window far longer than three event-loop turns take, even on a loaded machine.
    const windowed = clients.connect(n, { mode: 'remote', deadlineMs: 10_000, batch: { windowMs: 1000 } });
    await Promise.all([perTurn.waitForReady(10_000), windowed.waitForReady(10_000)]);
    expect(await spaced(perTurn)).to.equal(3);
    expect(await spaced(windowed)).to.equal(1);
  });

  it('a check still waiting for its batch when the client closes is refused, not lost', async () => {
    const client = clients.connect(n, { mode: 'remote', deadlineMs: 10_000 });
    await client.waitForReady(10_000);
    const pending = client.checkCards(unlisted.slice(0, 10));
    client.close();
    const error = await pending.then(
      () => expect.fail('answered after close'),
      (e: unknown) => e as MamoriClientError,
    );
    expect(error).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'FAILED_PRECONDITION' });
  });
});
