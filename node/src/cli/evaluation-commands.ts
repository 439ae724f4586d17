// `mamori evaluations`: every evaluator's published evaluation counts of the last 48 hours, as
// this member's node stores them (Status.oprf.counts; docs/oprf.md, "Evaluation counts on the
// ledger"): evaluator, requesting member, BIN, bucket and band. Bands only, never a selector.
import type { Command } from 'commander';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { OprfCountBand__Output } from '../../../proto/gen/mamori/v1/OprfCountBand';
import { isoDate, toJson } from './output';

/** One line per row: the count of `member` for `bin` at `evaluator` lies in [band, 2·band). */
export function evaluationCountLines(rows: readonly OprfCountBand__Output[]): string[] {
  if (rows.length === 0) return ['no evaluation counts published in the last 48 hours (counts below the floor are never published)'];
  return rows.map((r) => {
    const band = Number(r.band);
    return `${isoDate(Number(r.bucketStartMs))} +${r.bucketSeconds}s  evaluator ${r.evaluator}  member ${r.member}  BIN ${r.bin}  ${band}–${band * 2 - 1}`;
  });
}

export function addEvaluationCommands(program: Command): void {
  program
    .command('evaluations')
    .description("show every evaluator's published threshold-PRF evaluation counts (who evaluated how much for which BIN), last 48 hours")
    .requiredOption('--config <client.json>', "client config of this member's node")
    .option('--json', 'print JSON')
    .action(async (o: { config: string; json?: boolean }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const status = (await client.status()) as unknown as { oprf?: { counts?: OprfCountBand__Output[] } | null };
        const rows = status.oprf?.counts ?? [];
        console.log(o.json ? toJson(rows) : evaluationCountLines(rows).join('\n'));
      } finally {
        client.close();
      }
    });
}
