// Hashing-key rotation by the consortium operator (docs/design.md#key-rotation, the cryptoperiod procedure):
// `mamori keys rotate` issues epoch N+1 sealed to every current member and schedules the
// retirement of epoch N after an overlap; `mamori keys retire` moves a retirement date (for
// example after a suspected compromise); `mamori keys list` shows the epochs. The commands
// verify the file with the operator key before changing it, re-sign it, raise `version`, and
// replace it atomically (tmp + rename) so a polling node never reads half a file. Epoch keys
// are generated and sealed in memory and never printed.
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { sodiumReady } from '../../../proto/ts/sodium';
import { generateHashingKey, sealHashingKey } from '../crypto/epochs';
import { readJsonFile } from '../config/files';
import { consortiumFileSchema } from '../config/schemas';
import { keepEpochKey, loadSigned, writeSigned, type RawEpoch } from '../membership/operator-document';
import { epochState, type EpochState } from '../membership/epoch-acks';
import { isoDate } from './output';
import { describeMissing, fetchKeyEpochAcks, formatAcks, missingAcks } from './key-acks';
import { wholeNumber } from './whole-number';

const DAY_MS = 24 * 60 * 60 * 1000;
export const MIN_OVERLAP_DAYS = 1;
export const MAX_OVERLAP_DAYS = 365;
export const DEFAULT_OVERLAP_DAYS = 30;

export { epochState, type EpochState } from '../membership/epoch-acks';

export interface EpochSummary {
  epoch: number;
  state: EpochState;
  activeFromMs: number;
  retiresAtMs?: number;
  sealedTo: string[];
}

export interface RotationResult {
  file: string;
  version: number;
  newEpoch: EpochSummary;
  previousEpoch: EpochSummary;
  overlapDays: number;
  epochs: EpochSummary[];
}

function summarize(e: RawEpoch, nowMs: number): EpochSummary {
  return { epoch: e.epoch, state: epochState(e, nowMs), activeFromMs: e.activeFromMs, retiresAtMs: e.retiresAtMs, sealedTo: Object.keys(e.sealed).sort() };
}

function parseIsoTime(value: string, option: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`${option} must be an ISO 8601 date or time, for example 2027-01-31T00:00:00Z (got "${value}")`);
  }
  return ms;
}

export function checkOverlapDays(days: number): void {
  if (!Number.isFinite(days) || days < MIN_OVERLAP_DAYS || days > MAX_OVERLAP_DAYS) {
    throw new Error(
      `--overlap-days must be from ${MIN_OVERLAP_DAYS} to ${MAX_OVERLAP_DAYS} (got ${days}): members need at least a day to pick up the new epoch and republish under it, and an epoch key must not stay in force for more than a year`,
    );
  }
}

export interface RotateOptions {
  consortiumFile: string;
  operatorKeyFile: string;
  overlapDays?: number;
  /** When the new epoch becomes active; default now. */
  activateAtMs?: number;
  nowMs?: number;
}

/** Issues epoch N+1 sealed to every current member and schedules epoch N's retirement. */
export async function rotateHashingKey(o: RotateOptions): Promise<RotationResult> {
  await sodiumReady();
  const overlapDays = o.overlapDays ?? DEFAULT_OVERLAP_DAYS;
  checkOverlapDays(overlapDays);
  const nowMs = o.nowMs ?? Date.now();
  const { raw, operator } = loadSigned(o.consortiumFile, o.operatorKeyFile);
  const doc = raw.document;
  const previous = doc.keyEpochs.reduce((a, b) => (b.epoch > a.epoch ? b : a));
  if (previous.activeFromMs > nowMs) {
    throw new Error(`epoch ${previous.epoch} is not active yet (it activates at ${isoDate(previous.activeFromMs)}); rotate again once it is`);
  }
  if (previous.retiresAtMs !== undefined && previous.retiresAtMs <= nowMs) {
    throw new Error(`the newest epoch ${previous.epoch} retired at ${isoDate(previous.retiresAtMs)}; the consortium has no active epoch to rotate from`);
  }
  const activeFromMs = o.activateAtMs ?? nowMs;
  if (activeFromMs < previous.activeFromMs) {
    throw new Error(`--activate-at ${isoDate(activeFromMs)} is before epoch ${previous.epoch} became active (${isoDate(previous.activeFromMs)})`);
  }
  const members = doc.members.filter((m) => m.removedAtMs === undefined);
  if (members.length === 0) throw new Error(`${o.consortiumFile}: has no current member to seal a new epoch to`);

  const key = generateHashingKey();
  const next: RawEpoch = {
    epoch: previous.epoch + 1,
    activeFromMs,
    sealed: Object.fromEntries(members.map((m) => [m.id, sealHashingKey(key, Buffer.from(m.boxPublicKey, 'base64')).toString('base64')])),
  };
  // A consortium formed with `mamori consortium init`: the operator keeps the key, to seal it to members who join later.
  keepEpochKey(o.operatorKeyFile, next.epoch, key);
  key.fill(0);
  const retiresAtMs = activeFromMs + overlapDays * DAY_MS;
  previous.retiresAtMs = previous.retiresAtMs === undefined ? retiresAtMs : Math.min(previous.retiresAtMs, retiresAtMs);
  doc.keyEpochs.push(next);
  doc.version += 1;
  doc.issuedAtMs = nowMs;
  writeSigned(o.consortiumFile, doc, operator);
  return {
    file: path.resolve(o.consortiumFile),
    version: doc.version,
    newEpoch: summarize(next, nowMs),
    previousEpoch: summarize(previous, nowMs),
    overlapDays,
    epochs: doc.keyEpochs.map((e) => summarize(e, nowMs)),
  };
}

