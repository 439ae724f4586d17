// npm run conformance -- --client client.json [--vectors DIR]
// Checks the vectors against this code, then exercises the running node that client.json
// points at (docs/protocol.md#conformance). One PASS / FAIL / SKIP line per vector; exit 0 when
// nothing failed, 1 when something did, 2 on a usage error.
import * as path from 'node:path';
import { readClientConfig } from '../client-sdk/src/config';
import { runConformance } from './conformance/runner';

const USAGE = `usage: npm run conformance -- --client <client.json> [--vectors <dir>]

  --client   the client configuration of a member (member, target, token), as
             mamori dev-consortium writes it; the member's node must be running
  --vectors  the vector files (default: the vectors/ folder of this package)

Publishes test listings (synthetic card numbers, keyed or oblivious as the consortium's phase
says; merchants only when the member is an acquirer) and retracts them at the end. Exit status: 0 all passed, 1 a vector failed,
2 usage error.`;

export const DEFAULT_VECTORS_DIR = path.resolve(__dirname, '../../vectors');

export function parseArguments(argv: readonly string[]): { client: string; vectors: string } | { error: string } | { help: true } {
  let client: string | undefined;
  let vectors = DEFAULT_VECTORS_DIR;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return { help: true };
    if (arg === '--client' || arg === '--vectors') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) return { error: `${arg} needs a value` };
      if (arg === '--client') client = value;
      else vectors = path.resolve(value);
      i++;
      continue;
    }
    return { error: `unknown argument ${JSON.stringify(arg)}` };
  }
  if (!client) return { error: '--client is required' };
  return { client, vectors };
}

async function main(): Promise<number> {
  const parsed = parseArguments(process.argv.slice(2));
  if ('help' in parsed) {
    console.log(USAGE);
    return 0;
  }
  if ('error' in parsed) {
    console.error(`conformance: ${parsed.error}\n\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = readClientConfig(parsed.client);
  } catch (error) {
    console.error(`conformance: ${(error as Error).message}`);
    return 2;
  }
  let summary;
  try {
    summary = await runConformance({ target: config.target, token: config.token, member: config.member, vectorsDir: parsed.vectors, report: (line) => console.log(line) });
  } catch (error) {
    console.error(`conformance: ${(error as Error).message}`);
    return 2;
  }
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return summary.failed > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`conformance: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 2;
    },
  );
}
