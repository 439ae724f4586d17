// Thin Exchange handlers: validate the request, call the node, shape the response.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EvaluatePanSelectorsResponse } from '../../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatePanSelectorsRequest__Output } from '../../../proto/gen/mamori/v1/EvaluatePanSelectorsRequest';
import type { EvaluatePanSelectorsStreamRequest__Output } from '../../../proto/gen/mamori/v1/EvaluatePanSelectorsStreamRequest';
import type { EvaluatePanSelectorsStreamResponse } from '../../../proto/gen/mamori/v1/EvaluatePanSelectorsStreamResponse';
import { answerStreamHandler } from './answer-stream';
import type { SelectorsResult } from '../evaluation/selector-evaluation';
import type { ExchangeHandlers } from '../../../proto/gen/mamori/v1/Exchange';
import type { CheckResponse } from '../../../proto/gen/mamori/v1/CheckResponse';
import type { CheckRequest__Output } from '../../../proto/gen/mamori/v1/CheckRequest';
import type { EpochKey } from '../membership/consortium';
import { MamoriError } from '../ledger/errors';
import { LIMITS, MEMBER_ID_PATTERN } from '../ledger/limits';
import { validateCheckSelectors, validatePackedCheck, validatePublication, validateRetraction } from '../ledger/validate';
import type { NodeLimits } from '../config/limits-schema';
import type { ExchangePorts } from './ports';
import type { StreamWatch } from './streams';
import type { Authenticator, Caller } from './auth';
import { checkStreamHandler } from './check-stream';
import { mirrorFilterHandler } from './mirror-handler';
import { exchangeGuard } from './limits';
import { alertsHandler, reportCardTestingHandler } from './card-testing-handlers';
import { unary } from './unary';
import { reportFraudHandler, watchMerchantsHandler } from './common-point-handlers';
import { reportSightingsHandler } from './sighting-handlers';
import { refusingWritesOnReplica } from './replica-writes';

/** Most time a forwarded evaluation may take, whatever the client's deadline. */
const MAX_FORWARD_MS = 60_000;

/** The deadline of the calls to evaluators: a little before the client's own, at most MAX_FORWARD_MS away. */
function forwardDeadline(clientDeadline: grpc.Deadline): number {
  const now = Date.now();
  const client = clientDeadline instanceof Date ? clientDeadline.getTime() : Number(clientDeadline);
  return Math.min(Number.isFinite(client) ? client - 100 : now + 30_000, now + MAX_FORWARD_MS);
}

/** EvaluatePanSelectors requests one client's stream may have outstanding (the SDK keeps at most selectors.maxInFlight, ≤ 16). */
export const MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM = 64;

const selectorsResponse = (r: SelectorsResult, panSelectors: string): EvaluatePanSelectorsResponse => ({
  panSelectors,
  setId: r.setId,
  threshold: r.threshold,
  evaluators: r.evaluators,
  binDigits: r.binDigits,
  answers: r.answers.map((a) => ({
    evaluator: a.evaluator,
    groups: a.groups.map((labels) => ({ labels })),
    elements: a.elements ?? Buffer.alloc(0),
    errorCode: a.errorCode ?? '',
    errorMessage: a.errorMessage ?? '',
  })),
});

const hashingKeyMessage = (k: EpochKey) => ({ epoch: k.epoch, key: Buffer.from(k.key), activeFromMs: k.activeFromMs, retiresAtMs: k.retiresAtMs ?? 0 });

