// examples/authorization-pipeline.ts as a reader would run it: a child process with a
// client.json, HTTP requests in, decisions out.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { makeConsortium, startInProcessNode, tempDir, type InProcessNode } from '../helpers/node-harness';
import { panForms, randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const EXAMPLE = path.resolve(__dirname, '../../examples/authorization-pipeline.js');

describe('examples/authorization-pipeline', function () {
  this.timeout(60_000);
  let n: InProcessNode;
  let child: ChildProcess;
  let output = '';
  let base = '';
  let cards: { plain: string; cvv: string; unlisted: string };

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c');
    const [plain, cvv] = randomPans(2) as [string, string];
    cards = { plain, cvv, unlisted: randomPan() };
    await n.client.publishCompromisedCards([plain], { reason: 'phishing' });
    await n.client.publishCompromisedCards([cvv], { reason: 'malware', exposed: ['pan', 'cvv'], confidence: 90 });
    const config = path.join(tempDir(), 'client.json');
    fs.writeFileSync(config, JSON.stringify({ member: 'psp-c', target: n.target, token: n.token }));
    child = spawn(process.execPath, [EXAMPLE, '--config', config, '--port', '0', '--deadline-ms', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    base = await waitFor(() => /listening on (http:\/\/\S+)/.exec(output)?.[1], `the example to listen (output: ${output})`, 30_000, 20);
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await n?.stop();
  });

  const authorize = async (body: unknown) => {
    const res = await fetch(`${base}/authorize`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return { status: res.status, body: (await res.json()) as { decision?: string; challenge?: string; error?: string; mamori?: { listed: boolean; source: string } } };
  };

  it('approves an unlisted card, challenges a listed one with 3-D Secure, holds a CVV-exposed one for review', async () => {
    const approve = await authorize({ pan: cards.unlisted, amount: 1200, currency: 'JPY' });
    expect(approve).to.deep.include({ status: 200 });
    expect(approve.body).to.deep.include({ decision: 'approve' });
    expect(approve.body.mamori).to.deep.include({ listed: false });

    const challenge = await authorize({ pan: panForms(cards.plain)[1], amount: 98_000, currency: 'JPY' });
    expect(challenge.body).to.deep.include({ decision: 'challenge', challenge: 'emv-3ds' });
    expect(challenge.body.mamori).to.deep.include({ listed: true, source: 'node' });

    const review = await authorize({ pan: cards.cvv, amount: 5000 });
    expect(review.body).to.deep.include({ decision: 'review' });
  });

  it('refuses a malformed card number with the reason, and a body without one', async () => {
    const bad = await authorize({ pan: '4545 4512 3456 7890' });
    expect(bad.status).to.equal(400);
    expect(bad.body.error).to.contain('Luhn');
    expect((await authorize({ amount: 5 })).status).to.equal(400);
  });

  it('reports the SDK status on /health, and never printed a card number', async () => {
    const health = (await (await fetch(`${base}/health`)).json()) as { mode: string; checksVia: string; stats: { checks: { total: number } } };
    expect(health).to.deep.include({ mode: 'mirror' });
    expect(health.stats.checks.total).to.be.at.least(3);
    for (const pan of Object.values(cards)) for (const form of panForms(pan)) expect(output).to.not.contain(form);
  });
});
