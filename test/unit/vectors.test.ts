// The protocol's test vectors (vectors/, docs/protocol.md#test-vectors), both ways: the code
// reproduces every committed vector, and regenerating them in memory gives byte-identical
// files. A change of normalization, encoding or derivation fails here until the vectors (and
// the spec) change with it.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildVectorFiles } from '../../scripts/vectors/build';
import type { VectorFile } from '../../scripts/vectors/common';
import { CHECKS, checkMerchants, checkOblivious, checkPan } from '../../scripts/vectors/verify';
import type { MerchantCase } from '../../scripts/vectors/merchant';
import type { JapaneseAddressCase } from '../../scripts/vectors/jp-address';
import type { ObliviousCase } from '../../scripts/vectors/oblivious';
import type { PanCase } from '../../scripts/vectors/pan';

const VECTORS = path.resolve(__dirname, '../../../vectors');
const read = <Case>(name: string): VectorFile<Case> => JSON.parse(fs.readFileSync(path.join(VECTORS, name), 'utf8')) as VectorFile<Case>;

describe('protocol test vectors', function () {
  this.timeout(120_000);
  let generated: Map<string, string>;

  before(async () => {
    generated = await buildVectorFiles();
  });

  it('regenerates every file under vectors/ byte for byte, and vectors/ holds no other file', () => {
    const committed = fs.readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort();
    expect(committed, 'files under vectors/').to.deep.equal([...generated.keys()].sort());
    for (const [name, text] of generated) {
      const onDisk = fs.readFileSync(path.join(VECTORS, name), 'utf8');
      expect(onDisk === text, `vectors/${name} differs from what scripts/gen-vectors.ts gives (run npm run gen:vectors)`).to.equal(true);
    }
  });

  it('states in every file its format, version and the docs/protocol.md section it tests', () => {
    const spec = fs.readFileSync(path.resolve(__dirname, '../../../docs/protocol.md'), 'utf8');
    for (const name of generated.keys()) {
      const file = read<unknown>(name);
      expect(file.format, name).to.equal('mamori-vectors/1');
      expect(file.version, name).to.be.a('number');
      const anchor = /^docs\/protocol\.md#([a-z0-9-]+)$/.exec(file.spec)?.[1];
      expect(anchor, `${name}: spec`).to.be.a('string');
      expect(spec, `${name}: docs/protocol.md has the anchor ${anchor}`).to.include(`<a id="${anchor}"></a>`);
    }
  });

  for (const name of Object.keys(CHECKS)) {
    it(`reproduces every vector of ${name} with the code`, () => {
      const file = read<never>(name);
      expect(file.cases.length, `${name}: cases`).to.be.above(0);
      expect(CHECKS[name]?.(file)).to.deep.equal([]);
    });
  }

  it('holds at least 300 merchant vectors with near-misses of every field, and at least 50 Japanese addresses with near-misses', () => {
    const merchants = read<MerchantCase>('merchant-normalization.json').cases;
    expect(merchants.length).to.be.at.least(300);
    for (const field of ['name', 'address', 'nameAddress', 'domain', 'phone', 'corporateNumber', 'acquirerMid', 'representative']) {
      expect(merchants.some((c) => c.field === field && c.differsFrom !== undefined), `near-miss of ${field}`).to.equal(true);
      expect(merchants.some((c) => c.field === field && !c.expected.ok), `refusal of ${field}`).to.equal(true);
    }
    const addresses = read<JapaneseAddressCase>('japanese-addresses.json').cases;
    expect(addresses.length).to.be.at.least(50);
    expect(addresses.filter((c) => c.differsFrom !== undefined).length).to.be.at.least(10);
  });

  it('uses only synthetic card numbers for accepted PANs, and public test cards for the rest', () => {
    const file = read<PanCase>('pan-normalization.json');
    for (const c of file.cases) {
      if (!c.expected.ok) continue;
      const synthetic = c.expected.digits.startsWith('00');
      expect(synthetic || (c.publishable?.ok === false && c.id.startsWith('public-test-card-')), c.id).to.equal(true);
    }
  });

  it('reports a vector that the code does not reproduce (the checks can fail)', () => {
    const pan = read<PanCase>('pan-normalization.json');
    const accepted = pan.cases.find((c) => c.expected.ok) as PanCase;
    (accepted.expected as { selector: string }).selector = '00'.repeat(32);
    expect(checkPan(pan).join('\n')).to.include(accepted.id);

    const merchants = read<MerchantCase>('merchant-normalization.json');
    const near = merchants.cases.find((c) => c.differsFrom === 'name/acme') as MerchantCase;
    near.input = 'ACME Inc.'; // now normalizes to its group's value
    const problems = checkMerchants(merchants);
    expect(problems.some((p) => p.startsWith(near.id)), problems.join('\n')).to.equal(true);

    const oblivious = read<ObliviousCase>('oblivious-pan-selectors.json');
    const first = oblivious.cases[0] as ObliviousCase;
    const answer = first.replicatedMinimal.answers[0] as { elements: string[] };
    answer.elements[0] = first.blindedElement;
    expect(checkOblivious(oblivious).some((p) => p.startsWith(`${first.id}: replicatedMinimal`))).to.equal(true);
  });
});
