// The `mamori` command line against a real node process.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { filesUnder, makeConsortium, memberOf, runCli, spawnNode, tempDir, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { panForms, randomPan, randomPans } from '../helpers/cards';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { MamoriClient } from '../../client-sdk/src/client';
import { waitFor } from '../helpers/wait';

describe('mamori CLI with a node process', function () {
  let layout: DevConsortiumLayout;
  let node: NodeProcess;
  let client: string;
  const outputs: string[] = [];
  const usedPans: string[] = [];
  const cli = async (args: string[], input?: string) => {
    const r = await runCli(args, { input });
    outputs.push(r.stdout, r.stderr);
    return r;
  };

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    const m = memberOf(layout, 'psp-c');
    client = m.clientConfig;
    node = spawnNode(m.nodeConfig, path.join(layout.dir, 'psp-c', 'node.log'));
    await waitUntilServing(client);
  });

  after(async () => {
    if (node && node.child.exitCode === null) {
      node.child.kill('SIGKILL');
      await node.exited;
    }
  });

  it('dev-consortium writes every member its configs, with keys and tokens readable by the owner only', () => {
    for (const m of layout.members) {
      for (const f of ['member.key.json', 'client.json']) {
        expect(fs.statSync(path.join(layout.dir, m.id, f)).mode & 0o777, `${m.id}/${f}`).to.equal(0o600);
      }
      const clientJson = JSON.parse(fs.readFileSync(m.clientConfig, 'utf8')) as Record<string, unknown>;
      expect(clientJson).to.have.keys(['member', 'target', 'token', 'deadlineMs']);
      expect(clientJson.target).to.equal(m.listen);
    }
    expect(fs.statSync(path.join(layout.dir, 'operator', 'operator.key.json')).mode & 0o777).to.equal(0o600);
  });

  it('imports a CSV (BOM, CRLF, quoted fields, pan column not first) and reports rejects by line, never the number', async () => {
    const good = randomPans(300);
    usedPans.push(...good);
    const testCard = '4242424242424242';
    const lines = ['name,"pan",expiry'];
    good.forEach((pan, i) => lines.push(i % 3 === 0 ? `"Holder, ${i}","${pan.replace(/(.{4})(?!$)/g, '$1 ')}",12/29` : `h${i},${pan},12/29`));
    const luhnBad = `${good[0]?.slice(0, 15)}${(Number(good[0]?.[15]) + 1) % 10}`;
    lines.push('x,4545 45ab 0000 1111,01/30'); // line 302
    lines.push(`x,${luhnBad},01/30`); // 303
    lines.push('x,,01/30'); // 304
    lines.push(`x,${testCard},01/30`); // 305
    lines.push(`x,${good[5]},01/30`); // 306: duplicate within the file
    const file = path.join(tempDir(), 'leak.csv');
    fs.writeFileSync(file, `\uFEFF${lines.join('\r\n')}\r\n`);

    const r = await cli(['import', 'cards', '--config', client, '--file', file, '--reason', 'merchant-breach', '--exposure', 'pan,expiry,cvv', '--event', 'breach-42', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    const summary = JSON.parse(r.stdout) as { imported: number; duplicates: number; rejected: number; rejections: { line: number; reason: string }[] };
    expect(summary.imported).to.equal(300);
    expect(summary.duplicates).to.equal(1);
    expect(summary.rejected).to.equal(4);
    expect(summary.rejections.map((x) => x.line)).to.deep.equal([302, 303, 304, 305]);
    expect(summary.rejections.map((x) => x.reason).join(' | ')).to.match(/characters other than digits.*Luhn.*empty.*public test card/);
    for (const pan of [...good.slice(0, 10), luhnBad, testCard]) expect(r.stdout + r.stderr).to.not.contain(pan);

    const check = await cli(['check', 'card', good[0] as string, '--config', client, '--json']);
    const verdict = JSON.parse(check.stdout) as { listed: boolean; evidence: { origin: string; reason: string; exposed: string[]; eventId: string }[] };
    expect(verdict.listed).to.equal(true);
    expect(verdict.evidence[0]).to.deep.include({ origin: 'psp-c', reason: 'REASON_CODE_MERCHANT_BREACH', eventId: 'breach-42' });
    expect(verdict.evidence[0]?.exposed).to.deep.equal(['DATA_ELEMENT_PAN', 'DATA_ELEMENT_EXPIRY', 'DATA_ELEMENT_CVV']);
  });

  it('imports one PAN per line (LF, no header); a re-import counts duplicates', async () => {
    const pans = randomPans(120);
    usedPans.push(...pans);
    const file = path.join(tempDir(), 'list.txt');
    fs.writeFileSync(file, `${pans.join('\n')}\n\n`);
    const first = JSON.parse((await cli(['import', 'cards', '--config', client, '--file', file, '--json', '--batch-size', '50'])).stdout) as { imported: number; entries: number };
    expect(first).to.deep.include({ imported: 120, entries: 3 });
    const again = JSON.parse((await cli(['import', 'cards', '--config', client, '--file', file, '--json'])).stdout) as { imported: number; duplicates: number };
    expect(again).to.deep.include({ imported: 0, duplicates: 120 });
  });

  it('publishes, checks and retracts one card; the card can come from standard input', async () => {
    const pan = randomPan();
    usedPans.push(pan);
    expect((await cli(['check', 'card', pan, '--config', client])).stdout.trim()).to.equal('NOT LISTED');
    const published = await cli(['publish', 'card', '-', '--config', client, '--reason', 'phishing'], `${pan}\n`);
    expect(published.code, published.stderr).to.equal(0);
    expect(published.stdout).to.match(/Published as entry #\d+/);
    const listed = await cli(['check', 'card', '-', '--config', client], pan);
    expect(listed.stdout).to.match(/^LISTED by 1 member\(s\); recommended action: step-up\n {2}psp-c: phishing/);
    const retracted = await cli(['retract', 'card', pan, '--config', client, '--reason', 'reissued', '--json']);
    expect(JSON.parse(retracted.stdout)).to.deep.include({ retracted: 1, notListed: 0 });
    expect((await cli(['check', 'card', pan, '--config', client])).stdout.trim()).to.equal('NOT LISTED');
  });

  it('status prints the feed, the counts and the filter', async () => {
    const r = await cli(['status', '--config', client, '--json']);
    const s = JSON.parse(r.stdout) as { member: string; indicators: number; ownFeed: { seq: number; headHash: string }; filter: { bits: number } };
    expect(s.member).to.equal('psp-c');
    expect(s.indicators).to.equal(421);
    expect(s.ownFeed.headHash).to.match(/^[0-9a-f]{64}$/);
    expect(s.filter.bits).to.be.greaterThan(1_000_000);
    const text = await cli(['status', '--config', client]);
    expect(text.stdout).to.contain('member psp-c (psp)').and.contain('estimated false-positive rate');
  });

  it('an import whose node is killed and restarted mid-way sends the batches in flight again and loses no card', async function () {
    this.timeout(180_000);
    const pans = randomPans(30_000);
    usedPans.push(...pans.slice(0, 50));
    const file = path.join(tempDir(), 'restart.txt');
    fs.writeFileSync(file, `${pans.join('\n')}\n`);
    const m = memberOf(layout, 'psp-c');
    const sdk = MamoriClient.fromConfigFile(client, { mode: 'remote', deadlineMs: 10_000 });
    try {
      const ownSeq = async () => (await sdk.status()).feeds.find((f) => f.origin === 'psp-c')?.seq ?? 0;
      const before = await ownSeq();
      const importing = runCli(['import', 'cards', '--config', client, '--file', file, '--json', '--batch-size', '500', '--in-flight', '2'], { timeoutMs: 240_000 }).then((r) => {
        outputs.push(r.stdout, r.stderr);
        return r;
      });
      await waitFor(async () => (await ownSeq()) >= before + 4 || undefined, 'the import under way', 60_000);
      node.child.kill('SIGKILL');
      await node.exited;
      node = spawnNode(m.nodeConfig, path.join(layout.dir, 'psp-c', 'node.log'));
      const r = await importing;
      const summary = JSON.parse(r.stdout) as { imported: number; duplicates: number; retried: number; error?: string };
      expect(summary.error, r.stdout).to.equal(undefined);
      expect(r.code).to.equal(0);
      expect(summary.retried, 'batches sent again').to.be.greaterThan(0);
      expect(summary.imported + summary.duplicates).to.equal(pans.length);
      const sample = pans.filter((_p, i) => i % 20 === 0);
      const results = await sdk.checkCards(sample);
      expect(results.filter((x) => !x.listed).length, 'cards of the file not listed after the import').to.equal(0);
    } finally {
      sdk.close();
    }
  });

  it('explains bad input clearly and exits non-zero', async () => {
    const bad = await cli(['check', 'card', '4545 4512 3456 7890', '--config', client]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('fails the Luhn check digit').and.not.contain('4545');
    const noPanColumn = path.join(tempDir(), 'nopan.csv');
    fs.writeFileSync(noPanColumn, 'card,expiry\n4545451234567897,01/30\n');
    const r = await cli(['import', 'cards', '--config', client, '--file', noPanColumn]);
    expect(r.code).to.equal(1);
    expect(r.stdout + r.stderr).to.contain('none is named "pan"');
    const headerless = path.join(tempDir(), 'headerless.csv');
    const secretPan = randomPan();
    fs.writeFileSync(headerless, `${secretPan},Taro Yamada,12/29\n`);
    const h = await cli(['import', 'cards', '--config', client, '--file', headerless]);
    expect(h.code).to.equal(1);
    expect(h.stdout + h.stderr).to.contain('none is named "pan"').and.not.contain(secretPan.slice(0, 8)).and.not.match(/taro/i);
    const badOption = await cli(['import', 'cards', '--config', client, '--file', noPanColumn, '--exposure', 'pan,shoe-size']);
    expect(badOption.code).to.not.equal(0);
    expect(badOption.stderr).to.contain('unknown data element "shoe-size"');
    // The review published `publish card - --event 3569002484648863`: refused, never echoed.
    for (const event of ['3569002484648863', '3569 0024 8464 8863', 'evt-3569-0024-8464-8863']) {
      const card = randomPan();
      const withPanEvent = await cli(['publish', 'card', '-', '--config', client, '--reason', 'phishing', '--event', event], `${card}\n`);
      expect(withPanEvent.code, event).to.equal(1);
      expect(withPanEvent.stderr).to.contain('--event looks like a card number').and.not.contain('8863');
      expect((await cli(['check', 'card', '-', '--config', client], card)).stdout.trim()).to.equal('NOT LISTED');
    }
    const freeText = await cli(['publish', 'card', '-', '--config', client, '--event', 'breach at shop'], `${randomPan()}\n`);
    expect(freeText.code).to.equal(1);
    expect(freeText.stderr).to.contain('--event must be 1-64 characters');
    const wrongConfig = path.join(tempDir(), 'node.json');
    const nodeJson = JSON.parse(fs.readFileSync(memberOf(layout, 'issuer-a').nodeConfig, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(wrongConfig, JSON.stringify({ ...nodeJson, listen: 'everywhere', filter: { capacity: 10, targetFpRate: 1e-6 } }));
    const start = await cli(['start', '--config', wrongConfig]);
    expect(start.code).to.equal(1);
    expect(start.stderr).to.contain(wrongConfig).and.contain('listen: expected host:port').and.contain('filter.capacity');
  });

  it('stops cleanly on SIGTERM, and nothing in the data, logs or output holds a card number', async () => {
    node.child.kill('SIGTERM');
    const exit = await node.exited;
    expect(exit.code).to.equal(0);
    const log = fs.readFileSync(node.logFile, 'utf8');
    expect(log).to.contain('"msg":"stopped"');
    const haystacks = [...filesUnder(path.join(layout.dir, 'psp-c', 'data')).map((f) => fs.readFileSync(f)), Buffer.from(log), Buffer.from(outputs.join('\n'))];
    expect(usedPans.length).to.be.greaterThan(400);
    for (const h of haystacks) for (const pan of usedPans) for (const form of panForms(pan)) expect(h.includes(form), 'a card number was found').to.equal(false);
  });
});
