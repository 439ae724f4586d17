// `mamori report card-testing` and `mamori alerts`.
import { type Command, InvalidArgumentError } from 'commander';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { MamoriAlert } from '../../../client-sdk/src/alerts';
import { isoDate, toJson } from './output';
import { watchAlertLine } from './common-point-commands';
import { alertJsonLine, cardListingLine, oprfEnumerationLine } from './alert-output';
import { wholeNumber } from './whole-number';

function bin(value: string): string {
  if (!/^[0-9]{6,8}$/.test(value)) throw new InvalidArgumentError('must be the first 6 to 8 digits of the card numbers tested');
  return value;
}

function alertLine(a: MamoriAlert): string {
  const watched = watchAlertLine(a);
  if (watched) return watched;
  return cardListingLine(a) ?? oprfEnumerationLine(a) ?? `#${a.id} ${isoDate(a.createdAtMs)} ${a.kind}: BIN ${a.bin} reported by ${a.reportingMembers} member(s), ${a.merchants} merchant(s); window ${isoDate(a.windowStartMs)} to ${isoDate(a.windowEndMs)}`;
}

export function addCardTestingCommands(program: Command): void {
  program
    .command('report')
    .description('report an observation to the consortium')
    .command('card-testing')
    .description('report a card-testing (enumeration) burst against a BIN range (acquirers and PSPs only)')
    .requiredOption('--config <client.json>', "client config of this member's node")
    .requiredOption('--bin <digits>', 'first 6 to 8 digits of the card numbers tested', bin)
    .requiredOption('--attempts <n>', 'authorization attempts in the bucket', wholeNumber('--attempts', { min: 0, max: 0xffffffff }))
    .requiredOption('--declines <n>', 'of which declined', wholeNumber('--declines', { min: 0, max: 0xffffffff }))
    .option('--bucket-minutes <n>', 'length of the time bucket (the bucket holding now is reported)', wholeNumber('--bucket-minutes', { min: 0, max: 0xffffffff }), 10)
    .option('--json', 'print JSON')
    .action(async (o: { config: string; bin: string; attempts: number; declines: number; bucketMinutes: number; json?: boolean }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const r = await client.reportCardTesting({ bin: o.bin, attempts: o.attempts, declines: o.declines, bucketMinutes: o.bucketMinutes });
        console.log(o.json ? toJson(r) : `Card-testing report published as entry #${r.seq}.`);
      } finally {
        client.close();
      }
    });

  program
    .command('alerts')
    .description("this member's alerts (card testing and new compromised-card listings in its BIN ranges); --follow keeps streaming")
    .requiredOption('--config <client.json>', "client config of this member's node")
    .option('--after <id>', 'only alerts after this id (the last one you saw)', wholeNumber('--after', { min: 0, max: 0xffffffff }), 0)
    .option('--follow', 'keep streaming new alerts (reconnects after a node restart) until Ctrl-C')
    .option('--json', 'one JSON object per line')
    .action(async (o: { config: string; after: number; follow?: boolean; json?: boolean }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        for await (const alert of client.alerts({ after: o.after, follow: Boolean(o.follow), signal: stop.signal })) {
          console.log(o.json ? alertJsonLine(alert) : alertLine(alert));
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        client.close();
      }
    });
}
