// Card-listing alerts across three member processes: psp-c lists compromised cards, some in
// issuer-a's BIN ranges; issuer-a's node alerts issuer-a once per entry with the PAN selectors
// of its own cards only, through the SDK and through `mamori import cards`; nobody else is
// alerted, an issuer's own listing does not alert itself, and the alert survives a restart of
// the issuer's node between commit and subscription, once. What replicates carries no BIN:
// acquirer-b stores the listings with notices sealed to issuer-a and not one card's BIN.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { panSelector } from '../../proto/ts/trust/domains';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { IssuerNoticeKeys } from '../../node/src/exchange/issuer-routing';
import { decodeEntryBody } from '../../node/src/ledger/entry';
import { findIssuerNotice } from '../../node/src/ledger/issuer-notices';
import { Consortium, loadMemberIdentity } from '../../node/src/membership/consortium';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { randomPans } from '../helpers/cards';
import { memberOf, runCli } from '../helpers/node-harness';
import { replay, nextWithin } from '../helpers/alerts';

/**
 * The member's selectors of PANs, hex, sorted, as an issuer matches an alert against its card
 * base: oblivious ones (the phase "dual" of startConsortium publishes those), else keyed under
 * the newest key.
 */
async function digestsOf(client: MamoriClient, pans: readonly string[]): Promise<string[]> {
  if ((await client.panSelectorPhase()) !== 'keyed') return (await client.panSelectors(pans)).map((s) => s.toString('hex')).sort();
  const [key] = await client.hashingKeys();
  if (!key) throw new Error('no hashing key');
  return pans.map((pan) => panSelector(key.key, pan).toString('hex')).sort();
}

function hexDigests(alert: MamoriAlert): string[] {
  return (alert.cardListing?.panDigests ?? []).map((d) => Buffer.from(d).toString('hex')).sort();
}

