// `mamori dev` (what `npm start` runs): creates the local consortium if it is missing,
// starts its three member nodes as separate processes, and stops them on Ctrl-C.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { MamoriAlert } from '../../../client-sdk/src/alerts';
import { withLuhnDigit } from '../../../proto/ts/normalize';
import { createDevConsortium, devConsortiumExists, devLayout } from '../runtime/dev-consortium';

const CLI_ENTRY = path.resolve(__dirname, '../../../../bin/mamori.js');

/** A sample leaked-card list of random (not real) card numbers, to try an import with. */
export function writeSampleCsv(file: string, count: number): void {
  const rows = ['pan,expiry'];
  for (let i = 0; i < count; i++) {
    let partial = '454545';
    while (partial.length < 15) partial += String(Math.floor(Math.random() * 10));
    const pan = withLuhnDigit(partial);
    rows.push(`${pan.slice(0, 4)} ${pan.slice(4, 8)} ${pan.slice(8, 12)} ${pan.slice(12)},${String(1 + (i % 12)).padStart(2, '0')}/29`);
  }
  rows.push('not-a-card,01/29', '4545451234567890,02/29'); // two lines that show how rejects are reported
  fs.writeFileSync(file, `${rows.join('\r\n')}\r\n`, { mode: 0o600 });
}

