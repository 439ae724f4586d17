// Alerts as an async iterator that survives reconnects: it remembers the id of the last alert
// it yielded and reopens the stream after it, so none is missed and none repeated. Card-testing
// reports: the time bucket a report covers, computed here so reporters agree on boundaries.
import type * as grpc from './transport';
import type { Alert__Output } from '../../proto/gen/mamori/v1/Alert';
import type { CardListingAlert__Output } from '../../proto/gen/mamori/v1/CardListingAlert';
import type { CardTestingReport } from '../../proto/gen/mamori/v1/CardTestingReport';
import { backoffDelay, sleep } from '../../proto/ts/backoff';
import type { MerchantFields, MerchantSelector } from '../../proto/ts/merchant';
import { MamoriClientError } from './errors';

/**
 * One alert. kind 'card-testing': bin, reportingMembers, merchants and the window. kind
 * 'card-listing': `cardListing` (null otherwise) — the listing member and entry seq, reason,
 * exposed data, event id, key epoch, and the 32-byte PAN selectors of this issuer's cards in
 * the entry (hash your own card base under `keyEpoch` to find them; never log them).
 */
export type MamoriAlert = Alert__Output;
export type MamoriCardListingAlert = CardListingAlert__Output;

export interface AlertsOptions {
  /** Yield alerts with an id greater than this (the cursor a previous run ended on); default 0. */
  after?: number;
  /** Keep streaming new alerts, reconnecting after the node restarts; default false (replay, then end). */
  follow?: boolean;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

export interface CardTestingReportInput {
  /** First 6 to 8 digits of the card numbers tested. */
  bin: string;
  attempts: number;
  declines: number;
  /** Length of the time bucket (default 10). */
  bucketMinutes?: number;
  /** Start of the bucket (default: the bucket holding now). */
  bucketStartMs?: number;
  /** The merchant under attack, hashed here; the first field present of corporate number, domain, phone, name and address, … is used. */
  merchant?: MerchantFields;
}

export const DEFAULT_BUCKET_MINUTES = 10;

/** The request for a report; `hashMerchant` turns merchant fields into selectors under the newest key. */
export async function cardTestingRequest(
  input: CardTestingReportInput,
  hashMerchant: (fields: MerchantFields) => Promise<MerchantSelector[]>,
  nowMs = Date.now(),
): Promise<CardTestingReport> {
  const bucketMinutes = input.bucketMinutes ?? DEFAULT_BUCKET_MINUTES;
  const bucketMs = bucketMinutes * 60_000;
  const bucketStartMs = input.bucketStartMs ?? (Number.isInteger(bucketMinutes) && bucketMinutes > 0 ? Math.floor(nowMs / bucketMs) * bucketMs : 0);
  const [merchant] = input.merchant ? await hashMerchant(input.merchant) : [];
  return {
    bin: input.bin,
    attempts: input.attempts,
    declines: input.declines,
    bucketMinutes,
    bucketStartMs,
    merchant: merchant ? { type: merchant.type, digest: merchant.digest } : null,
  };
}

/** Errors no reconnect can fix. */
const FATAL: ReadonlySet<string> = new Set(['UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'CONFIG']);
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2000;

export async function* alertStream(
  open: (request: { afterId: number; follow: boolean }) => grpc.ClientReadableStream<Alert__Output>,
  options: AlertsOptions,
  isClosed: () => boolean,
): AsyncGenerator<MamoriAlert, void, undefined> {
  let cursor = options.after ?? 0;
  if (!Number.isSafeInteger(cursor) || cursor < 0) throw new MamoriClientError('INVALID_ARGUMENT', 'after: expected a non-negative integer (an alert id)');
  const follow = options.follow ?? false;
  const stopped = () => isClosed() || options.signal?.aborted === true;
  let attempt = 0;
  while (!stopped()) {
    let call: grpc.ClientReadableStream<Alert__Output>;
    try {
      call = open({ afterId: cursor, follow });
    } catch (error) {
      if (stopped()) return;
      throw error;
    }
    const cancel = () => call.cancel();
    options.signal?.addEventListener('abort', cancel);
    try {
      for await (const alert of call as AsyncIterable<Alert__Output>) {
        if (alert.id <= cursor) continue; // never yield an alert twice, whatever the server sends
        cursor = alert.id;
        attempt = 0;
        yield alert;
      }
      if (!follow) return;
    } catch (error) {
      if (stopped()) return;
      const e = MamoriClientError.fromGrpc(error as grpc.ServiceError);
      if (!follow || FATAL.has(e.code)) throw e;
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
    // The node went away (restart, network): reopen after the last alert yielded.
    await sleep(backoffDelay(attempt++, RECONNECT_BASE_MS, RECONNECT_MAX_MS), options.signal);
  }
}
