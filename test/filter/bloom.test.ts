import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BitSet } from 'bloom-filters';
import { DigestBloomFilter } from '../../node/src/filter/digest-bloom';
import { readSnapshot, writeSnapshot } from '../../node/src/filter/snapshot';

/** n random 32-byte digests, as views into one buffer (selectors are uniform BLAKE2b-256 outputs). */
function randomDigests(n: number): Buffer[] {
  const pool = randomBytes(32 * n);
  const out: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = pool.subarray(32 * i, 32 * i + 32);
  return out;
}

/** Negatives tested in chunks so the test never holds millions of digests at once. */
function measureFalsePositives(filter: DigestBloomFilter, trials: number): number {
  const chunk = 100_000;
  let positives = 0;
  for (let done = 0; done < trials; done += chunk) {
    const pool = randomBytes(32 * chunk);
    for (let off = 0; off < pool.length; off += 32) {
      if (filter.has(pool.subarray(off, off + 32))) positives++;
    }
  }
  return positives / trials;
}

/** The position derivation in BigInt, written from the definition, as a reference. */
function referencePositions(digest: Uint8Array, m: number, k: number): Set<number> {
  const u64 = (o: number) =>
    (BigInt(Buffer.from(digest).readUInt32LE(o)) << 32n) + BigInt(Buffer.from(digest).readUInt32LE(o + 4));
  const M = BigInt(m);
  let x = u64(0) % M;
  let y = u64(8) % M;
  const out = new Set<number>();
  for (let i = 0; i < k; i++) {
    out.add(Number(x));
    x = (x + y) % M;
    y = (y + BigInt(i + 1)) % M;
  }
  return out;
}

function setBits(bytes: Uint8Array): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) continue;
    for (let b = 0; b < 8; b++) if (bytes[i] & (1 << b)) out.add(i * 8 + b);
  }
  return out;
}

