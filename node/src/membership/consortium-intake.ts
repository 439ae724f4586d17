// Where a newer consortium document enters a running node, whoever brings it: the node's own
// file (polled, runtime/consortium-reload.ts), a peer over replication (GetConsortium after a
// higher version in Heads, or OfferConsortium), or the operator's `mamori consortium push`.
// One rule for all (docs/design.md#membership-carried-by-replication): the operator's signature
// must verify with the key this node pins, the consortium must be the one in force, and the
// version must be higher than the one in force. Then the document replaces the one in force,
// is written atomically over the consortium file (so a restart keeps it), and the change is
// logged and audited. Anything else is refused with the field and the reason, counted by
// result, and changes nothing.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import { verifyConsortiumDocument } from '../../../proto/ts/trust/verify';
import { ConfigError } from '../config/errors';
import { MamoriError } from '../ledger/errors';
import { describeConsortiumChange, refusalReason } from './consortium-change';
import { Consortium } from './consortium';
import type { MemberState } from './member-state';

/** What became of one document handed to the node: the label of its count in status and metrics. */
export type IntakeResult =
  | 'taken'
  | 'already_in_force'
  | 'malformed'
  | 'other_operator'
  | 'bad_signature'
  | 'other_consortium'
  | 'not_newer'
  | 'conflicting_version'
  | 'removes_this_member'
  | 'unusable';

export const INTAKE_RESULTS: readonly IntakeResult[] = [
  'taken',
  'already_in_force',
  'malformed',
  'other_operator',
  'bad_signature',
  'other_consortium',
  'not_newer',
  'conflicting_version',
  'removes_this_member',
  'unusable',
];

/** Where a document came from: 'file', or `peer <member id>`, or 'operator' (mamori consortium push). */
export type IntakeSource = string;

export interface IntakeAnswer {
  /** False: this very document was already in force (a duplicate, not a refusal). */
  taken: boolean;
  versionInForce: number;
}

export interface ConsortiumIntakePorts {
  membership: MemberState;
  consortiumFile: string;
  operatorPublicKey: string;
  audit: { record(actor: string, action: string, details?: object): void };
  log: Logger;
}

/** A refusal: the gRPC status it maps to names the field; `result` is its count label. */
class Refusal extends MamoriError {
  constructor(
    readonly result: IntakeResult,
    error: MamoriError,
  ) {
    super(error.code, error.message, { field: error.field });
  }
}

const FIELD = 'signed_document';

export class ConsortiumIntake {
  /** Documents handed to this node since start, by result. */
  readonly counts: Record<IntakeResult, number> = Object.fromEntries(INTAKE_RESULTS.map((r) => [r, 0])) as Record<IntakeResult, number>;
  private lastChange: { version: number; source: IntakeSource; atMs: number } | undefined;

  private readonly listeners: (() => void)[] = [];

  constructor(private readonly ports: ConsortiumIntakePorts) {}

  /** Called after a newer document took effect (runtime/run-node.ts: peers to follow, evaluator, key epochs, gossip). */
  onChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The version in force. */
  version(): number {
    return this.ports.membership.consortium.document.version;
  }

  /** The document in force as a peer is handed it: the signed file's JSON. */
  signedDocument(): Buffer {
    const text = this.ports.membership.consortium.signedText();
    if (text === undefined) throw MamoriError.failedPrecondition('the consortium document in force was not read from a signed file');
    return Buffer.from(text, 'utf8');
  }

  /** What Status shows (ConsortiumStatus). */
  status(): { name: string; version: number; members: string[]; documents: Record<string, number>; lastChangeVersion: number; lastChangeSource: string; lastChangeAtMs: number } {
    const consortium = this.ports.membership.consortium;
    return {
      name: consortium.document.name,
      version: consortium.document.version,
      members: consortium.currentMembers().map((m) => m.id).sort(),
      documents: { ...this.counts },
      lastChangeVersion: this.lastChange?.version ?? 0,
      lastChangeSource: this.lastChange?.source ?? '',
      lastChangeAtMs: this.lastChange?.atMs ?? 0,
    };
  }

  /** The last change taken since start, for status. */
  last(): { version: number; source: IntakeSource; atMs: number } | undefined {
    return this.lastChange;
  }

