// The second-implementation trial (interop/python/): a Python script written from
// docs/protocol.md alone reproduces the vectors. Runs when python3 is on the path (it is on the
// CI image); skipped, saying why, where it is not.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../helpers/node-harness';

const ROOT = path.resolve(__dirname, '../../..');
const TRIAL = path.join(ROOT, 'interop', 'python', 'mamori_trial.py');
const VECTORS = path.join(ROOT, 'vectors');

function runTrial(vectors: string): { status: number | null; stdout: string; stderr: string } {
  // -B: no __pycache__ written into the repository.
  const r = spawnSync('python3', ['-B', TRIAL, '--vectors', vectors], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('second implementation (Python, from docs/protocol.md alone)', function () {
  this.timeout(180_000);

  before(function () {
    const probe = spawnSync('python3', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      this.skip(); // python3 is not installed here: the trial cannot run (it does on CI's Debian image)
    }
  });

  it('reproduces the vectors it implements with no mismatch', () => {
    const { status, stdout, stderr } = runTrial(VECTORS);
    expect(status, stdout + stderr).to.equal(0);
    const total = /^total: (\d+) reproduced, (\d+) mismatches, (\d+) skipped$/m.exec(stdout);
    expect(total, stdout).to.not.equal(null);
    expect(Number(total?.[1])).to.be.at.least(750);
    expect(Number(total?.[2])).to.equal(0);
    expect(stdout).to.match(/^oblivious: blind, evaluate, combine, unblind, finalize\s+reproduced\s+\d+\s+mismatch\s+0/m);
    expect(stdout).to.match(/^Japanese addresses v2 \+ name\+address selector\s+reproduced\s+82\s/m);
  });

  it('reports a vector it does not reproduce', () => {
    const dir = tempDir('mamori-python-vectors-');
    for (const f of fs.readdirSync(VECTORS)) fs.copyFileSync(path.join(VECTORS, f), path.join(dir, f));
    const file = path.join(dir, 'oblivious-pan-selectors.json');
    const vectors = JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: { selector: string }[] };
    (vectors.cases[0] as { selector: string }).selector = '00'.repeat(32);
    fs.writeFileSync(file, JSON.stringify(vectors));
    const { status, stdout } = runTrial(dir);
    expect(status).to.equal(1);
    expect(stdout).to.match(/^MISMATCH oblivious: .*unblinded, output, selector/m);
  });
});
