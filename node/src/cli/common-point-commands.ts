// `mamori report fraud` (issuers: confirmed-fraud cards for common-point analysis) and
// `mamori watch merchant` (acquirers: alerts on flags and listings of their merchants).
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { FraudReportInput } from '../../../client-sdk/src/common-point';
import type { MamoriAlert } from '../../../client-sdk/src/alerts';
import { MamoriClientError } from '../../../client-sdk/src/errors';
import type { MerchantFields } from '../../../proto/ts/merchant';
import { isoDate, shortName, toJson } from './output';

/** Reads a report file: { windowStartMs, windowEndMs, activeCards, cards: [{ pan, merchants }], volumes: [{ merchant, cards }] }. */
export function readFraudReportFile(file: string): FraudReportInput {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    // The parser's message may quote the file, which holds card numbers: say only where.
    const reason = error instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read';
    throw new MamoriClientError('INVALID_ARGUMENT', `${file}: ${reason}`);
  }
  const r = value as Partial<FraudReportInput> | null;
  if (!r || typeof r !== 'object') throw new MamoriClientError('INVALID_ARGUMENT', `${file}: expected a JSON object`);
  for (const field of ['windowStartMs', 'windowEndMs', 'activeCards'] as const) {
    if (typeof r[field] !== 'number') throw new MamoriClientError('INVALID_ARGUMENT', `${file}: ${field}: expected a number`);
  }
  if (!Array.isArray(r.cards)) throw new MamoriClientError('INVALID_ARGUMENT', `${file}: cards: expected an array of { pan, merchants }`);
  if (!Array.isArray(r.volumes)) throw new MamoriClientError('INVALID_ARGUMENT', `${file}: volumes: expected an array of { merchant, cards }`);
  return r as FraudReportInput;
}

export function addCommonPointCommands(
  program: Command,
  merchant: { options(cmd: Command): Command; fields(o: { config: string }): MerchantFields },
): void {
  const report = program.commands.find((c) => c.name() === 'report') ?? program.command('report').description('report an observation to the consortium');
  report
    .command('fraud')
    .description("report confirmed-fraud cards and the merchants they used (issuers only); sealed to the consortium's aggregator")
    .requiredOption('--config <client.json>', "client config of this member's node")
    .requiredOption('--file <report.json>', 'the report: { windowStartMs, windowEndMs, activeCards, cards: [{ pan, merchants: [fields] }], volumes: [{ merchant: fields, cards }] }')
    .option('--json', 'print JSON')
    .action(async (o: { config: string; file: string; json?: boolean }) => {
      const input = readFraudReportFile(o.file);
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const r = await client.reportFraud(input);
        console.log(o.json ? toJson(r) : `Fraud report of ${r.accepted} card(s) sealed to the aggregator and published (last entry #${r.seq}).`);
      } finally {
        client.close();
      }
    });

  merchant
    .options(
      program
        .command('watch')
        .description("this member's watch list (kept by its node only)")
        .command('merchant')
        .description('watch a merchant: alerts when common-point analysis flags it or another acquirer lists it')
        .option('--remove', 'stop watching it'),
    )
    .action(async (o: { config: string; json?: boolean; remove?: boolean }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const fields = merchant.fields(o);
        const r = o.remove ? await client.unwatchMerchants([fields]) : await client.watchMerchants([fields]);
        console.log(o.json ? toJson(r) : `${o.remove ? 'No longer watched' : 'Watched'}; the watch list holds ${r.watched} merchant selector(s).`);
      } finally {
        client.close();
      }
    });
}

/** One line for a watched-merchant alert (the merchant by its selector type; the digest only with --json). */
export function watchAlertLine(a: MamoriAlert): string | undefined {
  if (a.kind === 'common-point' && a.commonPoint) {
    const cp = a.commonPoint;
    const type = shortName(cp.merchant?.type ?? '', 'SELECTOR_TYPE_MERCHANT_');
    return `#${a.id} ${isoDate(a.createdAtMs)} common-point: a watched merchant (${type}) used by ${cp.fraudCards} fraud card(s) of ${cp.issuers} issuers, ${cp.expectedFraudCards.toFixed(2)} expected (p = ${cp.pValue.toExponential(1)}); window ${isoDate(a.windowStartMs)} to ${isoDate(a.windowEndMs)}`;
  }
  if (a.kind === 'merchant-listing' && a.merchantListing) {
    const l = a.merchantListing;
    return `#${a.id} ${isoDate(a.createdAtMs)} merchant-listing: ${l.origin} listed a watched merchant (${shortName(l.reason, 'REASON_CODE_')}); matched ${l.matched.map((t) => shortName(t, 'SELECTOR_TYPE_MERCHANT_')).join(', ')}`;
  }
  return undefined;
}