  /**
   * Hands the node a signed document. Returns whether it was taken; throws a MamoriError naming
   * the field (INVALID_ARGUMENT for a document that is not a valid one of this consortium,
   * FAILED_PRECONDITION for a valid one that is not newer or cannot be used here).
   */
  offer(text: Buffer | string, source: IntakeSource): IntakeAnswer {
    const { membership, log, audit } = this.ports;
    const inForce = membership.consortium;
    let next: Consortium;
    try {
      next = this.parsed(this.verified(text));
      if (next.document.name !== inForce.document.name) {
        throw new Refusal('other_consortium', MamoriError.invalidArgument(`${FIELD}.document.name`, `"${next.document.name}" is not the consortium in force ("${inForce.document.name}")`));
      }
      const version = next.document.version;
      const current = inForce.document.version;
      if (version === current && next.signature === inForce.signature) {
        this.counts.already_in_force++;
        return { taken: false, versionInForce: current };
      }
      if (version < current) throw new Refusal('not_newer', MamoriError.failedPrecondition(`${FIELD}.document.version: ${version} is older than version ${current} in force`));
      if (version === current) {
        throw new Refusal(
          'conflicting_version',
          MamoriError.failedPrecondition(`${FIELD}.document.version: ${version} is the version in force, but the document differs from it (two documents signed with one version)`),
        );
      }
      try {
        // Opens the new hashing-key epochs before switching; throws, switching nothing, when
        // the document no longer lists this member or seals it no key.
        membership.replace(next);
      } catch (error) {
        if (error instanceof MamoriError) throw new Refusal('removes_this_member', error);
        throw new Refusal('unusable', MamoriError.failedPrecondition(`${FIELD}: cannot be used by this member: ${refusalReason(error)}`));
      }
    } catch (error) {
      this.refused(error, source, inForce.document.version);
      throw error instanceof MamoriError ? error : MamoriError.internal('consortium document intake failed', error);
    }
    this.counts.taken++;
    const change = describeConsortiumChange(inForce, next);
    if (source !== 'file') this.persist(next.document.version, source);
    this.lastChange = { version: next.document.version, source, atMs: Date.now() };
    log.info({ version: next.document.version, previousVersion: inForce.document.version, source, members: next.currentMembers().map((m) => m.id) }, source === 'file' ? 'consortium file reloaded' : 'newer consortium document taken');
    audit.record('node', 'consortium.reload', { ...change, source });
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        log.error({ err: error }, 'applying a new consortium document failed in part');
      }
    }
    return { taken: true, versionInForce: next.document.version };
  }

  /** JSON with a document and a signature that verifies with the pinned operator key. */
  private verified(text: Buffer | string): { document: unknown; signature: string } {
    let raw: unknown;
    try {
      raw = JSON.parse((typeof text === 'string' ? text : text.toString('utf8')).replace(/^\uFEFF/, ''));
    } catch (error) {
      throw new Refusal('malformed', MamoriError.invalidArgument(FIELD, `is not valid JSON (${(error as Error).message.slice(0, 120)})`));
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Refusal('malformed', MamoriError.invalidArgument(FIELD, 'must be a JSON object { document, signature }'));
    const { document, signature } = raw as { document?: unknown; signature?: unknown };
    if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new Refusal('malformed', MamoriError.invalidArgument(`${FIELD}.document`, 'must be an object'));
    if (typeof signature !== 'string') throw new Refusal('malformed', MamoriError.invalidArgument(`${FIELD}.signature`, 'must be a base64 string'));
    if ((document as { operatorPublicKey?: unknown }).operatorPublicKey !== this.ports.operatorPublicKey) {
      throw new Refusal('other_operator', MamoriError.invalidArgument(`${FIELD}.document.operatorPublicKey`, 'is not the operator key this node trusts (node config operatorPublicKey)'));
    }
    let verifies = false;
    try {
      verifies = verifyConsortiumDocument(document, signature, Buffer.from(this.ports.operatorPublicKey, 'base64'));
    } catch {
      verifies = false; // a value canonical JSON cannot encode: not what the operator signed
    }
    if (!verifies) throw new Refusal('bad_signature', MamoriError.invalidArgument(`${FIELD}.signature`, 'does not verify with the operator key; the document was altered or signed by someone else'));
    return { document, signature };
  }

  /** The schema and the consortium's own rules (duplicate members, aggregator, PRF dealing). */
  private parsed(raw: { document: unknown; signature: string }): Consortium {
    try {
      return Consortium.parse(FIELD, raw, this.ports.operatorPublicKey);
    } catch (error) {
      if (error instanceof ConfigError) throw new Refusal('malformed', MamoriError.invalidArgument(FIELD, error.problems.join('; ').slice(0, 500)));
      throw error;
    }
  }

  /** Over the consortium file, atomically, keeping its permission bits: a restart keeps the document. */
  private persist(version: number, source: IntakeSource): void {
    const file = this.ports.consortiumFile;
    // Never over a file that already holds this version or a later one (a file several nodes share,
    // as `mamori dev-consortium` makes, or one the member copied by hand meanwhile): the poll takes it.
    const onFile = fileVersion(file);
    if (onFile !== undefined && onFile >= version) return;
    try {
      const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o600;
      writeFileAtomic(file, this.signedDocument(), { mode });
    } catch (error) {
      // In force in memory all the same; after a restart the node holds the older file and
      // learns this version again from its peers.
      this.ports.log.error({ err: error, version, source }, 'newer consortium document taken but not written to the consortium file');
      this.ports.audit.record('node', 'consortium.write-failed', { version, source, reason: refusalReason(error) });
    }
  }

  private refused(error: unknown, source: IntakeSource, versionInForce: number): void {
    const result: IntakeResult = error instanceof Refusal ? error.result : 'unusable';
    this.counts[result]++;
    const reason = refusalReason(error);
    // A peer offering an older document is the normal end of gossip with a slower node; the
    // node's own file is audited whatever the reason, as before documents travelled.
    if (result === 'not_newer' && source !== 'file') {
      this.ports.log.debug({ source, reason }, 'consortium document not newer than the one in force; ignored');
      return;
    }
    this.ports.log.warn({ source, result, versionInForce, reason }, source === 'file' ? 'new consortium file refused; the one in force stays' : 'consortium document refused; the one in force stays');
    this.ports.audit.record('node', 'consortium.refused', { versionInForce, source, result, reason });
  }
}

/** The document version a consortium file holds, when it reads as one; undefined otherwise. */
function fileVersion(file: string): number | undefined {
  try {
    const version = (JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as { document?: { version?: unknown } }).document?.version;
    return typeof version === 'number' ? version : undefined;
  } catch {
    return undefined;
  }
}