describe('consortium: card-listing alerts', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses;

  before(async () => {
    c = await startConsortium({ panSelectors: 'dual' });
  });
  after(async () => {
    await c?.stopAll();
  });

  it("alerts the issuer once per entry with exactly the selectors of its own cards, and nobody else", async () => {
    const issuer = c.client('issuer-a');
    const following = issuer.alerts({ after: (await replay(issuer)).at(-1)?.id ?? 0, follow: true });
    try {
      const ours = [...randomPans(3, '454545'), ...randomPans(2, '35690012')];
      const others = randomPans(4, '52000012');
      const listed = await c.client('psp-c').publishCompromisedCards([...others.slice(0, 2), ...ours, ...others.slice(2)], {
        reason: 'merchant-breach',
        exposed: ['pan', 'cvv'],
        eventId: 'breach-2026-11',
      });
      expect(listed.accepted).to.equal(9);

      const alert = await nextWithin(following, 20_000, 'the card-listing alert');
      expect(alert.kind).to.equal('card-listing');
      expect(alert.cardListing).to.include({ origin: 'psp-c', seq: listed.seq, cards: 5, eventId: 'breach-2026-11', reason: 'REASON_CODE_MERCHANT_BREACH' });
      expect(alert.cardListing?.exposed).to.deep.equal(['DATA_ELEMENT_PAN', 'DATA_ELEMENT_CVV']);
      expect(hexDigests(alert), 'the digests of issuer-a cards, and only those').to.deep.equal(await digestsOf(issuer, ours));
      for (const d of alert.cardListing?.panDigests ?? []) expect(d.length).to.equal(32);

      // Cards of other ranges alone alert nobody; the other members get no alert at all.
      const unrelated = await c.client('psp-c').publishCompromisedCards(randomPans(3, '52000034'), { reason: 'phishing' });
      await waitForFeed(issuer, 'psp-c', unrelated.seq);
      await waitForFeed(c.client('acquirer-b'), 'psp-c', unrelated.seq);
      const all = (await replay(issuer)).filter((a) => a.kind === 'card-listing');
      expect(all.map((a) => a.cardListing?.seq)).to.deep.equal([listed.seq]);
      expect(await replay(c.client('psp-c'))).to.deep.equal([]);
      expect(await replay(c.client('acquirer-b'))).to.deep.equal([]);

      // issuer-a listing its own cards does not alert itself.
      const own = await issuer.publishCompromisedCards(randomPans(2, '454545'), { reason: 'skimming' });
      await waitForFeed(c.client('psp-c'), 'issuer-a', own.seq);
      expect((await replay(issuer)).filter((a) => a.kind === 'card-listing').map((a) => a.cardListing?.origin)).to.deep.equal(['psp-c']);

      // Nothing of the digests in the node's log.
      const log = fs.readFileSync(path.join(c.layout.dir, 'issuer-a', 'node.log'), 'utf8');
      expect(log).to.include('card-listing alert');
      for (const d of hexDigests(alert)) expect(log).to.not.include(d);
    } finally {
      await following.return(undefined);
    }
  });

  it('under "dual": a keyed listing made before the switch stays checkable beside oblivious ones; oblivious entries carry key_epoch 0', async () => {
    const psp = c.client('psp-c');
    expect(await psp.panSelectorPhase()).to.equal('dual');
    const [key] = await psp.hashingKeys();
    const old = randomPans(2, '454545');
    const fresh = randomPans(2, '454545');
    // An old client (or a listing of the keyed era): keyed selectors under the epoch key.
    const keyed = await psp.publishPanDigests(old.map((pan) => panSelector((key as { key: Uint8Array }).key, pan)), { reason: 'phishing' }, (key as { epoch: number }).epoch, old.map(() => '454545'));
    const oblivious = await psp.publishCompromisedCards(fresh, { reason: 'phishing' });
    const acquirer = c.client('acquirer-b');
    await waitForFeed(acquirer, 'psp-c', Math.max(keyed.seq, oblivious.seq));
    const results = await acquirer.checkCards([...old, ...fresh, ...randomPans(2, '454545')]);
    expect(results.map((r) => r.listed)).to.deep.equal([true, true, true, true, false, false]);
    // The entry of oblivious selectors carries key_epoch 0; the keyed one its epoch.
    const db = new Database(path.join(c.layout.dir, 'acquirer-b', 'data', 'mamori.db'), { readonly: true, fileMustExist: true });
    try {
      const epochOf = (seq: number) =>
        db.prepare(`SELECT e.key_epoch FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = 'psp-c' AND e.seq = ?`).pluck(true).get(seq);
      expect(epochOf(oblivious.seq)).to.equal(0);
      expect(epochOf(keyed.seq)).to.equal((key as { epoch: number }).epoch);
    } finally {
      db.close();
    }
  });

  it('refuses a BIN that is not 6 to 8 digits, naming the indicator, and publishes nothing', async () => {
    const psp = c.client('psp-c');
    const [key] = await psp.hashingKeys();
    const pans = randomPans(2, '454545');
    const digests = pans.map((pan) => panSelector((key as { key: Uint8Array }).key, pan));
    const seqBefore = (await psp.status()).ownFeed?.seq;
    const refused = await psp.publishPanDigests(digests, { reason: 'phishing' }, (key as { epoch: number }).epoch, ['454545', '4545']).catch((e: unknown) => e);
    expect((refused as MamoriClientError).code).to.equal('INVALID_ARGUMENT');
    expect((refused as Error).message).to.match(/^publication\.indicators\[1\]\.bin: /);
    const mismatched = await psp.publishPanDigests(digests, { reason: 'phishing' }, (key as { epoch: number }).epoch, ['454545']).catch((e: unknown) => e);
    expect((mismatched as MamoriClientError).code).to.equal('INVALID_ARGUMENT');
    expect((await psp.status()).ownFeed?.seq).to.equal(seqBefore);
  });

  it('`mamori import cards` carries the BIN: the issuer is alerted with its cards of the file, and `mamori alerts` prints no digest', async () => {
    const issuer = c.client('issuer-a');
    const before = (await replay(issuer)).at(-1)?.id ?? 0;
    const ours = randomPans(4, '356900');
    const file = path.join(c.layout.dir, 'leak.csv');
    fs.writeFileSync(file, ['pan', ...randomPans(3, '52000056'), ...ours, ...randomPans(2, '52000078')].join('\n') + '\n');
    const r = await runCli(['import', 'cards', '--config', memberOf(c.layout, 'psp-c').clientConfig, '--file', file, '--reason', 'malware', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({ imported: 9, entries: 1 });

    const following = issuer.alerts({ after: before, follow: true });
    const alert = await nextWithin(following, 20_000, 'the alert of the imported file').finally(() => following.return(undefined));
    expect(alert.cardListing).to.include({ origin: 'psp-c', cards: 4, reason: 'REASON_CODE_MALWARE' });
    expect(hexDigests(alert)).to.deep.equal(await digestsOf(issuer, ours));

    const human = await runCli(['alerts', '--config', memberOf(c.layout, 'issuer-a').clientConfig, '--after', String(before)]);
    expect(human.code, human.stderr).to.equal(0);
    expect(human.stdout).to.match(/card-listing: 4 of your card\(s\) listed by psp-c/);
    for (const d of hexDigests(alert)) expect(human.stdout).to.not.include(d);
    const json = await runCli(['alerts', '--config', memberOf(c.layout, 'issuer-a').clientConfig, '--after', String(before), '--json']);
    expect(json.code, json.stderr).to.equal(0);
    const printed = JSON.parse(json.stdout.trim().split('\n')[0] as string) as { cardListing: { panDigests: string[] } };
    expect([...printed.cardListing.panDigests].sort()).to.deep.equal(hexDigests(alert));
  });

  it('a subscriber resumes from its cursor across a restart of the issuer node: none missed, none repeated', async () => {
    const subscriber = MamoriClient.fromConfigFile(memberOf(c.layout, 'issuer-a').clientConfig, { mode: 'remote' });
    try {
      const earlier = await replay(subscriber);
      const following = subscriber.alerts({ after: earlier.at(-1)?.id ?? 0, follow: true });
      const first = await c.client('psp-c').publishCompromisedCards(randomPans(2, '454545'), { reason: 'phishing' });
      const seen = [await nextWithin(following, 20_000, 'the alert before the restart')];
      expect(seen[0]?.cardListing?.seq).to.equal(first.seq);

      // The issuer's node is down when the next listing commits elsewhere; it catches up, alerts,
      // and the same iterator resumes after the last alert it yielded.
      await c.kill('issuer-a');
      const second = await c.client('psp-c').publishCompromisedCards(randomPans(3, '356900'), { reason: 'phishing' });
      await c.start('issuer-a');
      seen.push(await nextWithin(following, 60_000, 'the alert raised while the subscriber was disconnected'));
      await following.return(undefined);
      expect(seen[1]?.cardListing).to.include({ seq: second.seq, cards: 3 });

      const all = await replay(subscriber, earlier.at(-1)?.id ?? 0);
      expect(all.map((a) => a.id), 'every alert once, in order').to.deep.equal(seen.map((a) => a.id));
    } finally {
      subscriber.close();
    }
  });

  it('an alert committed before the issuer node restarts is there after it, exactly once', async () => {
    const issuer = c.client('issuer-a');
    const before = (await replay(issuer)).at(-1)?.id ?? 0;
    const listed = await c.client('psp-c').publishCompromisedCards(randomPans(2, '454545'), { reason: 'skimming' });
    await waitForFeed(issuer, 'psp-c', listed.seq);
    await c.kill('issuer-a');
    await c.start('issuer-a');
    const after = await replay(c.client('issuer-a'), before);
    expect(after.map((a) => [a.kind, a.cardListing?.origin, a.cardListing?.seq])).to.deep.equal([['card-listing', 'psp-c', listed.seq]]);
  });
  it('replicates no BIN: every publication stored at acquirer-b has empty bins, psp-c\'s reach issuer-a by sealed notices', async () => {
    const pspHead = (await c.client('psp-c').status()).ownFeed?.seq ?? 0;
    const issuerHead = (await c.client('issuer-a').status()).ownFeed?.seq ?? 0;
    await waitForFeed(c.client('acquirer-b'), 'psp-c', pspHead);
    await waitForFeed(c.client('acquirer-b'), 'issuer-a', issuerHead);
    const db = new Database(path.join(c.layout.dir, 'acquirer-b', 'data', 'mamori.db'), { readonly: true, fileMustExist: true });
    try {
      const rows = db
        .prepare(`SELECT o.member AS origin, e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id WHERE e.operation = 'publishIndicators'`)
        .all() as { origin: string; body: Buffer }[];
      const cardListings = rows.map((r) => ({ origin: r.origin, body: r.body, publication: decodeEntryBody(r.body).publishIndicators })).filter((r) => r.publication?.kind === 'INDICATOR_KIND_COMPROMISED_CARD');
      expect(cardListings.filter((r) => r.origin === 'psp-c').length, 'psp-c listings replicated to acquirer-b').to.be.greaterThan(5);
      for (const { origin, body, publication } of cardListings) {
        const bins = (publication?.indicators ?? []).map((i) => i.bin ?? '').filter((bin) => bin !== '');
        expect(bins, `BINs in ${origin}'s entry`).to.deep.equal([]);
        for (const range of ['454545', '356900', '520000']) expect(body.includes(Buffer.from(range)), `${range} in ${origin}'s body`).to.equal(false);
      }
      // No notice names its issuer; issuer-a's keys recognise its own, acquirer-b's (sent none) recognise nothing.
      const notices = cardListings.flatMap((r) => r.publication?.issuerNotices ?? []);
      expect(notices.map((n) => n.issuer).filter((issuer) => issuer !== ''), 'issuer ids in clear').to.deep.equal([]);
      expect(notices.every((n) => n.tag.length === 16)).to.equal(true);
      const keysOf = (id: string) => {
        const config = loadNodeConfig(memberOf(c.layout, id).nodeConfig);
        const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
        return IssuerNoticeKeys.forMember(loadMemberIdentity(config.memberKeyFile).box, () => consortium);
      };
      const [issuerKeys, acquirerKeys] = [keysOf('issuer-a'), keysOf('acquirer-b')];
      const noticed = cardListings.filter((r) => r.origin === 'psp-c' && findIssuerNotice(r.publication?.issuerNotices, 'psp-c', 'issuer-a', issuerKeys));
      expect(noticed.length, 'psp-c listings with a notice to issuer-a').to.be.greaterThan(3);
      expect(cardListings.filter((r) => findIssuerNotice(r.publication?.issuerNotices, r.origin, 'acquirer-b', acquirerKeys)), 'recognised by acquirer-b').to.deep.equal([]);
    } finally {
      db.close();
    }
  });
});