export async function runDevConsortium(dir: string, basePort: number): Promise<void> {
  const created = !devConsortiumExists(dir);
  if (created) await createDevConsortium(dir, basePort);
  const layout = devLayout(dir);
  if (!fs.existsSync(layout.caFile)) {
    throw new Error(`${layout.dir} was made by an earlier version (no consortium CA for mutual TLS); remove it or run: mamori dev-consortium --dir ${dir} --force`);
  }
  const sample = path.join(layout.dir, 'sample-leaked-cards.csv');
  if (!fs.existsSync(sample)) writeSampleCsv(sample, 1000);
  console.log(created ? `Created a local consortium in ${layout.dir}` : `Using the local consortium in ${layout.dir}`);

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the nodes…');
    for (const child of children.values()) child.kill('SIGTERM');
    const waitAll = [...children.values()].map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve))));
    void Promise.all(waitAll).then(() => {
      console.log('All nodes stopped.');
      process.exit(code);
    });
  };
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));

  for (const m of layout.members) {
    const logFile = path.join(path.dirname(m.nodeConfig), 'node.log');
    const out = fs.openSync(logFile, 'a', 0o600);
    const child = spawn(process.execPath, [CLI_ENTRY, 'start', '--config', m.nodeConfig], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    children.set(m.id, child);
    child.once('exit', (code, signal) => {
      if (!stopping) {
        console.error(`Node ${m.id} exited (${signal ?? `code ${code}`}); see ${logFile}`);
        stopAll(1);
      }
    });
  }

  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  for (const m of layout.members) {
    const client = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote' });
    try {
      await client.waitForReady(30_000);
      // A node signs nothing new until a peer has told it how far its own feed goes.
      for (const until = Date.now() + 35_000; Date.now() < until; ) {
        const status = await client.status();
        // Oblivious PAN selectors need t evaluators over the peer connections: wait for them too.
        const peersUp = status.peers.filter((p) => p.connected).length >= layout.members.length - 1;
        if (status.ownFeedRecovery?.acceptingWrites !== false && peersUp) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      console.log(`  ${m.id.padEnd(11)} ${m.roles.join(',').padEnd(9)} API ${m.listen}   peers (mTLS) ${m.endpoint}   log ${rel(path.join(path.dirname(m.nodeConfig), 'node.log'))}`);
    } finally {
      client.close();
    }
  }
  const psp = layout.members.find((m) => m.id === 'psp-c');
  const acquirer = layout.members.find((m) => m.id === 'acquirer-b');
  if (!psp || !acquirer) return;
  const sampleCard = fs.readFileSync(sample, 'utf8').split(/\r?\n/)[1]?.split(',')[0] ?? '';
  await jointDetectionScenario(psp.clientConfig, acquirer.clientConfig, sample, sampleCard);
  const issuer = layout.members.find((m) => m.id === 'issuer-a');
  if (issuer) await merchantAndCardTestingScenario(issuer.clientConfig, acquirer.clientConfig, psp.clientConfig);
  console.log(tryItText({ pspClientConfig: rel(psp.clientConfig), acquirerClientConfig: rel(acquirer.clientConfig), sample: rel(sample) }));
}

/**
 * The commands `npm start` suggests. A card number is never an argument (the process list
 * shows arguments to every user): the sample card is piped into `check card -`.
 */
export function tryItText(paths: { pspClientConfig: string; acquirerClientConfig: string; sample: string }): string {
  return `
Try it in another terminal:
  npx mamori import cards --config ${paths.pspClientConfig} --file ${paths.sample} --reason merchant-breach --exposure pan,expiry
  sed -n 2p ${paths.sample} | cut -d, -f1 | npx mamori check card - --config ${paths.acquirerClientConfig}
  npx mamori status --config ${paths.acquirerClientConfig}

Press Ctrl-C to stop the consortium.`;
}

/**
 * What a newcomer watches: the PSP imports a leaked list; the acquirer's own node, which
 * only ever sees keyed hashes replicated from the PSP, answers "listed" for one of the cards.
 */
async function jointDetectionScenario(pspClientConfig: string, acquirerClientConfig: string, sample: string, card: string): Promise<void> {
  const acquirer = MamoriClient.fromConfigFile(acquirerClientConfig, { mode: 'remote' });
  try {
    console.log(`\nScenario: psp-c imports a leaked-card list; acquirer-b checks one of the cards (PAN selectors: ${await acquirer.panSelectorPhase()}).`);
    console.log(`  $ mamori import cards --config psp-c/client.json --file ${path.basename(sample)} --reason merchant-breach --exposure pan,expiry`);
    const imported = spawnSync(process.execPath, [CLI_ENTRY, 'import', 'cards', '--config', pspClientConfig, '--file', sample, '--reason', 'merchant-breach', '--exposure', 'pan,expiry', '--no-progress'], { encoding: 'utf8' });
    const started = Date.now();
    console.log(`${imported.stdout}${imported.stderr}`.trimEnd().replace(/^/gm, '    '));
    for (;;) {
      const verdict = await acquirer.checkCard(card);
      if (verdict.listed) {
        const origin = verdict.evidence.map((e) => e.origin).join(', ');
        console.log(`  acquirer-b checks card ${card.slice(0, 4)} …: LISTED by ${origin}, ${Date.now() - started} ms after the publication`);
        break;
      }
      if (Date.now() - started > 30_000) {
        console.log('  acquirer-b has not received the listing after 30 s; see the node logs and `mamori status`');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } catch (error) {
    console.log(`  the scenario failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    acquirer.close();
  }
}

/**
 * The rest of what only a consortium sees: an acquirer's terminated merchant found by another
 * member under a different spelling, and a card-testing attack on the issuer's BIN reported
 * by two members, arriving at the issuer as one alert.
 */
async function merchantAndCardTestingScenario(issuerConfig: string, acquirerConfig: string, pspConfig: string): Promise<void> {
  const issuer = MamoriClient.fromConfigFile(issuerConfig, { mode: 'remote' });
  const acquirer = MamoriClient.fromConfigFile(acquirerConfig, { mode: 'remote' });
  const psp = MamoriClient.fromConfigFile(pspConfig, { mode: 'remote' });
  const stop = new AbortController();
  try {
    console.log('\nScenario: acquirer-b lists a terminated merchant; psp-c screens it under another spelling.');
    await acquirer.publishFraudulentMerchant(
      { name: '株式会社スマイル商店', address: '東京都港区芝公園4-2-8', phone: '03-1234-5678', domain: 'smile-shop.example.jp' },
      { reason: 'excessive-chargebacks' },
    );
    const variant = { name: 'ｽﾏｲﾙ商店(株)', address: '東京都港区芝公園４−２−８', domain: 'WWW.SMILE-SHOP.EXAMPLE.JP' };
    const started = Date.now();
    for (;;) {
      const screened = await psp.screenMerchant(variant);
      if (screened.listed) {
        const m = screened.matches[0];
        console.log(`  psp-c screens "ｽﾏｲﾙ商店(株)": LISTED by ${m?.origin} (${m?.reasons.join(', ')}), matched on ${m?.fields.join(', ')}, action ${screened.action}`);
        break;
      }
      if (Date.now() - started > 30_000) {
        console.log('  the listing has not reached psp-c after 30 s; see `mamori status`');
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    console.log('Scenario: issuer-a owns BIN 454545: its node alerts it to the cards psp-c listed.');
    let after = 0; // alerts of an earlier run are not news: follow from the newest one
    let listingAlert: MamoriAlert | undefined;
    for (const waitUntil = Date.now() + 10_000; !listingAlert && Date.now() < waitUntil; ) {
      for await (const old of issuer.alerts({ after: 0, follow: false })) {
        after = Math.max(after, old.id);
        if (old.kind === 'card-listing' && old.cardListing && old.cardListing.origin === 'psp-c') listingAlert = old;
      }
      if (!listingAlert) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (listingAlert?.cardListing) {
      const listing = listingAlert.cardListing;
      console.log(`  issuer-a has alert #${listingAlert.id}: ${listing.cards} of its cards listed by ${listing.origin} (${listing.reason}), with their selectors to match against its card base`);
    } else {
      console.log('  no card-listing alert reached issuer-a within 10 s; see `mamori alerts`');
    }

    console.log('Scenario: psp-c and acquirer-b both see card testing on BIN 454545 (issued by issuer-a).');
    const alerts = issuer.alerts({ after, follow: true, signal: stop.signal });
    await psp.reportCardTesting({ bin: '45454512', attempts: 900, declines: 870 });
    await acquirer.reportCardTesting({ bin: '454545', attempts: 300, declines: 290 });
    const timeout = setTimeout(() => stop.abort(), 30_000);
    for await (const alert of alerts) {
      if (alert.kind === 'card-testing' && alert.bin.startsWith('454545')) {
        console.log(`  issuer-a receives alert #${alert.id}: card testing on BIN ${alert.bin}, reported by ${alert.reportingMembers} members (not named)`);
        break;
      }
    }
    clearTimeout(timeout);
  } catch (error) {
    console.log(`  the scenario failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    stop.abort();
    issuer.close();
    acquirer.close();
    psp.close();
  }
}
