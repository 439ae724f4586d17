// Every vector file, built in memory: scripts/gen-vectors.ts writes them, the vectors test
// compares them with what is committed under vectors/.
import { sodiumReady } from '../../proto/ts/sodium';
import { oprfReady } from '../../proto/ts/oprf/group';
import { vectorText, type VectorFile } from './common';
import { panVectors } from './pan';
import { keyedSelectorVectors } from './selectors';
import { merchantVectors } from './merchant';
import { japaneseAddressVectors } from './jp-address';
import { obliviousVectors } from './oblivious';
import { entryVectors } from './entries';
import { acceptanceVectors } from './acceptance';

/** File name → file text, in a fixed order. */
export async function buildVectorFiles(): Promise<Map<string, string>> {
  await sodiumReady();
  await oprfReady();
  const files: VectorFile<unknown>[] = [panVectors(), keyedSelectorVectors(), merchantVectors(), japaneseAddressVectors(), obliviousVectors(), entryVectors(), acceptanceVectors()];
  return new Map(files.map((f) => [f.name, vectorText(f)]));
}