export interface RetireOptions {
  consortiumFile: string;
  operatorKeyFile: string;
  epoch: number;
  /** When the epoch retires; default now. */
  atMs?: number;
  nowMs?: number;
  /** Called with the epochs that take over before anything is written; throws to refuse. */
  checkTakingOver?: (epochs: number[]) => Promise<void>;
}

/**
 * Moves an epoch's retirement date (an emergency after a suspected key compromise, or closing
 * an overlap early). Refuses to leave the consortium without an active epoch.
 */
export async function retireHashingKey(o: RetireOptions): Promise<{ file: string; version: number; epochs: EpochSummary[] }> {
  await sodiumReady();
  const nowMs = o.nowMs ?? Date.now();
  const { raw, operator } = loadSigned(o.consortiumFile, o.operatorKeyFile);
  const doc = raw.document;
  const target = doc.keyEpochs.find((e) => e.epoch === o.epoch);
  if (!target) throw new Error(`${o.consortiumFile}: has no epoch ${o.epoch}; epochs: ${doc.keyEpochs.map((e) => e.epoch).join(', ')}`);
  const atMs = o.atMs ?? nowMs;
  const from = Math.max(atMs, nowMs); // a newer epoch must be in force once this one is gone
  const newer = doc.keyEpochs.filter((e) => e.epoch > o.epoch && e.activeFromMs <= from && (e.retiresAtMs === undefined || e.retiresAtMs > from));
  if (newer.length === 0) {
    throw new Error(`epoch ${o.epoch} cannot retire at ${isoDate(atMs)}: no newer epoch is active by then; run "mamori keys rotate" first`);
  }
  await o.checkTakingOver?.(newer.map((e) => e.epoch));
  target.retiresAtMs = atMs;
  doc.version += 1;
  doc.issuedAtMs = nowMs;
  writeSigned(o.consortiumFile, doc, operator);
  return { file: path.resolve(o.consortiumFile), version: doc.version, epochs: doc.keyEpochs.map((e) => summarize(e, nowMs)) };
}

/** The epochs of a consortium file (read-only; the signature is not checked without the operator key). */
export function listEpochs(consortiumFile: string, nowMs = Date.now()): { version: number; epochs: EpochSummary[] } {
  const parsed = readJsonFile(consortiumFile, consortiumFileSchema);
  return { version: parsed.document.version, epochs: parsed.document.keyEpochs.map((e) => summarize(e as RawEpoch, nowMs)) };
}

export function formatEpochs(epochs: readonly EpochSummary[]): string {
  return epochs
    .map(
      (e) =>
        `  epoch ${e.epoch}  ${e.state.padEnd(8)}  active from ${isoDate(e.activeFromMs)}  ` +
        `${e.retiresAtMs === undefined ? 'no retirement date' : `${e.state === 'retired' ? 'retired' : 'retires'} ${isoDate(e.retiresAtMs)}`}  sealed to ${e.sealedTo.join(', ')}`,
    )
    .join('\n');
}

function formatRotation(r: RotationResult): string {
  return [
    `Rotated the hashing key in ${r.file} (now version ${r.version}).`,
    `  new epoch ${r.newEpoch.epoch}: ${r.newEpoch.state}, active from ${isoDate(r.newEpoch.activeFromMs)}, sealed to ${r.newEpoch.sealedTo.join(', ')}`,
    `  epoch ${r.previousEpoch.epoch} retires ${isoDate(r.previousEpoch.retiresAtMs ?? 0)} (overlap ${r.overlapDays} days): members republish under epoch ${r.newEpoch.epoch} before then`,
    'Epochs:',
    formatEpochs(r.epochs),
  ].join('\n');
}

