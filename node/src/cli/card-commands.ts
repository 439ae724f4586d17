// `mamori publish card`, `check card`, `retract card` and `status`.
import * as fs from 'node:fs';
import type { KeyEpochStatus__Output } from '../../../proto/gen/mamori/v1/KeyEpochStatus';
import type { AuditChainStatus__Output } from '../../../proto/gen/mamori/v1/AuditChainStatus';
import { MamoriClient } from '../../../client-sdk/src/client';
import { MamoriClientError } from '../../../client-sdk/src/errors';
import type { CardListingDetails, RetractReasonName } from '../../../client-sdk/src/details';
import type { SightingCounts } from '../../../client-sdk/src/results';
import { isoDate, shortName, toJson } from './output';

/** A PAN given as "-" is read from standard input, so it stays out of shell history and the process list. */
export function readPanArgument(pan: string): string {
  return pan === '-' ? fs.readFileSync(0, 'utf8').trim() : pan;
}

export async function publishCard(clientConfig: string, pan: string, details: CardListingDetails, json: boolean): Promise<string> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
  try {
    const r = await client.publishCompromisedCards([readPanArgument(pan)], details);
    if (json) return toJson(r);
    return r.accepted > 0 ? `Published as entry #${r.seq} of this member's feed.` : 'Already listed by this member; nothing new published.';
  } finally {
    client.close();
  }
}

export async function checkCard(clientConfig: string, pan: string, json: boolean): Promise<{ text: string; listed: boolean }> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
  try {
    const r = await client.checkCard(readPanArgument(pan));
    // A person asking must not mistake "the node did not answer" for "not listed".
    if (r.degraded) throw new MamoriClientError(r.degradedReason ?? 'UNAVAILABLE', `the node did not answer (${r.degradedReason ?? 'unavailable'}); the card was not checked`);
    if (json) return { text: toJson(r), listed: r.listed };
    if (!r.listed) return { text: 'NOT LISTED', listed: false };
    const lines = [`LISTED by ${r.listingMembers} member(s); recommended action: ${r.action.replace('_', '-')}`];
    for (const e of r.evidence) {
      lines.push(
        `  ${e.origin}: ${shortName(e.reason, 'REASON_CODE_')}; exposed ${e.exposed.map((x) => shortName(x, 'DATA_ELEMENT_')).join(', ') || '-'}; ` +
          `confidence ${e.confidence}; first seen ${isoDate(e.firstSeenMs)}; last seen ${isoDate(e.lastSeenMs)}; valid until ${isoDate(e.validUntilMs)}` +
          (e.eventId ? `; event ${e.eventId}` : ''),
      );
    }
    lines.push(`  corroboration score ${r.score}/100; ${sightingsLine(r.sightings)}`);
    return { text: lines.join('\n'), listed: true };
  } finally {
    client.close();
  }
}

function sightingsLine(s: SightingCounts): string {
  const issuer = s.issuerFalsePositive ? ' (including the card issuer)' : '';
  return `sightings by members: ${s.truePositive} true positive, ${s.falsePositive} false positive${issuer}, ${s.seen} seen`;
}

export async function retractCard(clientConfig: string, pan: string, reason: RetractReasonName, json: boolean): Promise<string> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
  try {
    const r = await client.retractCards([readPanArgument(pan)], reason);
    if (json) return toJson(r);
    return r.retracted > 0 ? `Retracted (entry #${r.seq}).` : 'This member had no active listing of that card; nothing retracted.';
  } finally {
    client.close();
  }
}

function keyEpochLines(epochs: readonly KeyEpochStatus__Output[]): string[] {
  return epochs.map(
    (e) =>
      `key epoch ${e.epoch} ${e.state}: ` +
      (e.issuedWithConsortium
        ? 'issued with the consortium'
        : `acknowledged by ${e.acknowledgedBy.join(', ') || 'nobody yet'}${e.notAcknowledgedBy.length ? `; not yet by ${e.notAcknowledgedBy.join(', ')}` : ''}`),
  );
}

function auditChainLine(a: AuditChainStatus__Output | null | undefined): string {
  if (!a) return 'audit log: -';
  if (a.state === 'broken') return `audit log BROKEN at row #${a.firstBadId}: ${a.reason} (mamori audit verify; see docs/operations.md#audit-log)`;
  return a.state === 'ok' ? `audit log: ok, ${a.entries} entries verified ${isoDate(a.verifiedAtMs)}` : `audit log: ok at start, ${a.entries} entries; full verification under way`;
}

function authFailureLines(failures: Record<string, number>): string[] {
  const entries = Object.entries(failures).filter(([, n]) => Number(n) > 0);
  return entries.length ? [`REFUSED member-local calls since start: ${entries.map(([r, n]) => `${r} ${Number(n)}`).join(', ')} (the node log names method and reason)`] : [];
}

