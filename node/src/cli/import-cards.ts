// `mamori import cards`: normalizes every PAN of a file in this process, takes its selector
// (oblivious through the SDK, or keyed under the phase "keyed"), and publishes the selectors to
// the member's node in batches, several in flight.
import * as fs from 'node:fs';
import { SingleBar, Presets } from 'cli-progress';
import { MamoriClient } from '../../../client-sdk/src/client';
import type { CardListingDetails } from '../../../client-sdk/src/details';
import { publishablePan, publishedCard } from '../../../client-sdk/src/card-numbers';
import { readCardFile } from './card-file';
import { routingBin } from '../../../proto/ts/routing-bin';

/** A batch's evaluation round (up to 10,000 cards) under load: generous, a whole import waits on it anyway. */
const EVALUATION_DEADLINE_MS = 120_000;
/** A batch's Publish: one signed entry of up to 10,000 cards, behind the other batches in flight on a busy node. */
const PUBLISH_DEADLINE_MS = 60_000;
/** A batch that timed out or found the node unreachable (down, restarting) is sent again after 1, 2, 4, 8 s: publishing is idempotent. */
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000];
const RETRIED_CODES = new Set(['DEADLINE_EXCEEDED', 'UNAVAILABLE']);

export interface ImportOptions {
  clientConfig: string;
  file: string;
  details: CardListingDetails;
  batchSize: number;
  inFlight: number;
  progress: boolean;
}

export interface Rejection {
  line: number;
  reason: string;
}

export interface ImportSummary {
  file: string;
  lines: number;
  imported: number;
  duplicates: number;
  rejected: number;
  rejections: Rejection[];
  rejectionsByReason: Record<string, number>;
  entries: number;
  seconds: number;
  pansPerSecond: number;
  /** Batches sent again after a timeout or an unreachable node (their cards count once: a second send finds them as duplicates). */
  retried: number;
  /** Set when the import stopped early; every batch counted in `imported` was acknowledged. */
  error?: string;
}

const MAX_LISTED_REJECTIONS = 1000;

