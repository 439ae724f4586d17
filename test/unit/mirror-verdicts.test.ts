// The mirror's verdicts on cached oblivious selectors, kept in the cards' cache slots: asked of
// the filter once per filter generation, marked "may be listed" as soon as the mirror hears of a
// card's selector, asked again after a reload, and never carried over to another card or
// another selector of the same card.
import { expect } from 'chai';
import { MirrorVerdicts, type VerdictSource } from '../../client-sdk/src/mirror-verdicts';
import { SelectorCache } from '../../client-sdk/src/selector-cache';
import { DigestBloomFilter } from '../../proto/ts/digest-bloom';
import { sodiumReady } from '../../proto/ts/sodium';
import { randomPans } from '../helpers/cards';
import { randomBytes } from 'node:crypto';

/** A mirror stand-in: a real Bloom filter, its generation, and the added-digests feed. */
class FakeMirror implements VerdictSource {
  filter = DigestBloomFilter.forCapacity(10_000, 1e-6);
  gen = 1;
  asked = 0;
  private listeners: ((digests: Buffer) => void)[] = [];

  generation(): number {
    return this.gen;
  }
  has(digest: Uint8Array): boolean {
    this.asked++;
    return this.filter.has(digest);
  }
  onAdded(listener: (digests: Buffer) => void): void {
    this.listeners.push(listener);
  }
  add(...digests: Buffer[]): void {
    for (const d of digests) this.filter.add(d);
    for (const l of this.listeners) l(Buffer.concat(digests));
  }
  /** A new filter holding `digests` (a reload after the node rebuilt its filter). */
  reload(...digests: Buffer[]): void {
    this.filter = DigestBloomFilter.forCapacity(10_000, 1e-6);
    for (const d of digests) this.filter.add(d);
    this.gen++;
  }
}