function overlapDaysArg(value: string): number {
  const n = Number(value);
  try {
    checkOverlapDays(n);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^--overlap-days /, ''));
  }
  return n;
}

export function addKeysCommands(program: Command): void {
  const keys = program.command('keys').description('hashing-key epochs of the consortium (operator)');

  keys
    .command('rotate')
    .description('issue hashing-key epoch N+1 sealed to every current member; epoch N retires after the overlap')
    .requiredOption('--consortium <file>', 'the consortium file (consortium.json)')
    .requiredOption('--operator-key <file>', 'the operator key file (operator.key.json)')
    .option('--overlap-days <days>', `days both epochs stay active (${MIN_OVERLAP_DAYS} to ${MAX_OVERLAP_DAYS})`, overlapDaysArg, DEFAULT_OVERLAP_DAYS)
    .option('--activate-at <iso>', 'when the new epoch becomes active (default now)', (v) => parseIsoTime(v, '--activate-at'))
    .option('--json', 'print JSON')
    .action(async (o: { consortium: string; operatorKey: string; overlapDays: number; activateAt?: number; json?: boolean }) => {
      const r = await rotateHashingKey({ consortiumFile: o.consortium, operatorKeyFile: o.operatorKey, overlapDays: o.overlapDays, activateAtMs: o.activateAt });
      console.log(o.json ? JSON.stringify(r, null, 2) : formatRotation(r));
    });

  keys
    .command('retire')
    .description('set when an epoch retires (default now), e.g. after a suspected compromise; a newer epoch must be active')
    .requiredOption('--consortium <file>', 'the consortium file (consortium.json)')
    .requiredOption('--operator-key <file>', 'the operator key file (operator.key.json)')
    .requiredOption('--epoch <n>', 'the epoch to retire', wholeNumber('--epoch', { min: 1, what: 'an epoch number' }))
    .option('--at <iso>', 'when it retires (default now)', (v) => parseIsoTime(v, '--at'))
    .option('--client-config <client.json>', "a member's client config: its node tells which members acknowledged the newer epoch")
    .option('--force', 'retire even if a member has not acknowledged the newer epoch (or without checking)')
    .option('--json', 'print JSON')
    .action(async (o: { consortium: string; operatorKey: string; epoch: number; at?: number; clientConfig?: string; force?: boolean; json?: boolean }) => {
      const r = await retireHashingKey({
        consortiumFile: o.consortium,
        operatorKeyFile: o.operatorKey,
        epoch: o.epoch,
        atMs: o.at,
        checkTakingOver: async (takingOver) => requireAcks(takingOver, o.epoch, o.clientConfig, o.force === true),
      });
      console.log(o.json ? JSON.stringify(r, null, 2) : `Epoch ${o.epoch} retirement set in ${r.file} (now version ${r.version}).\nEpochs:\n${formatEpochs(r.epochs)}`);
    });

  keys
    .command('list')
    .description('list the hashing-key epochs of a consortium file: active, upcoming, retired, dates')
    .requiredOption('--consortium <file>', 'the consortium file (consortium.json)')
    .option('--client-config <client.json>', "a member's client config: also show which members acknowledged each epoch")
    .option('--json', 'print JSON')
    .action(async (o: { consortium: string; clientConfig?: string; json?: boolean }) => {
      const r = listEpochs(o.consortium);
      const acks = o.clientConfig ? await fetchKeyEpochAcks(o.clientConfig) : undefined;
      if (o.json) console.log(JSON.stringify(acks ? { ...r, acknowledgements: acks } : r, null, 2));
      else console.log([`Consortium file version ${r.version}:`, formatEpochs(r.epochs), ...(acks ? [formatAcks(acks)] : [])].join('\n'));
    });
}

/**
 * Before an epoch retires, every current member should hold the epoch that takes over (its
 * KeyEpochAck is in the ledger); otherwise that member can no longer check or publish.
 */
async function requireAcks(takingOver: number[], retiring: number, clientConfig: string | undefined, force: boolean): Promise<void> {
  if (!clientConfig) {
    if (force) return;
    throw new Error(
      `cannot tell whether every member holds epoch ${takingOver.join(', ')} before epoch ${retiring} retires: ` +
        "pass --client-config <a member's client.json> so its node reports the acknowledgements, or --force to retire without checking",
    );
  }
  const view = await fetchKeyEpochAcks(clientConfig);
  const missing = missingAcks(view, takingOver);
  if (missing.length === 0) return;
  const what = describeMissing(view, missing);
  if (force) {
    console.error(`warning: ${what}; retiring epoch ${retiring} anyway (--force)`);
    return;
  }
  throw new Error(`refusing to retire epoch ${retiring}: ${what}. Wait until every member's node has acknowledged (mamori keys list --client-config ...), or pass --force`);
}
