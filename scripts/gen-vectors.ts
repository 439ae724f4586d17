// Writes the protocol's test vectors under vectors/ (docs/protocol.md#test-vectors):
//   npm run gen:vectors            write every file
//   npm run gen:vectors -- --check exit 1 when a committed file differs from what the code gives
// Deterministic: fixed keys, seeds and blinds, no random byte, so a run changes nothing
// unless the code does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildVectorFiles } from './vectors/build';

export const VECTORS_DIR = path.resolve(__dirname, '../../vectors');

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = await buildVectorFiles();
  let stale = 0;
  if (!check) fs.mkdirSync(VECTORS_DIR, { recursive: true });
  for (const [name, text] of files) {
    const file = path.join(VECTORS_DIR, name);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    stale++;
    if (check) console.error(`vectors/${name}: differs from what the code gives`);
    else fs.writeFileSync(file, text);
  }
  console.log(check ? `${files.size} vector files checked, ${stale} differ` : `${files.size} vector files, ${stale} written`);
  if (check && stale > 0) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