describe('SDK mirror verdicts in the selector cache', () => {
  before(() => sodiumReady());

  function setup(capacity = 100, indexWord?: (w: number) => number) {
    const cache = new SelectorCache(capacity, undefined, indexWord);
    const mirror = new FakeMirror();
    const verdicts = new MirrorVerdicts(cache, mirror);
    const card = (pan: string, selector: Buffer = randomBytes(32)) => {
      cache.put(cache.handleOf(pan), selector, 'set-1');
      return { selector, slot: () => cache.slotOfDigits(pan) };
    };
    return { cache, mirror, verdicts, card };
  }

  it('asks the filter once per card and generation, then answers from the slot', () => {
    const { mirror, verdicts, card } = setup();
    const cards = randomPans(20).map((p) => card(p));
    for (let round = 0; round < 5; round++) for (const c of cards) expect(verdicts.mayContain(c.slot())).to.equal(false);
    expect(mirror.asked).to.equal(20);
  });

  it('a card whose selector the mirror learns is "may be listed" at once, under the same generation; the others stay negative', () => {
    const { mirror, verdicts, card } = setup();
    const [a, b] = randomPans(2).map((p) => card(p));
    expect(verdicts.mayContain(a!.slot())).to.equal(false);
    expect(verdicts.mayContain(b!.slot())).to.equal(false);
    mirror.add(randomBytes(32), a!.selector, randomBytes(32));
    const asked = mirror.asked;
    expect(verdicts.mayContain(a!.slot())).to.equal(true);
    expect(verdicts.mayContain(b!.slot())).to.equal(false);
    expect(mirror.asked, 'from the slots, not the filter').to.equal(asked);
  });

  it('finds the card of a learned selector among cards sharing index words', () => {
    const { mirror, verdicts, card } = setup(300, (w) => w & 3);
    const cards = randomPans(300).map((p) => card(p));
    for (const c of cards) expect(verdicts.mayContain(c.slot())).to.equal(false);
    const listed = cards.filter((_c, i) => i % 17 === 0);
    mirror.add(...listed.map((c) => c.selector));
    cards.forEach((c, i) => expect(verdicts.mayContain(c.slot()), `card ${i}`).to.equal(i % 17 === 0));
  });

  it('a reload asks every card again: a selector gone from the new filter is negative, a new one positive', () => {
    const { mirror, verdicts, card } = setup();
    const [a, b] = randomPans(2).map((p) => card(p));
    mirror.add(a!.selector);
    expect(verdicts.mayContain(a!.slot())).to.equal(true);
    expect(verdicts.mayContain(b!.slot())).to.equal(false);
    mirror.reload(b!.selector);
    expect(verdicts.mayContain(a!.slot())).to.equal(false);
    expect(verdicts.mayContain(b!.slot())).to.equal(true);
  });

  it('an unusable mirror (generation 0) gives no verdict', () => {
    const { mirror, verdicts, card } = setup();
    const a = card(randomPans(1)[0] as string);
    expect(verdicts.mayContain(a.slot())).to.equal(false);
    mirror.gen = 0;
    expect(verdicts.mayContain(a.slot())).to.equal(undefined);
  });

  it('a stale slot never answers: a slot reused by another card, or a card given another selector, is asked again', () => {
    // Every card's home is the first slot, so the new cards take exactly the slots the old ones held.
    const { cache, mirror, verdicts, card } = setup(4, () => 0);
    const pans = randomPans(8);
    const first = pans.slice(0, 4).map((p) => card(p));
    const slots = first.map((c) => c.slot());
    for (const s of slots) expect(verdicts.mayContain(s)).to.equal(false);
    // Four new cards whose selectors are listed take the four slots of the negative ones.
    const listedSelectors = pans.slice(4).map(() => randomBytes(32));
    mirror.add(...listedSelectors);
    const second = pans.slice(4).map((p, i) => card(p, listedSelectors[i]));
    expect(second.map((c) => c.slot()).sort()).to.deep.equal([...slots].sort());
    for (const c of second) expect(verdicts.mayContain(c.slot())).to.equal(true);
    for (const c of first) expect(c.slot()).to.equal(-1);
    // A card filed again under another selector (a new evaluation) is not answered by its old verdict.
    const again = pans[4] as string;
    expect(verdicts.mayContain(cache.slotOfDigits(again))).to.equal(true);
    cache.put(cache.handleOf(again), randomBytes(32), 'set-1');
    expect(verdicts.mayContain(cache.slotOfDigits(again))).to.equal(false);
    // And a selector learned later still finds it under its new selector only.
    const renewed = cache.get(cache.handleOf(again)) as Buffer;
    mirror.add(renewed);
    expect(verdicts.mayContain(cache.slotOfDigits(again))).to.equal(true);
  });

  it('cards holding one selector (a wrong evaluation, an imported file) are all answered right, and filing them stays fast', () => {
    const { cache, mirror, verdicts } = setup(30_000);
    const selector = randomBytes(32);
    const pans = randomPans(20_000);
    for (const pan of pans) cache.put(cache.handleOf(pan), selector, 'set-1');
    // One entry per distinct selector in the selector table: no run of 20,000 to walk on every put.
    const filed = (cache as unknown as { bySelector: { table: Int32Array } }).bySelector.table.filter((entry) => entry !== 0);
    expect(filed).to.have.length(1);
    const slots = pans.map((p) => cache.slotOfDigits(p));
    for (const s of slots) expect(verdicts.mayContain(s)).to.equal(false);
    mirror.add(selector);
    for (const s of slots) expect(verdicts.mayContain(s)).to.equal(true);
    // The card the selector table knows leaves; the others are still answered right.
    cache.put(cache.handleOf(pans[0] as string), randomBytes(32), 'set-1');
    mirror.reload();
    for (const s of slots.slice(1)) expect(verdicts.mayContain(s)).to.equal(false);
    mirror.add(selector);
    for (const s of slots.slice(1)) expect(verdicts.mayContain(s)).to.equal(true);
  });

  it('a new dealing empties the cache and its verdicts with it', () => {
    const { cache, verdicts, card, mirror } = setup();
    const pan = randomPans(1)[0] as string;
    const a = card(pan);
    mirror.add(a.selector);
    expect(verdicts.mayContain(a.slot())).to.equal(true);
    cache.put(cache.handleOf(pan), randomBytes(32), 'set-2');
    expect(cache.size).to.equal(1);
    expect(verdicts.mayContain(cache.slotOfDigits(pan))).to.equal(false);
  });
});
