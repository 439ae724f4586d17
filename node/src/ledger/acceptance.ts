// The acceptance rule of docs/design.md#acceptance, applied to every entry a node stores — a peer's,
// or its own when re-verified on restart: origin is a member, its role allows the
// operation, the signature verifies, seq == head + 1, prev == head hash, the body is
// well-formed and within limits.
import type { EntryBody__Output } from '../../../proto/gen/mamori/v1/EntryBody';
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import { entryHash } from '../../../proto/ts/trust/domains';
import { verifyEntry } from '../../../proto/ts/trust/verify';
import { decodeEntryBody, type FeedHead, isCanonicalBody, operationOf } from './entry';
import { MamoriError } from './errors';
import { LIMITS, memberIdProblem } from './limits';
import { type OperationName, type Role, roleAllowsKind, roleAllowsOperation } from './roles';
import { validateCommonPointFlags, validateFraudReportEnvelope, wasAggregatorAt, type ValidCommonPointFlags, type ValidFraudReport } from './common-point';
import { validateCardTestingReport, validatePublication, validateRetraction, type ValidCardTestingReport, type ValidRetraction } from './validate';
import { validateSightings, type ValidSighting } from './sightings';
import { validateOprfEvaluationCounts, type ValidOprfEvaluationCounts } from './oprf-counts';

export interface MemberKeys {
  roles: readonly Role[];
  signingPublicKey: Uint8Array;
  /** The consortium's common-point aggregator (consortium file commonPoint.aggregator), if it names one. */
  commonPointAggregator?: string;
  /** When this member was last the aggregator (consortium file commonPoint.formerAggregators), if it ever was. */
  formerAggregatorUntilMs?: number;
  /** An evaluator of the consortium file's oprf section: may publish evaluation counts. */
  oprfEvaluator?: boolean;
}

export interface AcceptanceContext {
  member(origin: string): MemberKeys | undefined;
  head(origin: string): FeedHead;
}

export interface AcceptedEntry {
  origin: string;
  seq: number;
  hash: Buffer;
  body: Buffer;
  signature: Buffer;
  createdAtMs: number;
  keyEpoch: number;
  operation: OperationName;
  publication?: PublishIndicators__Output;
  retraction?: ValidRetraction;
  cardTestingReport?: ValidCardTestingReport;
  sightings?: ValidSighting[];
  keyEpochAck?: { epoch: number };
  fraudReport?: ValidFraudReport;
  commonPointFlags?: ValidCommonPointFlags;
  oprfEvaluationCounts?: ValidOprfEvaluationCounts;
}

/** Operations whose content this version validates; the others are refused until they are. */
const SUPPORTED_OPERATIONS: ReadonlySet<OperationName> = new Set([
  'publishIndicators',
  'retract',
  'keyEpochAck',
  'cardTestingReport',
  'sightings',
  'fraudReport',
  'commonPointFlags',
  'oprfEvaluationCounts',
]);