export function exchangeHandlers(
  ports: ExchangePorts,
  settings: { limits: NodeLimits; maxMessageBytes: number },
  log: Logger,
  authenticateCaller: Authenticator,
  streams: StreamWatch,
): ExchangeHandlers {
  const { node, audit, membership, frozen } = ports;
  // Every handler authenticates first: on a read replica, write calls are refused right there.
  const authenticate = refusingWritesOnReplica(authenticateCaller, ports.writeRefusal);
  // Rate limits per client token and the enumeration alert (limits.ts).
  const guard = exchangeGuard(ports.observer, settings.limits, log);

  /**
   * One check in either wire form, for Check and for each message of CheckStream: validated
   * (fields named from `at`, the request's path in its message), rate-limited, answered,
   * observed for enumeration and audited. The node's check records the metrics.
   */
  const answerCheck = (request: CheckRequest__Output, caller: Caller, at = ''): CheckResponse => {
    if (request.packedDigests && request.packedDigests.length > 0) {
      // The packed form (docs/protocol.md#packed-checks): no message and no Buffer per selector.
      const packed = validatePackedCheck(request, LIMITS.maxSelectorsPerCheck, at);
      guard.checks.take(caller.digest, packed.count);
      const { bitmap, listed } = node.checkPacked(packed);
      guard.enumeration.observePacked(caller.digest, packed.digests, packed.count, listed.length);
      audit.checked(caller.actor, packed.count, listed.length);
      return { listedBitmap: bitmap, listedResults: listed };
    }
    const selectors = validateCheckSelectors(request.selectors, `${at}selectors`, LIMITS.maxSelectorsPerCheck);
    guard.checks.take(caller.digest, selectors.length);
    const results = node.check(selectors);
    guard.enumeration.observe(caller.digest, selectors, results);
    audit.checked(caller.actor, results.length, results.reduce((n, r) => (r.listed ? n + 1 : n), 0));
    return { results };
  };
  /** EvaluatePanSelectors' body, for the unary call and for each message of its stream. */
  const evaluatePanSelectors = async (request: EvaluatePanSelectorsRequest__Output, caller: Caller, deadlineMs: number): Promise<EvaluatePanSelectorsResponse> => {
    const selectors = ports.selectors;
    if (!selectors) throw MamoriError.failedPrecondition('the consortium file in force has no oprf section: PAN selectors are not evaluated obliviously yet');
    const items = request.items ?? [];
    if (items.length === 0) return selectorsResponse(selectors.parameters(), membership.panSelectorPhase());
    // Evaluations count against the client's check budget: each one is a card about to be checked.
    guard.checks.take(caller.digest, items.length);
    const result = await selectors.evaluate(
      items.map((item) => ({ bin: item.bin, blinded: item.blinded })),
      { verify: request.verify === true, exclude: request.exclude ?? [], deadlineMs },
    );
    return selectorsResponse(result, membership.panSelectorPhase());
  };
  return {
    Publish: unary('Publish', log, authenticate, async (request, _call, caller) => {
      const publication = validatePublication(request.publication, 'publication', 'request', Date.now());
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

    // Oblivious PAN selectors (docs/oprf.md): forwarded to the evaluators of the dealing in force.
    EvaluatePanSelectors: unary('EvaluatePanSelectors', log, authenticate, (request, call, caller) => evaluatePanSelectors(request, caller, forwardDeadline(call.getDeadline()))),

    // The same on one open stream: each message carries its own budget in place of a call's deadline.
    EvaluatePanSelectorsStream: answerStreamHandler<EvaluatePanSelectorsStreamRequest__Output, EvaluatePanSelectorsStreamResponse & { id: number }, Caller>({
      method: 'EvaluatePanSelectorsStream',
      log,
      streams,
      authenticate: (call) => authenticate(call.metadata, 'EvaluatePanSelectorsStream'),
      answer: async (message, caller) => {
        if (!message.evaluate) throw MamoriError.invalidArgument('evaluate', 'missing: each message carries one EvaluatePanSelectorsRequest');
        return { evaluate: await evaluatePanSelectors(message.evaluate, caller, forwardDeadline(message.timeoutMs > 0 ? Date.now() + message.timeoutMs : Infinity)) };
      },
      maxInFlight: MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM,
      tooManyWaiting: `more than ${MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM} evaluations waiting on one EvaluatePanSelectorsStream: read the answers before sending more`,
      callerName: (caller) => caller.name,
      endedForNotReading: 'evaluation stream ended: its client sends evaluations and does not read the answers',
    }),

    Check: unary('Check', log, authenticate, (request, _call, caller) => answerCheck(request, caller)),
    CheckStream: checkStreamHandler(answerCheck, log, authenticate, streams),

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
        backoff: p.backoff,
        failedFetchRounds: p.failedFetchRounds,
      })),
      frozenOrigins: frozen.frozenOrigins(),
      oprf: ports.selectors ? { ...ports.selectors.status(), panSelectors: membership.panSelectorPhase() } : undefined,
      auditChain: ports.security.auditChain(),
      authFailures: ports.security.authFailures(),
      consortium: ports.consortium.status(),
      certificate: ports.certificate?.status(),
      replicaOf: ports.replicaOf,
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
      return { keys: keys.map(hashingKeyMessage), upcoming: upcoming.map(hashingKeyMessage), panSelectors: membership.panSelectorPhase(), packedChecks: true };
    }),
  };
}
