// The `mamori` command line.
import { Command, InvalidArgumentError, Option } from 'commander';
import { CARD_REASONS, EXPOSURES, RETRACT_REASONS, type CardListingDetails, type CardReasonName, type ExposureName, type RetractReasonName } from '../../../client-sdk/src/details';
import { MamoriClient } from '../../../client-sdk/src/client';
import { checkCard, publishCard, retractCard, showStatus } from './card-commands';
import { DEV_PAN_SELECTORS } from '../runtime/dev-pan-selectors';
import type { PanSelectorPhase } from '../membership/pan-selector-phase';
import { formatImportSummary, importCards } from './import-cards';
import { isoDate, shortName, toJson } from './output';
import { MERCHANT_REASONS, type MerchantReasonName } from '../../../client-sdk/src/merchants';
import type { MerchantFields } from '../../../proto/ts/merchant';
import { addCardTestingCommands } from './card-testing-commands';
import { addAuditCommands } from './audit-commands';
import { addKeysCommands } from './keys-rotate';
import { addSightingCommands } from './sighting-commands';
import { addCommonPointCommands } from './common-point-commands';
import { addEvaluationCommands } from './evaluation-commands';
import { addFormationCommands } from './formation-commands';
import { addEvaluateCommands } from './evaluate-cards';
import { wholeNumber } from './whole-number';
import { LOOKS_LIKE_CARD_NUMBER, looksLikeCardNumber } from '../../../proto/ts/normalize';

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

function exposures(value: string): ExposureName[] {
  const names = value.split(',').map((v) => v.trim()).filter(Boolean);
  for (const n of names) {
    if (!(n in EXPOSURES)) throw new InvalidArgumentError(`unknown data element "${n}"; expected any of ${Object.keys(EXPOSURES).join(', ')}`);
  }
  return names as ExposureName[];
}

/**
 * Checked when the command runs, not as commander parses the option: commander's message
 * would repeat the value, and an event id that looks like a card number must not be echoed.
 */
function eventId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (looksLikeCardNumber(value)) throw new Error(`--event ${LOOKS_LIKE_CARD_NUMBER}`);
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(value)) throw new Error(`--event must be 1-64 characters of A-Z a-z 0-9 . _ : - (an identifier, not free text)`);
  return value;
}

interface ListingOptions {
  reason: CardReasonName;
  exposure: ExposureName[];
  event?: string;
  validDays: number;
  confidence: number;
}

function addListingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--reason <reason>', 'why the cards are compromised').choices(Object.keys(CARD_REASONS)).default('merchant-breach'))
    .option('--exposure <elements>', `exposed data elements, comma-separated: ${Object.keys(EXPOSURES).join(', ')}`, exposures, ['pan'] as ExposureName[])
    .option('--event <id>', 'compromise event id (an identifier, not free text, never a card number)')
    .option('--valid-days <days>', 'how long the listing stays valid', positiveNumber('--valid-days'), 365)
    .option('--confidence <0-100>', 'confidence in the listing', wholeNumber('--confidence', { min: 0, max: 100 }), 80);
}

function listingDetails(o: ListingOptions): CardListingDetails {
  return { reason: o.reason, exposed: o.exposure, eventId: eventId(o.event), validDays: o.validDays, confidence: o.confidence };
}

interface MerchantCliOptions {
  config: string;
  json?: boolean;
  corporateNumber?: string;
  name?: string;
  address?: string;
  phone?: string;
  domain?: string;
  representative?: string;
  mid?: string;
}

function merchantFields(o: MerchantCliOptions): MerchantFields {
  let acquirerMid: MerchantFields['acquirerMid'];
  if (o.mid !== undefined) {
    const at = o.mid.indexOf(':');
    if (at <= 0) throw new InvalidArgumentError('--mid must be ACQUIRER:MID, for example acquirer-b:M-0042');
    acquirerMid = { acquirer: o.mid.slice(0, at), mid: o.mid.slice(at + 1) };
  }
  return {
    corporateNumber: o.corporateNumber,
    name: o.name,
    address: o.address,
    phone: o.phone,
    domain: o.domain,
    representative: o.representative,
    acquirerMid,
  };
}

