// The conformance runner against a real node: a dev consortium's acquirer on 127.0.0.1:0, the
// runner as a child process with a client.json, every vector passing; then a tampered vector
// reported as a failure, and a usage error.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { VectorFile } from '../../scripts/vectors/common';
import type { JapaneseAddressCase } from '../../scripts/vectors/jp-address';
import { startConsortium, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { makeConsortium, memberOf, startInProcessNode, tempDir, type InProcessNode } from '../helpers/node-harness';

const RUNNER = path.resolve(__dirname, '../../scripts/conformance.js');
const VECTORS = path.resolve(__dirname, '../../../vectors');

function runRunner(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUNNER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('conformance runner against a running node', function () {
  this.timeout(180_000);
  let node: InProcessNode;
  let clientFile: string;

  before(async () => {
    const layout = await makeConsortium();
    node = await startInProcessNode(layout, 'acquirer-b');
    clientFile = path.join(tempDir('mamori-conformance-'), 'client.json');
    fs.writeFileSync(clientFile, JSON.stringify({ member: 'acquirer-b', target: node.target, token: node.token }));
  });

  after(async () => {
    await node?.stop();
  });

  it('passes every vector: offline, cards published, checked and retracted, merchants screened, invalid requests refused', async () => {
    const { code, stdout, stderr } = await runRunner(['--client', clientFile]);
    expect(stdout.split('\n').filter((l) => l.startsWith('FAIL')), stderr).to.deep.equal([]);
    expect(code, stdout.slice(-2000) + stderr).to.equal(0);
    const passed = (prefix: string) => stdout.split('\n').filter((l) => l.startsWith(`PASS ${prefix}`)).length;
    expect(passed('offline merchant-normalization.json')).to.be.at.least(300);
    expect(passed('node pan-normalization.json'), 'card vectors on the node').to.be.at.least(20);
    expect(stdout, 'keyed phase: no oblivious selectors').to.not.include('(oblivious:');
    expect(passed('node merchant-normalization.json'), 'merchant screens').to.be.at.least(130);
    expect(passed('node japanese-addresses.json'), 'address screens').to.be.at.least(50);
    expect(passed('node acceptance.json'), 'refused requests').to.equal(11);
    expect(passed('node keyed-selectors.json bin-reserved')).to.equal(1);
    expect(stdout).to.match(/^\d+ passed, 0 failed, 0 skipped$/m);
    // What it published it retracted: the node lists nothing of the run.
    const status = await node.client.status();
    expect(status.ownFeed?.seq, 'entries signed: publish and retract of cards and merchants').to.equal(4);
  });

  it('reports a tampered vector as a failure, offline and on the node, and exits 1', async () => {
    const dir = tempDir('mamori-vectors-');
    for (const f of fs.readdirSync(VECTORS)) fs.copyFileSync(path.join(VECTORS, f), path.join(dir, f));
    const file = path.join(dir, 'japanese-addresses.json');
    const vectors = JSON.parse(fs.readFileSync(file, 'utf8')) as VectorFile<JapaneseAddressCase>;
    const near = vectors.cases.find((c) => c.differsFrom === 'marunouchi-1-1-1') as JapaneseAddressCase;
    const listing = vectors.cases.find((c) => c.group === 'marunouchi-1-1-1') as JapaneseAddressCase;
    near.v2 = listing.v2; // claims the near-miss normalizes to the listing's value
    fs.writeFileSync(file, JSON.stringify(vectors, null, 2));

    const { code, stdout } = await runRunner(['--client', clientFile, '--vectors', dir]);
    expect(code).to.equal(1);
    const failures = stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failures.some((l) => l.startsWith(`FAIL offline japanese-addresses.json ${near.id}:`)), failures.join('\n')).to.equal(true);
    expect(failures.some((l) => l.startsWith(`FAIL node japanese-addresses.json ${near.id} (screen): a near-miss`)), failures.join('\n')).to.equal(true);
    expect(stdout).to.match(/^\d+ passed, [1-9]\d* failed, 0 skipped$/m);
  });

  it('answers a usage error with the usage and exit 2', async () => {
    const missing = await runRunner([]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--client is required').and.to.include('usage: npm run conformance -- --client');
    const unknown = await runRunner(['--client', clientFile, '--vector', VECTORS]);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('unknown argument "--vector"');
    const notConfig = await runRunner(['--client', path.join(VECTORS, 'entries.json')]);
    expect(notConfig.code).to.equal(2);
    expect(notConfig.stderr).to.match(/entries\.json: .*member/);
  });
});

describe('conformance runner in the oblivious phase, through the consortium\'s evaluators', function () {
  this.timeout(240_000);
  let consortium: ConsortiumProcesses;

  before(async () => {
    consortium = await startConsortium({ panSelectors: 'oblivious' });
  });

  after(async () => {
    await consortium?.stopAll();
  });

  it('evaluates, publishes, checks and retracts the oblivious selectors of the card vectors, and lists no keyed PAN selector', async () => {
    const { code, stdout, stderr } = await runRunner(['--client', memberOf(consortium.layout, 'acquirer-b').clientConfig]);
    expect(stdout.split('\n').filter((l) => l.startsWith('FAIL')), stderr).to.deep.equal([]);
    expect(code).to.equal(0);
    const lines = stdout.split('\n');
    expect(lines.filter((l) => /^PASS node pan-normalization\.json .* \(oblivious: publish, check, retract\)$/.test(l)).length).to.be.at.least(20);
    expect(lines.some((l) => l.includes('(keyed:')), 'no keyed card selectors in the oblivious phase').to.equal(false);
    expect(lines.filter((l) => l.startsWith('PASS node merchant-normalization.json')).length).to.be.at.least(130);
  });
});