describe('index: DigestBloomFilter', function () {
  this.timeout(30_000);

  it('sizes m and k from capacity and target rate', () => {
    const f = DigestBloomFilter.forCapacity(1_000_000, 1e-6);
    expect(f.params).to.deep.equal({ bits: 28_755_176, hashes: 20, capacity: 1_000_000, targetFpRate: 1e-6 });
    expect(f.bitsetBytes().length).to.equal(Math.ceil(28_755_176 / 8));
  });

  it('has no false negatives over 100k random digests', () => {
    const f = DigestBloomFilter.forCapacity(100_000, 1e-6);
    const digests = randomDigests(100_000);
    for (const d of digests) f.add(d);
    let missing = 0;
    for (const d of digests) if (!f.has(d)) missing++;
    expect(missing).to.equal(0);
    // A plain Uint8Array (not a Buffer) gives the same answer.
    expect(f.has(new Uint8Array(digests[0]))).to.equal(true);
    expect(f.items).to.equal(100_000);
    expect(f.overCapacity()).to.equal(false);
    f.add(digests[0]); // items counts add() calls, duplicates included
    expect(f.items).to.equal(100_001);
    expect(f.overCapacity()).to.equal(true);
  });

  for (const target of [1e-4, 1e-3]) {
    it(`keeps the measured false-positive rate within 2x the configured ${target} at full load`, () => {
      const capacity = 200_000;
      const f = DigestBloomFilter.forCapacity(capacity, target);
      for (const d of randomDigests(capacity)) f.add(d);
      const measured = measureFalsePositives(f, 2_000_000);
      expect(measured, `measured ${measured}, target ${target}`).to.be.at.most(2 * target);
      // The filter's own estimate at this load is close to the target as well.
      expect(f.estimatedFpRate()).to.be.within(target / 2, target * 2);
      expect(f.fill()).to.be.within(0.45, 0.55);
    });
  }

  it('sets exactly the bits of the reference (BigInt) derivation, in BitSet layout', () => {
    const cases: Array<[number, number]> = [[100_000_007, 20], [1_000, 7], [2, 1]];
    const digests = [Buffer.alloc(32, 0xff), Buffer.alloc(32, 0), ...randomDigests(10)];
    for (const [m, k] of cases) {
      for (const d of digests) {
        const f = new DigestBloomFilter({ bits: m, hashes: k, capacity: 1, targetFpRate: 0.5 });
        f.add(d);
        const expected = referencePositions(d, m, k);
        expect(setBits(f.bitsetBytes())).to.deep.equal(expected);
        // The package's BitSet reads the same bits.
        const bitset = new BitSet(m);
        bitset.array = f.bitsetBytes();
        for (const pos of expected) expect(bitset.has(pos)).to.equal(true);
        expect(bitset.bitCount()).to.equal(expected.size);
      }
    }
  });

  it('keeps fill() equal to the set bits as counted by BitSet, also after a reload', () => {
    const f = DigestBloomFilter.forCapacity(5_000, 1e-3);
    for (let i = 0; i < 3_000; i++) f.add(randomBytes(32));
    const counted = BitSet.import({ size: f.params.bits, content: Buffer.from(f.bitsetBytes()).toString('base64') }).bitCount();
    expect(f.fill()).to.equal(counted / f.params.bits);
    const copy = new DigestBloomFilter(f.params, BitSet.import({ size: f.params.bits, content: Buffer.from(f.bitsetBytes()).toString('base64') }), f.items);
    expect(copy.fill()).to.equal(f.fill());
  });

  it('over() answers from the given bytes themselves: same array, same answers, later adds land in it', () => {
    const f = DigestBloomFilter.forCapacity(5_000, 1e-4);
    const listed = randomDigests(3_000);
    for (const d of listed) f.add(d);
    const bytes = Uint8Array.from(f.bitsetBytes());
    const over = DigestBloomFilter.over(f.params, bytes, f.items);
    expect(over.bitsetBytes()).to.equal(bytes); // the very array, not a copy
    expect(over.items).to.equal(f.items);
    expect(over.fill()).to.equal(f.fill());
    expect(listed.every((d) => over.has(d))).to.equal(true);
    const others = randomDigests(20_000);
    expect(others.map((d) => over.has(d))).to.deep.equal(others.map((d) => f.has(d)));
    const later = randomBytes(32);
    over.add(later);
    f.add(later);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(f.bitsetBytes()))).to.equal(0);
  });

  it('over() refuses bytes of the wrong length for the parameters', () => {
    const { params } = DigestBloomFilter.forCapacity(1_000, 1e-3);
    const bytes = Math.ceil(params.bits / 8);
    expect(() => DigestBloomFilter.over(params, new Uint8Array(bytes - 1), 0)).to.throw(RangeError, /bytes/);
    expect(() => DigestBloomFilter.over(params, new Uint8Array(bytes + 1), 0)).to.throw(RangeError, /bytes/);
  });

  it('rejects digests that are not 32 bytes', () => {
    const f = DigestBloomFilter.forCapacity(10, 0.01);
    expect(() => f.add(new Uint8Array(31))).to.throw(RangeError, /digest/);
    expect(() => f.has(new Uint8Array(33))).to.throw(RangeError, /digest/);
  });

  it('rejects absurd sizing with a RangeError naming the parameter', () => {
    expect(() => DigestBloomFilter.forCapacity(0, 1e-6)).to.throw(RangeError, /capacity/);
    expect(() => DigestBloomFilter.forCapacity(-5, 1e-6)).to.throw(RangeError, /capacity/);
    expect(() => DigestBloomFilter.forCapacity(1.5, 1e-6)).to.throw(RangeError, /capacity/);
    expect(() => DigestBloomFilter.forCapacity(Number.NaN, 1e-6)).to.throw(RangeError, /capacity/);
    expect(() => DigestBloomFilter.forCapacity(1000, 0)).to.throw(RangeError, /targetFpRate/);
    expect(() => DigestBloomFilter.forCapacity(1000, 1)).to.throw(RangeError, /targetFpRate/);
    expect(() => DigestBloomFilter.forCapacity(1000, -0.1)).to.throw(RangeError, /targetFpRate/);
    expect(() => DigestBloomFilter.forCapacity(1000, Number.NaN)).to.throw(RangeError, /targetFpRate/);
    expect(() => DigestBloomFilter.forCapacity(1000, 1e-300)).to.throw(RangeError, /targetFpRate/);
    expect(() => DigestBloomFilter.forCapacity(1e9, 1e-9)).to.throw(RangeError, /2\^32/);
  });
});

