// ReportCardTesting (an acquirer's or PSP's report, signed into its feed) and Alerts (this
// member's alerts: a replay after the client's cursor, then live ones). The stream pulls
// pages from SQLite by id and only uses the detector's event as a wake-up, so an alert
// raised during the replay is neither missed nor sent twice.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Alert } from '../../../proto/gen/mamori/v1/Alert';
import type { AlertsRequest__Output } from '../../../proto/gen/mamori/v1/AlertsRequest';
import type { CardTestingReport__Output } from '../../../proto/gen/mamori/v1/CardTestingReport';
import type { PublishResponse } from '../../../proto/gen/mamori/v1/PublishResponse';
import type { ExchangePorts } from './ports';
import { MamoriError } from '../ledger/errors';
import { integerInRange, validateCardTestingReport } from '../ledger/validate';
import type { StoredAlert } from '../store/alert-store';
import { CARD_LISTING_ALERT, type CardListingAlertPayload } from '../detection/card-listings';
import { toCardListingAlert } from './card-listing-alert';
import type { Authenticator } from './auth';
import { toServiceError } from './status-mapping';
import type { StreamWatch } from './streams';
import type { RateLimiter } from './rate-limit';
import { unary } from './unary';
import { watchedMerchantAlertFields } from './watch-alerts';
import { OPRF_ENUMERATION_ALERT } from '../detection/oprf-enumeration';

/** A report's bucket may start at most this far in the node's future (clock skew). */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;
// A card-listing alert may hold up to 10,000 selectors (~650 KB stored): a page stays a few MB.
const ALERTS_PER_PAGE = 32;

export function reportCardTestingHandler(
  ports: Pick<ExchangePorts, 'reports' | 'audit'>,
  log: Logger,
  authenticate: Authenticator,
  writes: RateLimiter,
): grpc.handleUnaryCall<CardTestingReport__Output, PublishResponse> {
  return unary('ReportCardTesting', log, authenticate, async (request: CardTestingReport__Output, _call, caller) => {
    const report = validateCardTestingReport(request, 'report');
    writes.take(caller.digest, 1); // a report is a signed entry, like a publication
    if (report.bucketStartMs > Date.now() + MAX_FUTURE_SKEW_MS) throw MamoriError.invalidArgument('report.bucketStartMs', 'is in the future');
    const outcome = await ports.reports.reportCardTesting(report);
    log.info({ method: 'ReportCardTesting', bin: report.bin.slice(0, 6), seq: outcome.seq }, 'card-testing report published');
    ports.audit.record(caller.actor, 'card-testing-report', { seq: outcome.seq, attempts: report.attempts, declines: report.declines });
    return outcome;
  });
}

function toAlert(a: StoredAlert): Alert {
  const p = a.payload;
  return {
    id: a.id,
    kind: a.kind,
    createdAtMs: a.createdAtMs,
    bin: String(p.bin ?? ''),
    reportingMembers: Number(p.reportingMembers ?? 0),
    merchants: Number(p.merchants ?? 0),
    windowStartMs: Number(p.windowStartMs ?? 0),
    windowEndMs: Number(p.windowEndMs ?? 0),
    ...watchedMerchantAlertFields(a),
    ...(a.kind === CARD_LISTING_ALERT ? { cardListing: toCardListingAlert(p as unknown as CardListingAlertPayload) } : {}),
    ...(a.kind === OPRF_ENUMERATION_ALERT
      ? { oprfEnumeration: { requestingMember: String(p.requestingMember ?? ''), band: Number(p.band ?? 0), evaluator: String(p.evaluator ?? '') } }
      : {}),
  };
}

export function alertsHandler(ports: Pick<ExchangePorts, 'alerts'>, log: Logger, authenticate: Authenticator, streams: StreamWatch) {
  const { alerts } = ports;
  return (call: grpc.ServerWritableStream<AlertsRequest__Output, Alert>): void => {
    let cursor: number;
    try {
      authenticate(call.metadata, 'Alerts');
      cursor = call.request.afterId;
      integerInRange(cursor, 'afterId', 0, Number.MAX_SAFE_INTEGER);
    } catch (error) {
      call.emit('error', toServiceError(error, log, 'Alerts'));
      return;
    }
    const follow = call.request.follow;
    let closed = false;
    let pending = false;
    let wake: (() => void) | undefined;

    const onAlert = () => {
      pending = true;
      wake?.();
    };
    const finish = (status?: Partial<grpc.StatusObject>) => {
      if (closed) return;
      closed = true;
      alerts.off('alert', onAlert);
      wake?.();
      if (status) call.emit('error', status);
      else if (!call.cancelled) call.end();
    };

    alerts.on('alert', onAlert);
    call.on('cancelled', () => finish());
    call.on('close', () => finish());

    const pump = async (): Promise<void> => {
      while (!closed) {
        pending = false;
        const page = alerts.after(cursor, ALERTS_PER_PAGE);
        for (const alert of page) {
          if (closed) return;
          const flowing = call.write(toAlert(alert));
          cursor = alert.id;
          if (!flowing && !(await streams.waitForDrain(call))) return finish();
        }
        if (page.length === ALERTS_PER_PAGE) continue;
        if (!follow) return finish();
        if (!pending) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    };
    pump().catch((error: unknown) => finish(toServiceError(error, log, 'Alerts')));
  };
}
