// ReportSightings: a member's client reports seen / true-positive / false-positive feedback on
// selectors; its node signs them into its feed as one Sightings entry. The request may carry a
// PAN's BIN for this node alone (is this member the card's issuer?): it is neither logged nor
// audited nor signed.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ReportSightingsRequest__Output } from '../../../proto/gen/mamori/v1/ReportSightingsRequest';
import type { ReportSightingsResponse } from '../../../proto/gen/mamori/v1/ReportSightingsResponse';
import type { ExchangePorts } from './ports';
import { validateSightingInputs, type ValidSightingInput } from '../ledger/sightings';
import type { Authenticator } from './auth';
import type { RateLimiter } from './rate-limit';
import { unary } from './unary';

function countByOutcome(sightings: readonly ValidSightingInput[]): { seen: number; truePositive: number; falsePositive: number } {
  const counts = { seen: 0, truePositive: 0, falsePositive: 0 };
  for (const s of sightings) {
    if (s.outcome === 'SIGHTING_OUTCOME_SEEN') counts.seen++;
    else if (s.outcome === 'SIGHTING_OUTCOME_TRUE_POSITIVE') counts.truePositive++;
    else counts.falsePositive++;
  }
  return counts;
}

export function reportSightingsHandler(
  ports: Pick<ExchangePorts, 'reports' | 'audit'>,
  log: Logger,
  authenticate: Authenticator,
  writes: RateLimiter,
): grpc.handleUnaryCall<ReportSightingsRequest__Output, ReportSightingsResponse> {
  return unary('ReportSightings', log, authenticate, async (request: ReportSightingsRequest__Output, _call, caller) => {
    const sightings = validateSightingInputs(request.sightings, Date.now(), 'sightings');
    // A sighting is an item of a signed entry, like an indicator: the same budget.
    writes.take(caller.digest, sightings.length);
    const outcome = await ports.reports.reportSightings(sightings, request.keyEpoch);
    const counts = countByOutcome(sightings);
    log.info({ method: 'ReportSightings', recorded: outcome.recorded, seq: outcome.seq }, 'sightings published');
    ports.audit.record(caller.actor, 'sightings', { ...counts, seq: outcome.seq });
    return outcome;
  });
}
