// What crosses the wire: a plain TCP relay between the client and the node keeps every byte,
// and no card number appears in them in any form. Malformed numbers cause no I/O at all.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import { panSelector } from '../../proto/ts/trust/domains';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { makeConsortium, rawExchange, bearer, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { Clients, tcpProxy, type TcpProxy } from './helpers';

describe('SDK: no card number leaves the process', function () {
  let n: InProcessNode;
  let proxy: TcpProxy;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c');
  });
  beforeEach(async () => {
    proxy = await tcpProxy(n.target);
  });
  afterEach(async () => {
    clients.closeAll();
    await proxy.close();
  });
  after(async () => {
    await n?.stop();
  });

  it('publish, check (mirror and remote), retract: every byte between client and node is free of the card numbers', async () => {
    const through = { target: proxy.target, token: n.token };
    const cards = randomPans(200);
    const [listed, unlisted] = [cards.slice(0, 100), cards.slice(100)];
    const publisher = clients.connect(through, { mode: 'remote' });
    await publisher.publishCompromisedCards(listed, { reason: 'merchant-breach', exposed: ['pan', 'cvv'] });

    for (const mode of ['remote', 'mirror'] as const) {
      const client = clients.connect(through, { mode, deadlineMs: 10_000 });
      await client.waitForReady(10_000);
      const results = await client.checkCards(cards);
      expect(results.map((r) => r.listed)).to.deep.equal(cards.map((_, i) => i < 100));
      // One at a time too, and in the grouped forms a person types.
      for (const pan of [...listed.slice(0, 10), ...unlisted.slice(0, 10)]) {
        for (const form of panForms(pan)) expect((await client.checkCard(form)).listed).to.equal(listed.includes(pan));
      }
      expect(client.stats().rpcs.Check, `${mode}: checks went to the node through the relay`).to.be.greaterThan(0);
    }
    await publisher.retractCards(listed.slice(0, 5), 'reissued');

    const bytes = proxy.bytes();
    expect(bytes.length, 'the relay carried the traffic').to.be.greaterThan(20_000);
    const found = cards.filter((pan) => panForms(pan).some((form) => bytes.includes(Buffer.from(form, 'utf8'))));
    expect(found, 'card numbers seen on the wire').to.deep.equal([]);

    // The search would have seen a number that did cross: sent here on purpose, as a string field.
    const canary = randomPans(1)[0] as string;
    const stub = rawExchange(proxy.target);
    await new Promise<void>((resolve) => stub.Unfreeze({ origin: canary }, bearer(n.token), { deadline: Date.now() + 5000 }, () => resolve()));
    stub.close();
    expect(proxy.bytes().includes(Buffer.from(canary, 'utf8')), 'the canary is visible to the search').to.equal(true);
  });

  it('refuses malformed card numbers before any I/O, naming the reason and never the digits', async () => {
    const client = clients.connect({ target: proxy.target, token: n.token }, { mode: 'remote', deadlineMs: 10_000 });
    await client.waitForReady(10_000);
    await client.checkCard(randomPans(1)[0] as string); // the channel is up
    const rpcs = client.stats().rpcs.total;
    const [key] = await client.hashingKeys();

    const cases = [
      ['4545 45ab 1234 5678', 'characters other than digits'],
      ['45454512345', 'too short'],
      ['45454512345678901234', 'too long'],
      ['4545451234567890', 'Luhn'],
      ['', 'empty'],
      [' - ', 'no digits'],
    ] as const;
    for (const [bad, reason] of cases) {
      const error = await client.checkCard(bad).then(
        () => expect.fail(`accepted a card number that ${reason}`),
        (e: unknown) => e as MamoriClientError,
      );
      expect(error).to.be.instanceOf(MamoriClientError);
      expect(error.code).to.equal('INVALID_PAN');
      expect(error.retryable).to.equal(false);
      expect(error.message).to.contain(reason);
      const digits = bad.replace(/\D/g, '');
      if (digits.length >= 6) expect(error.message).to.not.contain(digits.slice(0, 6));
    }
    const [good] = randomPans(1) as [string];
    const inBatch = await client.checkCards([good, '4545451234567890', good]).catch((e: MamoriClientError) => e);
    expect(inBatch).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'INVALID_PAN' });
    expect((inBatch as Error).message).to.match(/^card 2: .*Luhn/);

    // No sleep: the RPC count is the client's own, and a valid check after the refusals is a
    // barrier — on the one connection, anything the refusals had sent went out before it.
    expect(client.stats().rpcs.total, 'RPCs sent').to.equal(rpcs);
    expect(client.stats().invalidPans).to.equal(cases.length + 1);
    await client.checkCard(good);
    expect(client.stats().rpcs.total, 'RPCs sent, the barrier included').to.equal(rpcs + 1);
    const wire = proxy.bytes();
    const sentForms = [...cases.map(([bad]) => bad.replace(/\D/g, '')), '4545451234567890'].filter((digits) => digits.length > 0);
    for (const digits of sentForms) {
      expect(wire.includes(panSelector((key as { key: Uint8Array }).key, digits)), `a selector of ${digits.length} refused digits on the wire`).to.equal(false);
      expect(wire.includes(Buffer.from(digits)), 'refused digits on the wire').to.equal(false);
    }
    expect(wire.includes(panSelector((key as { key: Uint8Array }).key, good)), 'the barrier check itself is on the wire').to.equal(true);
  });
});
