// Checks on oblivious PAN selectors (phase "oblivious", three real nodes): in mirror mode a
// first-seen card costs one evaluation round and then answers at mirror speed from the cached
// selector, with no RPC; the node refuses keyed PAN selectors from its clients; and the fail
// mode answers when the evaluation cannot (fewer than t evaluators reachable), as it does when
// the node does not answer, while cached cards keep being answered.
import { expect } from 'chai';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriClientError } from '../../client-sdk/src/errors';
import { panSelector } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { memberOf, runCli, tempDir } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

describe('consortium: checks on oblivious PAN selectors (phase "oblivious")', function () {
  this.timeout(300_000);
  let c: ConsortiumProcesses;
  const clients: MamoriClient[] = [];

  before(async () => {
    await sodiumReady();
    c = await startConsortium({ panSelectors: 'oblivious' });
  });
  after(async () => {
    for (const client of clients) client.close();
    await c?.stopAll();
  });

  function acquirer(options: Parameters<typeof MamoriClient.fromConfigFile>[1]): MamoriClient {
    const client = MamoriClient.fromConfigFile(memberOf(c.layout, 'acquirer-b').clientConfig, options);
    clients.push(client);
    return client;
  }

  it('mirror mode: a first-seen card costs one evaluation round, then the cached selector answers from the mirror with no RPC', async () => {
    const [listedCard, other] = randomPans(2, '454545') as [string, string];
    const published = await c.client('psp-c').publishCompromisedCards([listedCard], { reason: 'skimming' });
    await waitForFeed(c.client('acquirer-b'), 'psp-c', published.seq);

    const client = acquirer({ mode: 'mirror', deadlineMs: 10_000 });
    await client.waitForReady(30_000);
    await waitFor(() => client.sdkStatus().checksVia === 'mirror', 'the mirror to be usable', 30_000);

    const first = await client.checkCard(other);
    expect(first).to.include({ listed: false, source: 'mirror', degraded: false });
    expect(client.stats().selectors.batches).to.equal(1);
    const rpcs = client.stats().rpcs.total;
    for (let i = 0; i < 100; i++) expect(await client.checkCard(other)).to.include({ listed: false, source: 'mirror' });
    expect(client.stats().rpcs.total, 'no RPC for a cached card').to.equal(rpcs);
    expect(client.stats().selectors.batches).to.equal(1);

    const listed = await client.checkCard(listedCard);
    expect(listed).to.include({ listed: true, source: 'node', listingMembers: 1 });
  });

  it('mirror mode: a cached card the mirror said "not listed" is listed once a member publishes it, and the other cached cards stay answered by the mirror', async () => {
    const [card, other] = randomPans(2, '454545') as [string, string];
    const client = acquirer({ mode: 'mirror', deadlineMs: 10_000 });
    await client.waitForReady(30_000);
    await waitFor(() => client.sdkStatus().checksVia === 'mirror', 'the mirror to be usable', 30_000);
    for (const pan of [card, other]) expect(await client.checkCard(pan)).to.include({ listed: false, source: 'mirror' });
    // Answered from the verdict in each card's slot from now on: no RPC.
    const rpcs = client.stats().rpcs.total;
    for (let i = 0; i < 50; i++) for (const pan of [card, other]) expect(await client.checkCard(pan)).to.include({ listed: false, source: 'mirror' });
    expect(client.stats().rpcs.total).to.equal(rpcs);

    const published = await c.client('psp-c').publishCompromisedCards([card], { reason: 'skimming' });
    await waitForFeed(c.client('acquirer-b'), 'psp-c', published.seq);
    await waitFor(async () => (await client.checkCard(card)).listed, 'the published card to be listed through the mirror client', 30_000);
    expect(await client.checkCard(card)).to.include({ listed: true, source: 'node', listingMembers: 1 });
    expect(await client.checkCard(other)).to.include({ listed: false, source: 'mirror' });
    expect(client.stats().selectors.evaluation.rounds, 'both cards stayed cached: one round each').to.equal(2);

    // Retracted: the filter keeps the selector, so the node answers, and says not listed.
    await c.client('psp-c').retractCards([card], 'reissued');
    await waitFor(async () => !(await client.checkCard(card)).listed, 'the retracted card to be not listed', 30_000);
    expect(await client.checkCard(card)).to.include({ listed: false, source: 'node' });
  });

  it('refuses a keyed PAN publication from a client (FAILED_PRECONDITION naming the field) and takes oblivious selectors under key_epoch 0', async () => {
    const client = acquirer({ mode: 'remote' });
    expect(await client.panSelectorPhase()).to.equal('oblivious');
    const [key] = await client.hashingKeys();
    const digest = panSelector((key as { key: Uint8Array }).key, randomPans(1, '454545')[0] as string);
    const publish = (await client.publishPanDigests([digest], { reason: 'phishing' }, (key as { epoch: number }).epoch).catch((e: unknown) => e)) as MamoriClientError;
    expect(publish.code).to.equal('FAILED_PRECONDITION');
    expect(publish.message).to.match(/^publication\.indicators\[0\]\.selectors\[0\]: keyed PAN selectors are not published/);
    const refusedKeyEpoch = (await client.publishObliviousSelectors([Buffer.alloc(32, 7)], { reason: 'phishing' }).then(() => undefined, (e: unknown) => e)) as MamoriClientError | undefined;
    expect(refusedKeyEpoch, 'oblivious selectors under key_epoch 0 are accepted').to.equal(undefined);
  });

  it('`mamori evaluate cards` pre-evaluates a card base into a saved cache, resumes from it, and prints counts, never a card number', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'cards.txt');
    const cards = randomPans(50, '454545');
    fs.writeFileSync(file, [...cards, 'not-a-card'].join('\n') + '\n');
    const args = ['evaluate', 'cards', '--config', memberOf(c.layout, 'issuer-a').clientConfig, '--file', file, '--save-cache', path.join(dir, 'cache.json'), '--cache-key-file', path.join(dir, 'cache.key'), '--json'];
    const first = await runCli(args);
    expect(first.code, first.stderr).to.equal(0);
    expect(JSON.parse(first.stdout)).to.include({ lines: 51, cards: 50, evaluated: 50, rejected: 1, cacheEntries: 50 });
    const again = await runCli(args);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ cards: 50, evaluated: 0, alreadyCached: 50 });
    const everything = first.stdout + first.stderr + again.stdout + again.stderr + fs.readFileSync(path.join(dir, 'cache.json'), 'utf8');
    for (const pan of cards) for (const form of panForms(pan)) expect(everything).to.not.include(form);
  });

  it('fewer than t evaluators: a first-seen card gets the fail mode (open approves, closed holds for review); a cached card is still answered', async () => {
    const [cached, fresh] = randomPans(2, '454545') as [string, string];
    const open = acquirer({ mode: 'remote', failMode: 'open', deadlineMs: 5_000 });
    const closed = acquirer({ mode: 'remote', failMode: 'closed', deadlineMs: 5_000 });
    await open.checkCard(cached);
    // acquirer-b's own node stays up; two of the three evaluators go: t = 2 cannot be met.
    await c.kill('issuer-a');
    await c.kill('psp-c');
    expect(await open.checkCard(fresh)).to.include({ degraded: true, source: 'fallback', action: 'approve' });
    expect(await closed.checkCard(fresh)).to.include({ degraded: true, source: 'fallback', action: 'review' });
    expect(await open.checkCard(cached)).to.include({ degraded: false, source: 'node', listed: false });
  });
});