export async function importCards(options: ImportOptions): Promise<ImportSummary> {
  const started = process.hrtime.bigint();
  const fileSize = fs.statSync(options.file).size;
  const client = MamoriClient.fromConfigFile(options.clientConfig, { mode: 'remote', adminDeadlineMs: PUBLISH_DEADLINE_MS });
  const summary: ImportSummary = {
    file: options.file,
    lines: 0,
    imported: 0,
    duplicates: 0,
    rejected: 0,
    rejections: [],
    rejectionsByReason: {},
    entries: 0,
    retried: 0,
    seconds: 0,
    pansPerSecond: 0,
  };
  const bar = options.progress
    ? new SingleBar({ format: 'importing [{bar}] {percentage}% | {imported} imported | {rejected} rejected | {rate}/s', hideCursor: true }, Presets.shades_classic)
    : undefined;
  bar?.start(fileSize, 0, { imported: 0, rejected: 0, rate: 0 });

  const reject = (line: number, reason: string) => {
    summary.rejected++;
    summary.rejectionsByReason[reason] = (summary.rejectionsByReason[reason] ?? 0) + 1;
    if (summary.rejections.length < MAX_LISTED_REJECTIONS) summary.rejections.push({ line, reason });
  };

  let pending = new Set<Promise<void>>();
  try {
    const [key] = await client.hashingKeys();
    // The consortium's PAN-selector phase (docs/oprf.md#migration): under "dual" and "oblivious"
    // each batch is evaluated obliviously (through the SDK's cache and coalescing) and published
    // under no key epoch; under "keyed", hashed here under the newest epoch as before.
    const phase = await client.panSelectorPhase();
    if (phase === 'keyed' && !key) throw new Error('the node returned no active hashing key');
    pending = new Set<Promise<void>>();
    let failure: unknown;
    let batch: string[] = [];
    let bins: string[] = [];

    const publishBatch = async (digits: string[], batchBins: string[]) => {
      if (phase === 'keyed' || !key) {
        const epochKey = key as NonNullable<typeof key>;
        return client.publishPanDigests(digits.map((d) => publishedCard(epochKey.key, d).digest), options.details, epochKey.epoch, batchBins);
      }
      const selectors = await client.panSelectors(digits, { deadlineMs: EVALUATION_DEADLINE_MS });
      return client.publishObliviousSelectors(selectors, options.details, batchBins);
    };

    // Publishing is idempotent (the node counts cards it holds as duplicates), so a batch whose
    // answer was lost to a timeout or a restart is simply sent again.
    const publishWithRetries = async (digits: string[], batchBins: string[]) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await publishBatch(digits, batchBins);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          const wait = RETRY_DELAYS_MS[attempt];
          if (wait === undefined || typeof code !== 'string' || !RETRIED_CODES.has(code) || failure) throw error;
          summary.retried++;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    };

    const send = (digits: string[], batchBins: string[]) => {
      const p: Promise<void> = publishWithRetries(digits, batchBins)
        .then((response) => {
          summary.imported += response.accepted;
          summary.duplicates += response.duplicates;
          if (response.seq > 0) summary.entries++;
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    };

    let bytesRead = 0;
    for await (const lines of readCardFile(options.file, () => undefined, (b) => (bytesRead = b))) {
      for (const { line, field } of lines) {
        summary.lines++;
        const card = publishablePan(field);
        if (!card.ok) {
          reject(line, card.reason);
          continue;
        }
        batch.push(card.digits);
        bins.push(routingBin(card.digits));
        if (batch.length >= options.batchSize) {
          send(batch, bins);
          batch = [];
          bins = [];
          while (pending.size >= options.inFlight) await Promise.race(pending);
          if (failure) throw failure;
        }
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      bar?.update(bytesRead, { imported: summary.imported, rejected: summary.rejected, rate: Math.round(summary.imported / Math.max(seconds, 1e-3)) });
    }
    if (batch.length > 0) send(batch, bins);
    await Promise.all(pending);
    if (failure) throw failure;
    bar?.update(fileSize, { imported: summary.imported, rejected: summary.rejected, rate: Math.round(summary.imported / (Number(process.hrtime.bigint() - started) / 1e9)) });
  } catch (error) {
    summary.error = error instanceof Error ? error.message : String(error);
    // Count every batch the node acknowledged, also those still in flight when the error came.
    await Promise.all(pending);
  } finally {
    bar?.stop();
    client.close();
    summary.seconds = Number(process.hrtime.bigint() - started) / 1e9;
    summary.pansPerSecond = Math.round((summary.imported + summary.duplicates) / Math.max(summary.seconds, 1e-3));
  }
  return summary;
}

export function formatImportSummary(s: ImportSummary): string {
  const lines = [
    ...(s.error ? [`Import stopped: ${s.error}`, 'Re-running the same command is safe: cards already imported count as duplicates.'] : []),
    `Imported ${s.imported} card(s) from ${s.file} in ${s.seconds.toFixed(2)} s (${s.pansPerSecond} PANs/s, ${s.entries} signed entr${s.entries === 1 ? 'y' : 'ies'}).`,
    `Duplicates (already listed by this member or repeated in the file): ${s.duplicates}.`,
    ...(s.retried > 0 ? [`Batches sent again after a timeout or an unreachable node: ${s.retried}.`] : []),
    `Rejected: ${s.rejected}.`,
  ];
  for (const [reason, count] of Object.entries(s.rejectionsByReason)) lines.push(`  ${count} × ${reason}`);
  const shown = s.rejections.slice(0, 20);
  for (const r of shown) lines.push(`  line ${r.line}: ${r.reason}`);
  if (s.rejected > shown.length) lines.push(`  … ${s.rejected - shown.length} more (use --json for up to ${MAX_LISTED_REJECTIONS})`);
  return lines.join('\n');
}
