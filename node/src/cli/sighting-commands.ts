// `mamori report sighting`: what this member saw of a card after a check, signed into its feed.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { SightingOutcome } from '../../../client-sdk/src/screening';
import { readPanArgument } from './card-commands';
import { toJson } from './output';

const OUTCOMES: Readonly<Record<string, SightingOutcome>> = { seen: 'seen', 'true-positive': 'true_positive', 'false-positive': 'false_positive' };

function observedAt(value: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('expected a date and time, e.g. 2025-06-01T12:00:00Z');
  return ms;
}

/** Adds `sighting` under the `report` command (created by the card-testing commands if present). */
export function addSightingCommands(program: Command): void {
  const report = program.commands.find((c) => c.name() === 'report') ?? program.command('report').description('report an observation to the consortium');
  report
    .command('sighting <pan>')
    .description('report that a card was seen, or that its listing proved a true or a false positive (give "-" to read the number from standard input)')
    .requiredOption('--config <client.json>', "client config of this member's node")
    .addOption(new Option('--outcome <outcome>', 'what this member found').choices(Object.keys(OUTCOMES)).makeOptionMandatory())
    .option('--observed-at <time>', 'when it was observed (default: now)', observedAt)
    .option('--json', 'print JSON')
    .action(async (pan: string, o: { config: string; outcome: string; observedAt?: number; json?: boolean }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const r = await client.reportSighting({ pan: readPanArgument(pan), outcome: OUTCOMES[o.outcome] as SightingOutcome, observedAtMs: o.observedAt });
        console.log(o.json ? toJson(r) : `Sighting (${o.outcome}) published as entry #${r.seq} of this member's feed.`);
      } finally {
        client.close();
      }
    });
}
