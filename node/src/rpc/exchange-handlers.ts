// Thin Exchange handlers: validate the request, call the node, shape the response.
import type { Logger } from 'pino';
import type { ExchangeHandlers } from '../../../proto/gen/mamori/v1/Exchange';
import type { CheckResponse } from '../../../proto/gen/mamori/v1/CheckResponse';
import type { EpochKey } from '../membership/consortium';
import { MamoriError } from '../ledger/errors';
import { LIMITS, MEMBER_ID_PATTERN } from '../ledger/limits';
import { validatePublication, validateRetraction, validateSelectors } from '../ledger/validate';
import type { NodeLimits } from '../config/limits-schema';
import type { ExchangePorts } from './ports';
import type { StreamWatch } from './streams';
import type { Authenticator } from './auth';
import { mirrorFilterHandler } from './mirror-handler';
import { exchangeGuard } from './limits';
import { alertsHandler, reportCardTestingHandler } from './card-testing-handlers';
import { unary } from './unary';
import { reportFraudHandler, watchMerchantsHandler } from './common-point-handlers';
import { reportSightingsHandler } from './sighting-handlers';

const hashingKeyMessage = (k: EpochKey) => ({ epoch: k.epoch, key: Buffer.from(k.key), activeFromMs: k.activeFromMs, retiresAtMs: k.retiresAtMs ?? 0 });

export function exchangeHandlers(
  ports: ExchangePorts,
  settings: { limits: NodeLimits; maxMessageBytes: number },
  log: Logger,
  authenticate: Authenticator,
  streams: StreamWatch,
): ExchangeHandlers {
  const { node, audit, membership, frozen } = ports;
  // Rate limits per client token and the enumeration alert (limits.ts).
  const guard = exchangeGuard(ports.observer, settings.limits, log);
  return {
    Publish: unary('Publish', log, authenticate, async (request, _call, caller) => {
      const publication = validatePublication(request.publication, 'publication');
      guard.publications.take(caller.digest, publication.indicators.length);
      const outcome = await node.publish(publication, request.keyEpoch);
      log.info({ method: 'Publish', accepted: outcome.accepted, duplicates: outcome.duplicates, seq: outcome.seq }, 'published');
      audit.record(caller.actor, 'publish', { kind: publication.kind, accepted: outcome.accepted, duplicates: outcome.duplicates, seq: outcome.seq });
      return outcome;
    }),

    Retract: unary('Retract', log, authenticate, async (request, _call, caller) => {
      const retraction = validateRetraction(request, 'request');
      // Retractions write signed entries too: they share the publication budget.
      guard.publications.take(caller.digest, retraction.selectors.length);
      const outcome = await node.retract(retraction);
      log.info({ method: 'Retract', retracted: outcome.retracted, notListed: outcome.notListed, seq: outcome.seq }, 'retracted');
      audit.record(caller.actor, 'retract', { reason: retraction.reason, retracted: outcome.retracted, notListed: outcome.notListed, seq: outcome.seq });
      return outcome;
    }),

    // Served once the consortium file deals threshold-PRF seeds (docs/oprf.md).
    EvaluatePanSelectors: unary('EvaluatePanSelectors', log, authenticate, () => {
      throw MamoriError.failedPrecondition('the consortium file in force has no oprf section: PAN selectors are not evaluated obliviously yet');
    }),

    Check: unary('Check', log, authenticate, (request, _call, caller): CheckResponse => {
      const selectors = validateSelectors(request.selectors, 'selectors', LIMITS.maxSelectorsPerCheck);
      guard.checks.take(caller.digest, selectors.length);
      const results = node.check(selectors);
      guard.enumeration.observe(caller.digest, selectors, results);
      audit.checked(caller.actor, results.length, results.reduce((n, r) => (r.listed ? n + 1 : n), 0));
      return { results };
    }),

    Status: unary('Status', log, authenticate, () => ({
      ...node.status(),
      peers: ports.peers().map((p) => ({
        peer: p.peer,
        connected: p.connected,
        lastContactMs: p.lastContactMs,
        entriesBehind: p.entriesBehind,
        accepted: p.accepted,
        rejections: p.rejections,
        lastError: p.lastError ?? '',
      })),
      frozenOrigins: frozen.frozenOrigins(),
      auditChain: ports.security.auditChain(),
      authFailures: ports.security.authFailures(),
    })),

    Unfreeze: unary('Unfreeze', log, authenticate, (request, _call, caller) => {
      if (!MEMBER_ID_PATTERN.test(request.origin)) throw MamoriError.invalidArgument('origin', 'must be a member id');
      // Only a member or a frozen origin is named in the log and the audit: any other string
      // (a card number typed by mistake) is refused before it is written anywhere.
      if (!membership.isMember(request.origin) && !frozen.frozenOrigins().some((f) => f.origin === request.origin)) {
        throw new MamoriError('NOT_FOUND', 'origin: neither a current member of the consortium nor a frozen origin', { field: 'origin' });
      }
      const wasFrozen = frozen.unfreeze(request.origin);
      log.warn({ origin: request.origin, wasFrozen }, 'origin unfrozen by this member\'s operator');
      audit.record(caller.actor, 'unfreeze', { origin: request.origin, wasFrozen });
      return { wasFrozen };
    }),

    MirrorFilter: mirrorFilterHandler(ports, settings.maxMessageBytes, log, authenticate, streams),
    ReportCardTesting: reportCardTestingHandler(ports, log, authenticate, guard.publications),
    Alerts: alertsHandler(ports, log, authenticate, streams),
    ReportSightings: reportSightingsHandler(ports, log, authenticate, guard.publications),
    ReportFraud: reportFraudHandler(ports, log, authenticate, guard.publications),
    WatchMerchants: watchMerchantsHandler(ports, log, authenticate),

    // Who fetched the hashing keys is audited: with them, selectors can be computed offline.
    GetHashingKeys: unary('GetHashingKeys', log, authenticate, (_request, _call, caller) => {
      const keys = membership.hashingKeys();
      const upcoming = membership.upcomingHashingKeys();
      audit.record(caller.actor, 'hashing-keys', { epochs: keys.map((k) => k.epoch), upcoming: upcoming.map((k) => k.epoch) });
      return { keys: keys.map(hashingKeyMessage), upcoming: upcoming.map(hashingKeyMessage) };
    }),
  };
}