export function acceptEntry(entry: { body: Uint8Array; signature: Uint8Array }, ctx: AcceptanceContext): AcceptedEntry {
  if (!entry.body || entry.body.length === 0) throw MamoriError.malformedEntry('empty body');
  if (entry.body.length > LIMITS.maxEntryBodyBytes) throw MamoriError.entryTooLarge(entry.body.length, LIMITS.maxEntryBodyBytes);
  const body: EntryBody__Output = decodeEntryBody(entry.body);
  const origin = body.origin;
  const seq = body.seq;
  // Checked before NOT_A_MEMBER, whose message names the origin: a card number never reaches a log.
  const originProblem = memberIdProblem(origin);
  if (originProblem) throw MamoriError.malformedEntry(`origin ${originProblem}`);
  if (!Number.isSafeInteger(seq) || seq < 1) throw MamoriError.malformedEntry(`seq must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
  const member = ctx.member(origin);
  if (!member) throw MamoriError.notAMember(origin);

  const head = ctx.head(origin);
  if (seq <= head.seq) throw MamoriError.seqReplay(origin, seq, head.seq);
  if (seq !== head.seq + 1) throw MamoriError.seqGap(origin, seq, head.seq);
  if (!body.prev || !head.hash.equals(body.prev)) throw MamoriError.prevMismatch(origin, seq);
  if (!verifyEntry(entry, member.signingPublicKey)) {
    throw MamoriError.badSignature(origin, seq);
  }

  // One encoding per body: re-encoding what was decoded must give the same bytes. This refuses
  // unknown fields (where free text or a card number could ride along), repeated or mistyped
  // fields, and any body that different parsers could read differently.
  if (!isCanonicalBody(entry.body)) throw MamoriError.malformedEntry(`entry ${origin}#${seq}: body is not in canonical encoding`);

  const operation = operationOf(body);
  if (!operation) throw MamoriError.malformedEntry(`entry ${origin}#${seq} carries no operation`);
  if (!roleAllowsOperation(member.roles, operation)) throw MamoriError.roleForbids(origin, operation);
  if (!SUPPORTED_OPERATIONS.has(operation)) throw MamoriError.malformedEntry(`entry ${origin}#${seq}: ${operation} is not accepted by this protocol version`);

  const accepted: AcceptedEntry = {
    origin,
    seq,
    hash: entryHash(entry.body),
    body: Buffer.from(entry.body),
    signature: Buffer.from(entry.signature),
    createdAtMs: body.createdAtMs,
    keyEpoch: body.keyEpoch,
    operation,
  };
  try {
    if (operation === 'publishIndicators') {
      accepted.publication = validatePublication(body.publishIndicators, 'publishIndicators', 'entry', body.createdAtMs);
      const kind = accepted.publication.kind as Parameters<typeof roleAllowsKind>[1];
      if (!roleAllowsKind(member.roles, kind)) throw MamoriError.roleForbids(origin, `publishing ${kind}`);
      rejectRepeatedDigests(accepted.publication.indicators.flatMap((ind) => ind.selectors.map((s) => s.digest)));
    } else if (operation === 'retract') {
      accepted.retraction = validateRetraction(body.retract, 'retract');
      rejectRepeatedDigests(accepted.retraction.selectors.map((s) => s.digest));
    } else if (operation === 'cardTestingReport') {
      accepted.cardTestingReport = validateCardTestingReport(body.cardTestingReport, 'cardTestingReport');
    } else if (operation === 'sightings') {
      accepted.sightings = validateSightings(body.sightings, body.createdAtMs, 'sightings');
      // The issuer's word outweighs others' in the score, so only an issuer may claim it.
      if (accepted.sightings.some((s) => s.byCardIssuer) && !member.roles.includes('issuer')) {
        throw MamoriError.roleForbids(origin, 'a sighting marked as the card issuer\'s (only issuers may)');
      }
    } else if (operation === 'keyEpochAck') {
      accepted.keyEpochAck = validateKeyEpochAck(body.keyEpochAck);
    } else if (operation === 'fraudReport') {
      accepted.fraudReport = validateFraudReportEnvelope(body.fraudReport, 'fraudReport');
    } else if (operation === 'commonPointFlags') {
      if (!wasAggregatorAt(origin, body.createdAtMs, member)) {
        throw MamoriError.roleForbids(origin, 'commonPointFlags (only the consortium\'s common-point aggregator, or a former one for entries of its term)');
      }
      accepted.commonPointFlags = validateCommonPointFlags(body.commonPointFlags, 'commonPointFlags');
      rejectRepeatedDigests(accepted.commonPointFlags.flags.map((f) => f.merchant.digest));
    } else if (operation === 'oprfEvaluationCounts') {
      if (member.oprfEvaluator !== true) {
        throw MamoriError.roleForbids(origin, 'oprfEvaluationCounts (only evaluators of the consortium file\'s oprf section)');
      }
      accepted.oprfEvaluationCounts = validateOprfEvaluationCounts(body.oprfEvaluationCounts, 'oprfEvaluationCounts');
    }
  } catch (error) {
    if (error instanceof MamoriError && error.code === 'INVALID_ARGUMENT') {
      throw MamoriError.malformedEntry(`entry ${origin}#${seq}: ${error.message}`);
    }
    throw error;
  }
  return accepted;
}

// Only the form of the epoch is checked here, never the consortium file in force: acceptance must
// give the same answer at every node and at every time, or a node that takes a new file later
// than the ack's origin refuses the ack, and a feed fetched from seq 1 after an epoch left the
// file would gap for good. Which epochs an ack counts for is decided against the file in force
// where acks are read (membership/epoch-acks.ts).
function validateKeyEpochAck(ack: EntryBody__Output['keyEpochAck']): { epoch: number } {
  const epoch = ack?.epoch ?? 0;
  if (!Number.isInteger(epoch) || epoch < 1 || epoch > LIMITS.maxKeyEpoch) {
    throw MamoriError.invalidArgument('keyEpochAck.epoch', `must be an epoch number from 1 to ${LIMITS.maxKeyEpoch}`);
  }
  return { epoch };
}

function rejectRepeatedDigests(digests: Buffer[]): void {
  const seen = new Set<string>();
  for (const d of digests) {
    const key = d.toString('latin1');
    if (seen.has(key)) throw MamoriError.malformedEntry('the same selector appears twice in one entry');
    seen.add(key);
  }
}