export async function showStatus(clientConfig: string, json: boolean): Promise<string> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
  try {
    const s = await client.status();
    if (json) return toJson(s);
    const f = s.filter;
    return [
      `member ${s.member} (${s.roles.join(', ')}), key epoch ${s.keyEpoch}, up since ${isoDate(s.startedAtMs)}`,
      ...(s.replicaOf ? [`read replica: answers checks, mirrors and alerts; refuses writes (they go to the signer: ${s.replicaOf})`] : []),
      `own feed: seq ${s.ownFeed?.seq ?? 0}, head ${s.ownFeed?.headHash?.toString('hex').slice(0, 16) ?? '-'}…`,
      ...s.feeds.map((h) => `feed ${h.origin}: seq ${h.seq}`),
      `entries ${s.entries}, indicators ${s.indicators}`,
      f
        ? `filter: ${f.bits} bits, ${f.hashes} hashes, capacity ${f.capacity}, items ${f.items}, fill ${(f.fill * 100).toFixed(2)}%, ` +
          `estimated false-positive rate ${f.estimatedFpRate.toExponential(2)} (target ${f.targetFpRate.toExponential(0)})`
        : 'filter: -',
      ...s.peers.map(
        (p) =>
          `peer ${p.peer}: ${p.connected ? 'connected' : 'NOT CONNECTED'}, last contact ${isoDate(p.lastContactMs)}, ${p.entriesBehind} entries behind, ` +
          `${p.accepted} accepted` +
          (Object.keys(p.rejections).length ? `, rejected: ${Object.entries(p.rejections).map(([r, n]) => `${r} ${n}`).join(', ')}` : '') +
          (p.backoff.length
            ? `, backing off: ${p.backoff.map((b) => `${b.origin} (${b.failedRounds} failed rounds, retry ${isoDate(Number(b.retryAtMs))})`).join(', ')}`
            : '') +
          (p.lastError ? ` (last error: ${p.lastError})` : ''),
      ),
      ...s.frozenOrigins.map((f) => `FROZEN origin ${f.origin} since ${isoDate(f.sinceMs)}: ${f.reason}`),
      ...keyEpochLines(s.keyEpochs),
      Number(s.damagedEntries) > 0
        ? `DAMAGED stored entries: ${s.damagedEntries} (the scrub repairs them from a peer; the node log names origin and seq)`
        : 'damaged stored entries: 0',
      derivedStateLine(s.derivedState),
      startUpVerificationLine(s.startUpVerification),
      auditChainLine(s.auditChain),
      ...authFailureLines(s.authFailures),
      consortiumLine(s.consortium),
      certificateLine(s.certificate),
    ].join('\n');
  } finally {
    client.close();
  }
}

/** The member certificate: its expiry, loud from 30 days before. */
function certificateLine(c: { notAfterMs: number | string; daysLeft: number; state: string; renewals: number | string; lastRefusal: string } | null | undefined): string {
  if (!c) return 'member certificate: - (no TLS)';
  const until = isoDate(Number(c.notAfterMs));
  const head =
    c.state === 'expired'
      ? `member certificate EXPIRED at ${until}: peers refuse this node; renew it (mamori consortium renew-cert, then mamori member join)`
      : c.state === 'expiring'
        ? `member certificate EXPIRES in ${c.daysLeft} days (${until}): renew it (mamori consortium renew-cert, then mamori member join; no restart needed)`
        : `member certificate valid until ${until} (${c.daysLeft} days)`;
  return head + (Number(c.renewals) > 0 ? `; renewed ${c.renewals} time(s) since start` : '') + (c.lastRefusal ? `; last refused file: ${c.lastRefusal}` : '');
}

/** The consortium document in force, and documents refused since start (by reason). */
function consortiumLine(c: { name: string; version: number | string; members: string[]; documents: Record<string, number | string>; lastChangeVersion: number | string; lastChangeSource: string } | null | undefined): string {
  if (!c) return 'consortium: -';
  const refused = Object.entries(c.documents).filter(([result, n]) => Number(n) > 0 && result !== 'taken' && result !== 'already_in_force');
  return (
    `consortium "${c.name}": document version ${c.version}, ${c.members.length} members` +
    (Number(c.lastChangeVersion) > 0 ? `; version ${c.lastChangeVersion} taken from ${c.lastChangeSource}` : '') +
    (refused.length > 0 ? `; documents refused: ${refused.map(([r, n]) => `${r} ${n}`).join(', ')}` : '')
  );
}

/** How much of the stored ledger this start verified before serving, and from where. */
function startUpVerificationLine(v: { entriesVerified: number | string; checkpointRow: number | string; fullReason: string; durationMs: number | string } | null | undefined): string {
  if (!v) return 'start-up verification: -';
  const how = Number(v.checkpointRow) > 0 ? `after the verification checkpoint at row ${v.checkpointRow} (the scrub re-verifies the rest)` : `every entry${v.fullReason ? ` (${v.fullReason})` : ''}`;
  return `start-up verification: ${v.entriesVerified} entries in ${v.durationMs} ms, ${how}`;
}

/** Derived rows and filter snapshot found to differ from the signed entries since the node started. */
function derivedStateLine(d: { damaged: number | string; repaired: number | string; unrepaired: number | string; orphansRemoved: number | string; snapshotsRejected: number | string } | null | undefined): string {
  if (!d) return 'derived state: -';
  const found = Number(d.damaged) + Number(d.orphansRemoved) + Number(d.snapshotsRejected);
  if (found === 0) return 'derived state: matches the signed entries';
  return (
    `DERIVED STATE DAMAGED since start: ${d.damaged} entries' rows (${d.repaired} rebuilt from the signed entries, ${d.unrepaired} not yet), ` +
    `${d.orphansRemoved} rows of no entry removed, ${d.snapshotsRejected} filter snapshots rejected (the node log names each)`
  );
}
