// When the small table of recent selectors is merged into the large one: at the configured
// threshold while the large table is small, and later as it grows (a merge rewrites most of it).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { signNextEntry } from '../../node/src/ledger/entry';
import { LedgerStore, mergeThresholdFor } from '../../node/src/store/ledger-store';
import { tempDir } from '../helpers/node-harness';
import { cardPublication, digest, makeMember, MemoryLedger } from '../helpers/unit';

describe('unit: merging recent selectors into the large table', () => {
  let dir: string;
  let store: LedgerStore;

  before(async () => {
    await sodiumReady();
  });

  beforeEach(() => {
    dir = tempDir('mamori-merge-');
    store = LedgerStore.open(path.join(dir, 'mamori.db'), { mergeThreshold: 10 });
  });

  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('takes the configured threshold up to 10^6 rows in the large table, then grows it with their square root', () => {
    expect(mergeThresholdFor(200_000, 0)).to.equal(200_000);
    expect(mergeThresholdFor(200_000, 1_000_000)).to.equal(200_000);
    expect(mergeThresholdFor(200_000, 4_000_000)).to.equal(400_000);
    expect(mergeThresholdFor(200_000, 9_000_000)).to.equal(600_000);
    expect(mergeThresholdFor(200_000, 100_000_000)).to.equal(2_000_000);
  });

  it('is due once the small table holds the threshold for the selectors stored, and every selector stays found after the merge', () => {
    const psp = makeMember('psp-c', ['psp']);
    const ledger = new MemoryLedger([psp]);
    const stored: Buffer[] = [];
    const publish = (cards: number) => {
      const digests = Array.from({ length: cards }, () => digest());
      const signed = signNextEntry(psp.id, ledger.head(psp.id), 1, { publishIndicators: cardPublication(digests) }, psp.keys.secretKey);
      store.append(ledger.accept(signed));
      stored.push(...digests);
    };
    publish(9);
    expect(store.mergeDue(9)).to.equal(false);
    publish(1);
    expect(store.mergeDue(10)).to.equal(true);
    // With 4 × 10^6 rows in the large table (as the filter counts them), 10 recent rows are not enough: 20 are.
    expect(store.mergeDue(4_000_000 + 10)).to.equal(false);
    publish(10);
    expect(store.mergeDue(4_000_000 + 20)).to.equal(true);
    expect(store.mergeRecentSelectors()).to.equal(20);
    expect(store.mergeDue(20)).to.equal(false);
    for (const d of stored) expect(store.listings(d), 'listings of a merged selector').to.have.length(1);
  });
});