describe('index: filter snapshot', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-bloom-'));
    file = path.join(dir, 'selectors.bloom');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function writeFilled(count: number, position: number): { filter: DigestBloomFilter; digests: Buffer[] } {
    const filter = DigestBloomFilter.forCapacity(50_000, 1e-6);
    const digests = randomDigests(count);
    for (const d of digests) filter.add(d);
    writeSnapshot(file, filter, position);
    return { filter, digests };
  }

  it('round-trips every positive, the parameters, the item count and the position', () => {
    const { filter, digests } = writeFilled(20_000, 987_654_321);
    expect(fs.existsSync(file + '.tmp')).to.equal(false);
    const read = readSnapshot(file);
    if ('problem' in read) throw new Error(`unexpected ${read.problem}: ${read.detail}`);
    expect(read.position).to.equal(987_654_321);
    expect(read.filter.params).to.deep.equal(filter.params);
    expect(read.filter.items).to.equal(20_000);
    expect(Buffer.from(read.filter.bitsetBytes()).equals(Buffer.from(filter.bitsetBytes()))).to.equal(true);
    for (const d of digests) expect(read.filter.has(d)).to.equal(true);
  });

  it('replaces an older snapshot atomically', () => {
    writeFilled(10, 1);
    writeFilled(10, 2);
    const read = readSnapshot(file);
    expect('position' in read && read.position).to.equal(2);
  });

  it('reports a missing snapshot as missing', () => {
    const read = readSnapshot(file);
    expect(read).to.include({ problem: 'missing' });
  });

  const damage: Array<[string, (bytes: Buffer) => Buffer, RegExp]> = [
    ['a flipped byte in the bits', (b) => { b[b.length - 100] ^= 0x01; return b; }, /checksum/],
    ['a truncated body', (b) => b.subarray(0, b.length - 1), /truncated/],
    ['a file cut inside the header', (b) => b.subarray(0, 30), /truncated|JSON/],
    ['a file cut inside the prefix', (b) => b.subarray(0, 5), /truncated/],
    ['an empty file', () => Buffer.alloc(0), /truncated/],
    ['trailing garbage', (b) => Buffer.concat([b, Buffer.from([0])]), /size mismatch/],
    ['a wrong magic', (b) => { b[0] = 0x4e; return b; }, /magic/],
    ['a header that is not JSON', (b) => { b[14] = 0x7a; return b; }, /JSON/],
  ];
  for (const [what, mangle, detail] of damage) {
    it(`reports ${what} as corrupt`, () => {
      writeFilled(1_000, 7);
      fs.writeFileSync(file, mangle(fs.readFileSync(file)));
      const read = readSnapshot(file);
      expect(read).to.have.property('problem', 'corrupt');
      expect((read as { detail: string }).detail).to.match(detail);
    });
  }

  it('reports a header whose bit count disagrees with the body as corrupt', () => {
    writeFilled(1_000, 7);
    const bytes = fs.readFileSync(file);
    const headerLength = bytes.readUInt32LE(10);
    const header = JSON.parse(bytes.toString('utf8', 14, 14 + headerLength));
    const forged = Buffer.from(JSON.stringify({ ...header, bits: header.bits + 64 }));
    const prefix = Buffer.alloc(14);
    bytes.copy(prefix, 0, 0, 10);
    prefix.writeUInt32LE(forged.length, 10);
    fs.writeFileSync(file, Buffer.concat([prefix, forged, bytes.subarray(14 + headerLength)]));
    const read = readSnapshot(file);
    expect(read).to.have.property('problem', 'corrupt');
    expect((read as { detail: string }).detail).to.match(/bits need/);
  });

  // How fast it reads is measured by `npm run bench` (restart phase), not asserted here.
  it('reads back a 1M-capacity 1e-6 snapshot (~3.6 MB) bit for bit', () => {
    const filter = DigestBloomFilter.forCapacity(1_000_000, 1e-6);
    for (const d of randomDigests(10_000)) filter.add(d);
    writeSnapshot(file, filter, 42);
    const read = readSnapshot(file);
    expect(read).to.have.property('position', 42);
    if (!('filter' in read)) throw new Error(`snapshot not read: ${read.detail}`);
    expect(Buffer.from(read.filter.bitsetBytes()).equals(Buffer.from(filter.bitsetBytes()))).to.equal(true);
  });
});
