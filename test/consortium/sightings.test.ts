// Corroboration across three member processes (docs/design.md#corroboration): a check counts the distinct
// members listing a card; sightings from any member, replicated to every node, move the
// score; the false positive of the card's own issuer (issuer-a owns BIN 454545 in the dev
// consortium) outweighs the others. No card number, and no BIN, reaches a file or a log.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import type { CardCheckResult } from '../../client-sdk/src/results';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { filesUnder, memberOf, runCli } from '../helpers/node-harness';
import { panForms, randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'] as const;

async function expectRefused(promise: Promise<unknown>, code: string): Promise<MamoriClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code, (error as Error).message).to.equal(code);
    return error as MamoriClientError;
  }
  throw new Error(`expected ${code}`);
}

describe('consortium: corroboration and sightings', function () {
  this.timeout(240_000);
  let c: ConsortiumProcesses;
  const pan = randomPan('45454512');
  const cliPan = randomPan('45454512');

  before(async () => {
    c = await startConsortium({ panSelectors: 'dual' });
  });
  after(async () => {
    await c?.stopAll();
  });

  /** Waits until every member's node answers the card with a result that satisfies `ok`; returns the answers. */
  async function atEveryNode(card: string, ok: (r: CardCheckResult) => boolean, what: string): Promise<CardCheckResult[]> {
    const answers: CardCheckResult[] = [];
    for (const id of MEMBERS) {
      let last: CardCheckResult | undefined;
      await waitFor(
        async () => ok((last = await c.client(id).checkCard(card))),
        `${what} at ${id} (last: score ${last?.score}, ${JSON.stringify(last?.sightings)})`,
        60_000,
        50,
      );
      answers.push(last as CardCheckResult);
    }
    return answers;
  }

  it('counts listing members, and moves the score with true and false positives, the issuer weighing most', async () => {
    const details = { reason: 'phishing' as const, exposed: ['pan' as const], confidence: 80 };
    const byPsp = await c.client('psp-c').publishCompromisedCards([pan], details);
    const byAcquirer = await c.client('acquirer-b').publishCompromisedCards([pan], { ...details, reason: 'skimming' });
    await waitForFeed(c.client('issuer-a'), 'psp-c', byPsp.seq);
    await waitForFeed(c.client('issuer-a'), 'acquirer-b', byAcquirer.seq);

    const listed = await c.client('issuer-a').checkCard(pan);
    expect(listed).to.include({ listed: true, listingMembers: 2 });
    expect(listed.evidence.map((e) => e.origin).sort()).to.deep.equal(['acquirer-b', 'psp-c']);
    expect(listed.sightings).to.deep.equal({ seen: 0, truePositive: 0, falsePositive: 0, issuerFalsePositive: false });
    const listedScore = listed.score;
    expect(listedScore).to.be.within(81, 99); // two members corroborate a confidence-80 listing

    // A listing member cannot confirm its own listing: once replicated everywhere, its true positive changed nothing.
    const own = await c.client('acquirer-b').reportSighting({ pan, outcome: 'true_positive' });
    expect(own.recorded).to.equal(1);
    for (const id of MEMBERS) {
      await waitForFeed(c.client(id), 'acquirer-b', own.seq);
      expect(await c.client(id).checkCard(pan), `at ${id}`).to.deep.include({ score: listedScore, sightings: listed.sightings });
    }

    // The issuer, which does not list the card, confirms fraud on it: the score rises at every node once replicated.
    const tp = await c.client('issuer-a').reportSighting({ pan, outcome: 'true_positive' });
    expect(tp.recorded).to.equal(1);
    const confirmed = await atEveryNode(pan, (r) => r.sightings.truePositive === 1, 'the true positive');
    for (const r of confirmed) expect(r.score).to.be.above(listedScore);
    // Repeating a sighting is one member's word once.
    await c.client('issuer-a').reportSighting({ pan, outcome: 'true_positive' });

    // The PSP says false positive about a card it lists itself: that counts (it speaks against its own listing).
    await c.client('psp-c').reportSighting({ pan, outcome: 'false_positive' });
    const disputed = await atEveryNode(pan, (r) => r.sightings.falsePositive === 1, 'the PSP\'s false positive');
    for (const r of disputed) {
      expect(r.score).to.be.below((confirmed[0] as CardCheckResult).score);
      expect(r.sightings).to.deep.equal({ seen: 0, truePositive: 1, falsePositive: 1, issuerFalsePositive: false });
    }
    const othersOnly = (disputed[0] as CardCheckResult).score;

    // The issuer owning the card's BIN range changes its word to false positive: its latest report
    // replaces its true positive, and it outweighs the others by far.
    await c.client('issuer-a').reportSighting({ pan, outcome: 'false_positive' });
    const refuted = await atEveryNode(pan, (r) => r.sightings.issuerFalsePositive, "the issuer's false positive");
    for (const r of refuted) {
      expect(r.sightings).to.deep.equal({ seen: 0, truePositive: 0, falsePositive: 2, issuerFalsePositive: true });
      expect(r.score, `score with the issuer's false positive vs ${othersOnly} without`).to.be.below(othersOnly - 50);
      expect(r.listed, 'the listing stands: only its lister retracts it').to.equal(true);
    }
    expect(new Set(refuted.map((r) => r.score)).size, 'every node computes the same score').to.equal(1);

    // In mirror mode a local hit goes to the node for evidence: the score and sightings come with it.
    const mirrored = MamoriClient.fromConfigFile(memberOf(c.layout, 'issuer-a').clientConfig, { mode: 'mirror', deadlineMs: 30_000 });
    try {
      await waitFor(async () => (await mirrored.waitForReady(30_000)).checksVia === 'mirror', 'the mirror to load', 60_000, 50);
      const viaMirror = await mirrored.checkCard(pan);
      expect(viaMirror).to.include({ listed: true, source: 'node', score: (refuted[0] as CardCheckResult).score });
      expect(viaMirror.sightings.issuerFalsePositive).to.equal(true);
      const miss = await mirrored.checkCard(randomPan('45454512'));
      expect(miss).to.include({ listed: false, source: 'mirror', score: 0 });
      expect(miss.sightings.truePositive).to.equal(0);
    } finally {
      mirrored.close();
    }
  });

  it('refuses bad sightings through the SDK with INVALID_ARGUMENT naming the field, and stores nothing', async () => {
    const client = c.client('psp-c');
    const before = (await client.status()).ownFeed?.seq ?? 0;
    const future = await expectRefused(client.reportSighting({ pan, outcome: 'seen', observedAtMs: Date.now() + 24 * 3600_000 }), 'INVALID_ARGUMENT');
    expect(future.message).to.match(/^sightings\[0\]\.seenAtMs: is in the future/);
    const seconds = await expectRefused(client.reportSightings([{ pan, outcome: 'seen' }, { pan: cliPan, outcome: 'seen', observedAtMs: 1_750_000_000 }]), 'INVALID_ARGUMENT');
    expect(seconds.message).to.match(/^sightings\[1\]\.seenAtMs: /);
    const twice = await expectRefused(client.reportSightings([{ pan, outcome: 'seen' }, { pan, outcome: 'true_positive' }]), 'INVALID_ARGUMENT');
    expect(twice.message).to.match(/^sightings\[1\]: repeats/);
    const outcome = await expectRefused(client.reportSighting({ pan, outcome: 'maybe' as never }), 'INVALID_ARGUMENT');
    expect(outcome.message).to.match(/^sightings\[0\]\.outcome: /);
    await expectRefused(client.reportSighting({ pan: '4545 4512 3457', outcome: 'seen' }), 'INVALID_PAN');
    expect((await client.status()).ownFeed?.seq ?? 0, 'no entry was signed').to.equal(before);
    expect((await client.checkCard(pan)).sightings.seen, 'no sighting was stored').to.equal(0);
  });

  it('mamori report sighting reads the card from standard input; mamori check card shows the score', async () => {
    const config = memberOf(c.layout, 'psp-c').clientConfig;
    const published = await runCli(['publish', 'card', '-', '--config', config, '--reason', 'phishing'], { input: `${cliPan}\n` });
    expect(published.code, published.stderr).to.equal(0);
    // Another member confirms it (the lister's own confirmation would not count).
    const reporterConfig = memberOf(c.layout, 'acquirer-b').clientConfig;
    const reported = await runCli(['report', 'sighting', '-', '--outcome', 'true-positive', '--config', reporterConfig, '--json'], { input: `${cliPan}\n` });
    expect(reported.code, reported.stderr).to.equal(0);
    const sighted = JSON.parse(reported.stdout) as { recorded: number; seq: number };
    expect(sighted).to.include({ recorded: 1 });
    await waitForFeed(c.client('psp-c'), 'acquirer-b', sighted.seq);
    const checked = await runCli(['check', 'card', '-', '--config', config], { input: `${cliPan}\n` });
    expect(checked.code, checked.stderr).to.equal(0);
    expect(checked.stdout).to.match(/corroboration score 90\/100; sightings by members: 1 true positive, 0 false positive, 0 seen/);
    const bad = await runCli(['report', 'sighting', '-', '--outcome', 'fraud', '--config', config], { input: `${cliPan}\n` });
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/--outcome/);
    for (const out of [published, reported, checked, bad]) for (const form of panForms(cliPan)) expect(out.stdout + out.stderr).to.not.contain(form);
  });

  it('leaves no card number and no BIN of a sighted card in any data file or log', async () => {
    const bins = [pan.slice(0, 8), cliPan.slice(0, 8)];
    for (const id of MEMBERS) {
      const haystacks = [...filesUnder(path.join(c.layout.dir, id, 'data')), path.join(c.layout.dir, id, 'node.log')].map((f) => fs.readFileSync(f));
      expect(haystacks.length).to.be.greaterThan(1);
      for (const h of haystacks) {
        for (const card of [pan, cliPan]) for (const form of panForms(card)) expect(h.includes(form), `a card number in ${id}'s files`).to.equal(false);
        for (const bin of bins) expect(h.includes(bin), `a sighted card's BIN in ${id}'s files`).to.equal(false);
      }
    }
  });
});
