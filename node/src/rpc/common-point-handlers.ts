// ReportFraud (an issuer's confirmed-fraud cards, sealed to the aggregator by the node) and
// WatchMerchants (this member's watch list). Logs carry counts, never a selector.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { PublishResponse } from '../../../proto/gen/mamori/v1/PublishResponse';
import type { ReportFraudRequest__Output } from '../../../proto/gen/mamori/v1/ReportFraudRequest';
import type { WatchMerchantsRequest__Output } from '../../../proto/gen/mamori/v1/WatchMerchantsRequest';
import type { WatchMerchantsResponse } from '../../../proto/gen/mamori/v1/WatchMerchantsResponse';
import type { ExchangePorts } from './ports';
import { validateFraudReportContents } from '../ledger/common-point';
import { MamoriError } from '../ledger/errors';
import { LIMITS } from '../ledger/limits';
import { MERCHANT_SELECTOR_TYPES, rejectRepeatedSelectors, validateSelectors } from '../ledger/validate';
import type { Authenticator } from './auth';
import type { RateLimiter } from './rate-limit';
import { unary } from './unary';

export function reportFraudHandler(
  ports: Pick<ExchangePorts, 'reports' | 'membership' | 'audit'>,
  log: Logger,
  authenticate: Authenticator,
  writes: RateLimiter,
): grpc.handleUnaryCall<ReportFraudRequest__Output, PublishResponse> {
  return unary('ReportFraud', log, authenticate, async (request: ReportFraudRequest__Output, _call, caller) => {
    // The bounds the aggregator checks after opening: a report it would refuse is refused here, by field.
    const bounds = { notAfterMs: Date.now(), lookBackDays: ports.membership.commonPointLookBackDays() };
    const contents = validateFraudReportContents(request.contents, 'contents', bounds);
    writes.take(caller.digest, contents.cards.length);
    const outcome = await ports.reports.reportFraud(contents, request.keyEpoch);
    log.info({ method: 'ReportFraud', cards: contents.cards.length, merchants: contents.volumes.length, seq: outcome.seq }, 'fraud report sealed and published');
    ports.audit.record(caller.actor, 'fraud-report', { cards: contents.cards.length, merchants: contents.volumes.length, seq: outcome.seq });
    return outcome;
  });
}

export function watchMerchantsHandler(
  ports: Pick<ExchangePorts, 'watchList' | 'membership' | 'audit'>,
  log: Logger,
  authenticate: Authenticator,
): grpc.handleUnaryCall<WatchMerchantsRequest__Output, WatchMerchantsResponse> {
  return unary('WatchMerchants', log, authenticate, (request: WatchMerchantsRequest__Output, _call, caller) => {
    const merchants = validateSelectors(request.merchants, 'merchants', LIMITS.maxSelectorsPerCheck);
    merchants.forEach((m, i) => {
      if (!MERCHANT_SELECTOR_TYPES.has(m.type)) throw MamoriError.invalidArgument(`merchants[${i}].type`, `must be a merchant selector, not ${m.type}`);
    });
    rejectRepeatedSelectors(merchants, 'merchants');
    if (!request.remove) ports.membership.requireActiveEpoch(request.keyEpoch);
    const watched = ports.watchList.update(merchants, request.remove, request.keyEpoch);
    log.info({ method: 'WatchMerchants', changed: merchants.length, remove: request.remove, watched }, 'watch list changed');
    ports.audit.record(caller.actor, request.remove ? 'unwatch-merchants' : 'watch-merchants', { changed: merchants.length, watched });
    return { watched };
  });
}
