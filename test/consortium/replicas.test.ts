// Read replicas with real node processes: a replica of issuer-a, made by `mamori member replica`
// from the member's directory, follows every feed (its own member's included, relayed by the
// peers), answers checks and feeds an SDK mirror; it keeps doing so while its signer is
// SIGKILLed and catches up once the signer is back; every write call is refused with
// FAILED_PRECONDITION naming the signer and changes nothing; it never evaluates; and no PAN
// used here reaches its data directory or any log.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { filesUnder, freePortBlock, memberOf, runCli, spawnNode, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { expectRefused, nextWithin, replay } from '../helpers/alerts';

describe('consortium: a read replica of a member (real processes)', function () {
  this.timeout(300_000);
  let c: ConsortiumProcesses;
  let replicaDir: string;
  let replica: NodeProcess;
  let remote: MamoriClient;
  let mirror: MamoriClient;
  const signerDir = () => path.dirname(memberOf(c.layout, 'issuer-a').nodeConfig);
  const usedPans: string[] = [];
  const pans = (count: number): string[] => {
    const fresh = randomPans(count, '454545');
    usedPans.push(...fresh);
    return fresh;
  };

  before(async () => {
    await sodiumReady();
    c = await startConsortium({ panSelectors: 'oblivious' });
    replicaDir = path.join(c.layout.dir, 'issuer-a-replica');
    const port = await freePortBlock(1);
    const made = await runCli(['member', 'replica', '--dir', signerDir(), '--out', replicaDir, '--api', `127.0.0.1:${port}`, '--json']);
    expect(made.code, made.stderr).to.equal(0);
    replica = spawnNode(path.join(replicaDir, 'node.json'), path.join(replicaDir, 'node.log'));
    const clientConfig = path.join(replicaDir, 'client.json');
    await waitUntilServing(clientConfig);
    remote = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote', deadlineMs: 30_000 });
    mirror = MamoriClient.fromConfigFile(clientConfig, { mode: 'mirror', deadlineMs: 30_000 });
    // Oblivious selectors need t = 2 evaluators over the replica's peer links (never itself).
    await waitFor(async () => (await remote.status()).peers.filter((p) => p.connected).length === 2, 'the replica to reach both peers', 60_000, 50);
  });

  after(async () => {
    remote?.close();
    mirror?.close();
    if (replica && replica.child.exitCode === null && replica.child.signalCode === null) {
      replica.child.kill('SIGTERM');
      await replica.exited;
    }
    await c?.stopAll();
  });

  it('`mamori member replica` writes a key file without the signing key (0600), a node.json naming the signer and no peer listener', async () => {
    const keyFile = path.join(replicaDir, 'replica.key.json');
    const keys = JSON.parse(fs.readFileSync(keyFile, 'utf8')) as { member: string; signing: Record<string, string>; auditKey?: object };
    expect(keys.member).to.equal('issuer-a');
    expect(keys.signing).to.have.keys(['publicKey']);
    expect(keys.auditKey).to.have.keys(['publicKey', 'secretKey', 'endorsement']);
    expect(fs.statSync(keyFile).mode & 0o777).to.equal(0o600);
    const config = JSON.parse(fs.readFileSync(path.join(replicaDir, 'node.json'), 'utf8')) as Record<string, unknown>;
    const endpoint = c.layout.members.find((m) => m.id === 'issuer-a')?.endpoint;
    expect(config).to.include({ member: 'issuer-a', replicaOf: endpoint });
    expect(config).not.to.have.property('peerListen');

    const status = await remote.status();
    expect(status.replicaOf).to.equal(endpoint);
    expect(status.ownFeedRecovery).to.include({ state: 'replica', acceptingWrites: false });
    expect(status.oprf?.evaluatorState).to.equal('replica');
    expect(status.auditChain?.state).to.not.equal('broken');
    // Its audit anchor is signed with its own audit key, endorsed by the member's signing key.
    const audit = await runCli(['audit', 'verify', '--config', path.join(replicaDir, 'node.json')]);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
  });

  it('a node refuses a replica config holding the signing key, and a key file without it when replicaOf is absent', async () => {
    const config = JSON.parse(fs.readFileSync(path.join(replicaDir, 'node.json'), 'utf8')) as Record<string, unknown>;
    const withSigningKey = path.join(replicaDir, 'node-with-signing-key.json');
    fs.writeFileSync(withSigningKey, JSON.stringify({ ...config, memberKeyFile: path.join(signerDir(), 'member.key.json'), dataDir: './data-refused' }));
    const refused = await runCli(['start', '--config', withSigningKey]);
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/signing\.secretKey: a read replica \(replicaOf in the node config\) runs without the member's signing key/);
    const withoutReplicaOf = path.join(replicaDir, 'node-without-replica-of.json');
    const { replicaOf: _ignored, ...signerLike } = config;
    fs.writeFileSync(withoutReplicaOf, JSON.stringify({ ...signerLike, dataDir: './data-refused' }));
    const unsigned = await runCli(['start', '--config', withoutReplicaOf]);
    expect(unsigned.code).to.not.equal(0);
    expect(unsigned.stderr).to.match(/signing\.secretKey: missing: this is a read replica's key file/);
    expect(fs.existsSync(path.join(replicaDir, 'data-refused')), 'nothing opened').to.equal(false);
  });

  it("answers checks for cards published by other members and by its own signer, and an SDK mirror against it sees them", async () => {
    const [byPsp, byAcquirer, bySigner, unlisted] = pans(4) as [string, string, string, string];
    const psp = await c.client('psp-c').publishCompromisedCards([byPsp], { reason: 'skimming' });
    const acquirer = await c.client('acquirer-b').publishCompromisedCards([byAcquirer], { reason: 'phishing' });
    const signer = await c.client('issuer-a').publishCompromisedCards([bySigner], { reason: 'merchant-breach' });
    await waitForFeed(remote, 'psp-c', psp.seq);
    await waitForFeed(remote, 'acquirer-b', acquirer.seq);
    await waitForFeed(remote, 'issuer-a', signer.seq);

    for (const [pan, origin] of [[byPsp, 'psp-c'], [byAcquirer, 'acquirer-b'], [bySigner, 'issuer-a']] as const) {
      const check = await remote.checkCard(pan);
      expect(check, origin).to.include({ listed: true, listingMembers: 1 });
      expect(check.evidence.map((e) => e.origin)).to.deep.equal([origin]);
    }
    expect(await remote.checkCard(unlisted)).to.include({ listed: false });

    await mirror.waitForReady(30_000);
    await waitFor(() => mirror.sdkStatus().checksVia === 'mirror', 'the mirror to be usable', 30_000);
    for (const pan of [byPsp, byAcquirer, bySigner]) expect(await mirror.checkCard(pan)).to.include({ listed: true, source: 'node' });
    expect(await mirror.checkCard(unlisted)).to.include({ listed: false, source: 'mirror' });
  });

  it('refuses every write with FAILED_PRECONDITION naming the member and its signer, and writes nothing', async () => {
    const endpoint = c.layout.members.find((m) => m.id === 'issuer-a')?.endpoint as string;
    const before = await remote.status();
    const [card] = pans(1) as [string];
    const writes: [string, () => Promise<unknown>][] = [
      ['publish', () => remote.publishCompromisedCards([card], { reason: 'phishing' })],
      ['retract', () => remote.retractCards([card], 'reissued')],
      ['sighting', () => remote.reportSighting({ pan: card, outcome: 'true_positive' })],
      ['card testing', () => remote.reportCardTesting({ bin: '454545', attempts: 120, declines: 110 })],
      ['watch list', () => remote.watchMerchants([{ domain: 'replica-shop.example' }])],
    ];
    for (const [what, write] of writes) {
      const error = await expectRefused(write(), 'FAILED_PRECONDITION');
      expect(error.message, what).to.include(`this node is a read replica of member "issuer-a": writes go to its signer (${endpoint})`);
    }
    const cli = await runCli(['publish', 'card', '-', '--config', path.join(replicaDir, 'client.json')], { input: `${card}\n` });
    expect(cli.code).to.not.equal(0);
    expect(cli.stderr).to.include('writes go to its signer');

    const after = await remote.status();
    const heads = (s: typeof before) => s.feeds.map((f) => `${f.origin}:${f.seq}:${Buffer.from(f.headHash).toString('hex')}`).sort();
    expect(heads(after)).to.deep.equal(heads(before));
    expect(after.entries).to.equal(before.entries);
    expect(await remote.checkCard(card)).to.include({ listed: false });
  });

  it("keeps answering checks and feeding the mirror while its signer is SIGKILLed, and catches up after the signer returns", async () => {
    const [beforeKill, whileDown, afterReturn] = pans(3) as [string, string, string];
    const early = await c.client('psp-c').publishCompromisedCards([beforeKill], { reason: 'skimming' });
    await waitForFeed(remote, 'psp-c', early.seq);

    // The member's alerts (issuer-a owns BIN 454545) keep coming from the replica.
    const following = remote.alerts({ after: (await replay(remote)).at(-1)?.id ?? 0, follow: true });
    await c.kill('issuer-a', 'SIGKILL');
    expect(await remote.checkCard(beforeKill)).to.include({ listed: true });
    const down = await c.client('acquirer-b').publishCompromisedCards([whileDown], { reason: 'phishing' });
    await waitForFeed(remote, 'acquirer-b', down.seq);
    expect(await remote.checkCard(whileDown)).to.include({ listed: true, listingMembers: 1 });
    const alert = await nextWithin(following, 30_000, 'the card-listing alert at the replica').finally(() => following.return(undefined));
    expect(alert.cardListing).to.include({ origin: 'acquirer-b', cards: 1, reason: 'REASON_CODE_PHISHING' });
    // The mirror's filter takes the new publication from the replica's stream: a local positive, confirmed there.
    await waitFor(async () => (await mirror.checkCard(whileDown)).listed, 'the mirror to see a publication made while the signer is down', 60_000, 100);
    expect(await mirror.checkCard(whileDown)).to.include({ listed: true, source: 'node' });

    await c.start('issuer-a');
    const back = await c.client('issuer-a').publishCompromisedCards([afterReturn], { reason: 'malware' });
    await waitForFeed(remote, 'issuer-a', back.seq);
    expect(await remote.checkCard(afterReturn)).to.include({ listed: true });
    await waitFor(async () => (await mirror.checkCard(afterReturn)).listed, "the mirror to see the returned signer's publication", 60_000, 100);
    const status = await remote.status();
    expect(status.feeds.find((f) => f.origin === 'issuer-a')?.seq).to.equal(back.seq);
  });

  it('no card number used here is in the replica directory, its log or any node log', async () => {
    const files = [...filesUnder(replicaDir), ...filesUnder(c.layout.dir).filter((f) => f.endsWith('.log'))];
    for (const file of files) {
      const content = fs.readFileSync(file).toString('latin1');
      for (const pan of usedPans) for (const form of panForms(pan)) expect(content.includes(form), `${form} in ${file}`).to.equal(false);
    }
  });
});
