// `--only cpp`: common-point-of-purchase analysis at the aggregator, in process, on a real
// SQLite file. 100,000 confirmed-fraud cards from 5 issuers, ~10 merchants each out of
// 50,000, with a volume for every merchant named; a few planted merchants recur across
// issuers. Ingest is the aggregator's real path (seal, open, decode, validate, store); the
// analysis is timed on its own (target under 10 s).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { generateBoxKeyPair } from '../../node/src/crypto/epochs';
import { openSealed } from '../../node/src/crypto/sealed-box';
import { CommonPointAnalyser } from '../../node/src/detection/common-point';
import { sealFraudReport } from '../../node/src/exchange/fraud-report';
import { decodeFraudReportContents, validateFraudReportContents, type ValidFraudReportContents } from '../../node/src/ledger/common-point';
import { CommonPointStore } from '../../node/src/store/common-point-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { databaseFile } from '../../node/src/store/database';
import { addRow, details, now, progress, secondsSince } from './common';

const ISSUERS = 5;
const FRAUD_CARDS = 100_000;
const MERCHANTS = 50_000;
const MERCHANTS_PER_CARD = 10;
const CARDS_PER_REPORT = 10_000;
const PLANTED = 20;
const DAY_MS = 24 * 60 * 60 * 1000;
const DOMAIN = 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const;

function issuerReports(merchants: Buffer[], issuer: number, nowMs: number): ValidFraudReportContents[] {
  const reports: ValidFraudReportContents[] = [];
  const perIssuer = FRAUD_CARDS / ISSUERS;
  for (let start = 0; start < perIssuer; start += CARDS_PER_REPORT) {
    const named = new Map<number, number>();
    const cards = Array.from({ length: Math.min(CARDS_PER_REPORT, perIssuer - start) }, (_, j) => {
      const picks = new Set<number>();
      // One card in 50 also used a planted merchant (a breached shop every issuer's cards met).
      if ((start + j) % 50 === 0) picks.add(Math.floor((start + j) / 50) % PLANTED);
      while (picks.size < MERCHANTS_PER_CARD) picks.add(PLANTED + Math.floor(Math.random() * (MERCHANTS - PLANTED)));
      for (const p of picks) named.set(p, (named.get(p) ?? 0) + 1);
      return { card: randomBytes(32), merchants: [...picks].map((p) => ({ type: DOMAIN, digest: merchants[p] as Buffer })) };
    });
    const volumes = [...named].map(([p, used]) => ({ merchant: { type: DOMAIN, digest: merchants[p] as Buffer }, cards: used + (p < PLANTED ? 300 : 2_000 + Math.floor(Math.random() * 8_000)) }));
    reports.push({ windowStartMs: nowMs - 90 * DAY_MS, windowEndMs: nowMs, cards, volumes, activeCards: 10_000_000 });
  }
  return reports;
}

export async function runCommonPointBench(tempDir: string): Promise<void> {
  fs.mkdirSync(path.join(tempDir, 'cpp'), { recursive: true });
  const ledger = LedgerStore.open(databaseFile(path.join(tempDir, 'cpp')));
  try {
    const store = new CommonPointStore(ledger.db);
    const aggregator = generateBoxKeyPair();
    const merchants = Array.from({ length: MERCHANTS }, () => randomBytes(32));
    const nowMs = Date.now();
    let entryId = 0;
    let ingestSeconds = 0;
    let sealedEntries = 0;
    for (let issuer = 0; issuer < ISSUERS; issuer++) {
      for (const contents of issuerReports(merchants, issuer, nowMs)) {
        const sealed = sealFraudReport(contents, 'aggregator', aggregator.publicKey);
        const t0 = now();
        for (const part of sealed) {
          const plain = openSealed(part.sealed, aggregator);
          if (!plain) throw new Error('a sealed report did not open');
          const valid = validateFraudReportContents(decodeFraudReportContents(plain), 'contents');
          store.recordOpened({ entryId: ++entryId, origin: `issuer-${issuer}`, ...valid });
          sealedEntries++;
        }
        ingestSeconds += secondsSince(t0);
      }
      progress(`cpp: issuer ${issuer + 1} of ${ISSUERS} ingested`);
    }
    const analyser = new CommonPointAnalyser(store, { k: 2, lookBackDays: 90, minCards: 3, maxPValue: 1e-6, intervalMs: 60_000 }, { open: () => undefined, publish: async () => undefined }, pino({ level: 'silent' }));
    const t0 = now();
    const summary = analyser.analyse(nowMs + 1);
    const analysisSeconds = secondsSince(t0);
    const plantedFlagged = summary.flags.filter((f) => merchants.slice(0, PLANTED).some((m) => m.equals(f.merchant.digest))).length;
    progress(`cpp: ${summary.candidates} candidates, ${summary.flags.length} flagged (${plantedFlagged} of ${PLANTED} planted) in ${analysisSeconds.toFixed(2)} s`);
    addRow(`cpp: opening + storing ${FRAUD_CARDS.toLocaleString('en-US')} reported fraud cards (${sealedEntries} sealed entries)`, FRAUD_CARDS / ingestSeconds, 'cards/s');
    addRow(`cpp: analysis over ${FRAUD_CARDS.toLocaleString('en-US')} fraud reports (${ISSUERS} issuers, ${MERCHANTS_PER_CARD} of ${MERCHANTS.toLocaleString('en-US')} merchants each)`, analysisSeconds, 's', { op: '<', value: 10 });
    details.cpp = { candidates: summary.candidates, flagged: summary.flags.length, plantedFlagged, planted: PLANTED, ingestSeconds, analysisSeconds, sealedEntries };
  } finally {
    ledger.close();
  }
}
