// `mamori evaluate cards --file F`: an issuer pre-evaluates its card base into the SDK's
// selector cache (docs/oprf.md#the-client-sdk), so that card-listing alerts match at once and
// first checks are at mirror speed. Prints counts and progress, never a card number; with
// --save-cache, writes the cache (keyed hashes and selectors only) under a member-local cache
// key kept in --cache-key-file (created, mode 0600, when absent), and loads it first when it
// exists, so a run stopped part-way resumes where it stopped.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Command } from 'commander';
import { MamoriClient } from '../../../client-sdk/src/client';
import { normalizePan } from '../../../proto/ts/normalize';
import { writeSecretFile } from '../config/files';
import { readCardFile } from './card-file';
import { toJson } from './output';

export interface EvaluateSummary {
  file: string;
  lines: number;
  cards: number;
  evaluated: number;
  alreadyCached: number;
  rejected: number;
  rejectionsByReason: Record<string, number>;
  seconds: number;
  cardsPerSecond: number;
  cacheFile?: string;
  cacheEntries?: number;
  error?: string;
}

function cacheKey(file: string): string {
  if (fs.existsSync(file)) {
    const hex = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file}: expected a cache key of 32 bytes in lowercase hex`);
    return hex;
  }
  const hex = crypto.randomBytes(32).toString('hex');
  writeSecretFile(file, `${hex}\n`);
  return hex;
}

export async function evaluateCards(options: { clientConfig: string; file: string; saveCache?: string; cacheKeyFile?: string; progress: (line: string) => void }): Promise<EvaluateSummary> {
  if (options.saveCache && !options.cacheKeyFile) throw new Error('--save-cache needs --cache-key-file (the key the cache is filed under)');
  const started = Date.now();
  const key = options.cacheKeyFile ? cacheKey(options.cacheKeyFile) : undefined;
  const client = MamoriClient.fromConfigFile(options.clientConfig, { mode: 'remote', selectors: { cacheSize: 20_000_000, ...(key ? { cacheKey: key } : {}) } });
  const summary: EvaluateSummary = { file: options.file, lines: 0, cards: 0, evaluated: 0, alreadyCached: 0, rejected: 0, rejectionsByReason: {}, seconds: 0, cardsPerSecond: 0 };
  try {
    if (options.saveCache && fs.existsSync(options.saveCache)) client.loadSelectorCache(options.saveCache);
    async function* cards(): AsyncGenerator<string> {
      for await (const lines of readCardFile(options.file, () => undefined)) {
        for (const { field } of lines) {
          summary.lines++;
          const normalized = normalizePan(field);
          if (!normalized.ok) {
            summary.rejected++;
            const reason = `card number ${normalized.reason}`;
            summary.rejectionsByReason[reason] = (summary.rejectionsByReason[reason] ?? 0) + 1;
            continue;
          }
          yield normalized.digits;
        }
      }
    }
    const result = await client.preEvaluate(cards(), {
      onProgress: (p) => options.progress(`evaluated ${p.done} cards (${p.evaluated} sent to the evaluators) in ${(p.elapsedMs / 1000).toFixed(1)} s`),
    });
    summary.cards = result.done;
    summary.evaluated = result.evaluated;
    summary.alreadyCached = result.done - result.evaluated;
  } catch (error) {
    summary.error = error instanceof Error ? error.message : String(error);
  } finally {
    if (options.saveCache) {
      summary.cacheFile = options.saveCache;
      summary.cacheEntries = client.saveSelectorCache(options.saveCache).entries;
    }
    client.close();
    summary.seconds = (Date.now() - started) / 1000;
    summary.cardsPerSecond = summary.seconds > 0 ? Math.round(summary.cards / summary.seconds) : 0;
  }
  return summary;
}

export function formatEvaluateSummary(s: EvaluateSummary): string {
  const lines = [
    `${s.cards} cards evaluated from ${s.lines} lines of ${s.file} in ${s.seconds.toFixed(1)} s (${s.cardsPerSecond}/s): ${s.evaluated} sent to the evaluators, ${s.alreadyCached} already cached, ${s.rejected} rejected`,
  ];
  for (const [reason, count] of Object.entries(s.rejectionsByReason)) lines.push(`  ${count} × ${reason}`);
  if (s.cacheFile) lines.push(`selector cache: ${s.cacheEntries ?? 0} entries in ${s.cacheFile}`);
  if (s.error) lines.push(`stopped: ${s.error}`);
  return lines.join('\n');
}

export function addEvaluateCommands(program: Command): void {
  program
    .command('evaluate')
    .description('evaluate oblivious PAN selectors ahead of time')
    .command('cards')
    .description("pre-evaluate a card base (an issuer's own cards) into the selector cache; prints counts, never a card number")
    .requiredOption('--config <client.json>', "client config of this member's node")
    .requiredOption('--file <file>', 'the cards: a CSV with a "pan" column, or one PAN per line')
    .option('--save-cache <file>', 'write the selector cache there (mode 0600), and resume from it when it exists')
    .option('--cache-key-file <file>', 'the member-local cache key (32 bytes hex; created mode 0600 when absent)')
    .option('--json', 'print the summary as JSON')
    .action(async (o: { config: string; file: string; saveCache?: string; cacheKeyFile?: string; json?: boolean }) => {
      const summary = await evaluateCards({
        clientConfig: o.config,
        file: o.file,
        saveCache: o.saveCache,
        cacheKeyFile: o.cacheKeyFile,
        progress: (line) => {
          if (!o.json) process.stderr.write(`${line}\n`);
        },
      });
      console.log(o.json ? toJson(summary) : formatEvaluateSummary(summary));
      if (summary.error) process.exitCode = 1;
    });
}