export function buildProgram(): Command {
  const program = new Command('mamori').description('Mamori: a shared fraud-intelligence exchange for card payments').showHelpAfterError();

  program
    .command('dev-consortium')
    .description('create a local consortium of three members (issuer, acquirer, PSP) on loopback')
    .requiredOption('--dir <dir>', 'folder to create it in')
    .option('--base-port <port>', 'first of three consecutive loopback ports', wholeNumber('--base-port', { min: 1, max: 65533, what: 'a port' }), 7101)
    .option('--force', 'replace an existing consortium in that folder')
    .addOption(
      new Option('--pan-selectors <phase>', 'PAN selectors on the ledger: keyed hashes, both, or threshold-PRF outputs (docs/oprf.md#the-phase)')
        .choices(['keyed', 'dual', 'oblivious'])
        .default(DEV_PAN_SELECTORS),
    )
    .option(
      '--count-bucket-seconds <s>',
      'length of the buckets in which evaluators publish evaluation counts (docs/oprf.md#evaluation-counts-on-the-ledger)',
      wholeNumber('--count-bucket-seconds', { min: 1, max: 86_400 }),
      3_600,
    )
    .action(async (o: { dir: string; basePort: number; force?: boolean; panSelectors: PanSelectorPhase; countBucketSeconds: number }) => {
      const { createDevConsortium } = await import('../runtime/dev-consortium');
      const layout = await createDevConsortium(o.dir, o.basePort, { force: o.force, panSelectors: o.panSelectors, countBucketSeconds: o.countBucketSeconds });
      console.log(`Created consortium in ${layout.dir}`);
      for (const m of layout.members) console.log(`  ${m.id} (${m.roles.join(',')}) ${m.endpoint}\n    node config: ${m.nodeConfig}\n    client config: ${m.clientConfig}`);
    });

  program
    .command('start')
    .description('run a node until SIGINT or SIGTERM')
    .requiredOption('--config <file>', 'node config (node.json)')
    .option('--insecure-dev', 'replicate without TLS, on loopback only (experiments; never in production)')
    .action(async (o: { config: string; insecureDev?: boolean }) => (await import('./start')).startNode(o.config, { insecureDev: Boolean(o.insecureDev) }));

  program
    .command('dev')
    .description('create the local consortium if missing and run its three nodes (what npm start runs)')
    .option('--dir <dir>', 'consortium folder', '.mamori-dev')
    .option('--base-port <port>', 'first of three consecutive loopback ports', wholeNumber('--base-port', { min: 1, max: 65533, what: 'a port' }), 7101)
    .action(async (o: { dir: string; basePort: number }) => (await import('./dev-run')).runDevConsortium(o.dir, o.basePort));

  const importCmd = program.command('import').description('import indicators from a file');
  addListingOptions(
    importCmd
      .command('cards')
      .description('import a leaked-card list: a CSV with a "pan" column, or one PAN per line')
      .requiredOption('--config <client.json>', "client config of this member's node")
      .requiredOption('--file <file>', 'the card list (UTF-8, with or without BOM, LF or CRLF)'),
  )
    .option('--batch-size <n>', 'cards per signed entry', wholeNumber('--batch-size', { min: 1, max: 10_000 }), 10_000)
    .option('--in-flight <n>', 'batches sent concurrently', wholeNumber('--in-flight', { min: 1, max: 1024 }), 8)
    .option('--no-progress', 'no progress bar')
    .option('--json', 'print the summary as JSON')
    .action(async (o: ListingOptions & { config: string; file: string; batchSize: number; inFlight: number; progress: boolean; json?: boolean }) => {
      const summary = await importCards({
        clientConfig: o.config,
        file: o.file,
        details: listingDetails(o),
        batchSize: o.batchSize,
        inFlight: o.inFlight,
        progress: o.progress && !o.json && Boolean(process.stderr.isTTY),
      });
      console.log(o.json ? toJson(summary) : formatImportSummary(summary));
      if (summary.error) process.exitCode = 1;
    });

  const publish = program.command('publish').description('publish one indicator');
  addListingOptions(
    publish
      .command('card <pan>')
      .description('publish one compromised card (give "-" to read the number from standard input)')
      .requiredOption('--config <client.json>', "client config of this member's node"),
  )
    .option('--json', 'print JSON')
    .action(async (pan: string, o: ListingOptions & { config: string; json?: boolean }) => {
      console.log(await publishCard(o.config, pan, listingDetails(o), Boolean(o.json)));
    });

  const merchantFieldOptions = (cmd: Command): Command =>
    cmd
      .option('--corporate-number <n>', 'corporate number (法人番号, 13 digits)')
      .option('--name <name>', 'legal name (used with --address)')
      .option('--address <address>', 'address (used with --name)')
      .option('--phone <phone>', 'phone number (E.164 or Japanese format)')
      .option('--domain <domain>', 'web domain')
      .option('--representative <name>', 'representative')
      .option('--mid <acquirer:mid>', "an acquirer's merchant id, as ACQUIRER:MID")
      .requiredOption('--config <client.json>', "client config of this member's node")
      .option('--json', 'print JSON');

  merchantFieldOptions(
    publish
      .command('merchant')
      .description('list a merchant this acquirer terminated (acquirers only); every field given is hashed as its own selector'),
  )
    .addOption(new Option('--reason <reason>', 'why the merchant was terminated').choices(Object.keys(MERCHANT_REASONS)).makeOptionMandatory())
    .option('--valid-days <days>', 'how long the listing stays valid (default five years)', positiveNumber('--valid-days'))
    .action(async (o: MerchantCliOptions & { reason: MerchantReasonName; validDays?: number }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        const r = await client.publishFraudulentMerchant(merchantFields(o), { reason: o.reason, validDays: o.validDays });
        console.log(o.json ? toJson(r) : r.accepted > 0 ? `Merchant listed as entry #${r.seq}.` : 'Already listed by this member.');
      } finally {
        client.close();
      }
    });

  merchantFieldOptions(
    program
      .command('screen')
      .description('screen against the shared blacklists')
      .command('merchant')
      .description("screen a merchant against every acquirer's listings by whatever fields you have"),
  ).action(async (o: MerchantCliOptions) => {
    const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
    try {
      const r = await client.screenMerchant(merchantFields(o));
      if (o.json) return console.log(toJson(r));
      if (!r.listed) return console.log('NOT LISTED');
      console.log(`LISTED by ${r.listingMembers} acquirer(s); recommended action: ${r.action}`);
      for (const m of r.matches) {
        console.log(`  ${m.origin}: ${m.reasons.map((x) => shortName(x, 'REASON_CODE_')).join(', ')}; matched ${m.fields.join(', ')}; listed ${isoDate(m.firstSeenMs)}; valid until ${isoDate(m.validUntilMs)}`);
      }
    } finally {
      client.close();
    }
  });

  program
    .command('check')
    .description('check an indicator')
    .command('card <pan>')
    .description('check one card against every member\'s listings (give "-" to read the number from standard input)')
    .requiredOption('--config <client.json>', "client config of this member's node")
    .option('--json', 'print JSON')
    .action(async (pan: string, o: { config: string; json?: boolean }) => {
      console.log((await checkCard(o.config, pan, Boolean(o.json))).text);
    });

  program
    .command('retract')
    .description("retract one of this member's indicators")
    .command('card <pan>')
    .description('retract this member\'s listing of a card (give "-" to read the number from standard input)')
    .requiredOption('--config <client.json>', "client config of this member's node")
    .addOption(new Option('--reason <reason>', 'why the listing ends').choices(Object.keys(RETRACT_REASONS)).default('reissued'))
    .option('--json', 'print JSON')
    .action(async (pan: string, o: { config: string; reason: RetractReasonName; json?: boolean }) => {
      console.log(await retractCard(o.config, pan, o.reason, Boolean(o.json)));
    });

  program
    .command('status')
    .description("show this member's node: feeds, counts, filter")
    .requiredOption('--config <client.json>', "client config of this member's node")
    .option('--json', 'print JSON')
    .action(async (o: { config: string; json?: boolean }) => {
      console.log(await showStatus(o.config, Boolean(o.json)));
    });

  program
    .command('unfreeze <origin>')
    .description('accept entries from an origin frozen for equivocation again (an operator decision; the evidence stays)')
    .requiredOption('--config <client.json>', "client config of this member's node")
    .action(async (origin: string, o: { config: string }) => {
      const client = MamoriClient.fromConfigFile(o.config, { mode: 'remote' });
      try {
        console.log((await client.unfreeze(origin)) ? `${origin} unfrozen` : `${origin} was not frozen`);
      } finally {
        client.close();
      }
    });

  addCardTestingCommands(program);
  addEvaluateCommands(program);
  addKeysCommands(program);
  addAuditCommands(program);
  addSightingCommands(program);
  addEvaluationCommands(program);
  addCommonPointCommands(program, { options: merchantFieldOptions, fields: merchantFields });
  addFormationCommands(program);

  return program;
}

export function main(argv: string[]): void {
  buildProgram()
    .parseAsync(argv)
    .catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`error: ${message}`);
      process.exitCode = 1;
    });
}
