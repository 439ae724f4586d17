// The signed consortium file, this member's keys, and the hashing-key epochs opened for it.
import { verifyConsortiumDocument } from '../../../proto/ts/trust/verify';
import { openHashingKey, type BoxKeyPair } from '../crypto/epochs';
import { ConfigError } from '../config/errors';
import { parseJsonValue, readJsonFile, readJsonValue } from '../config/files';
import { consortiumFileSchema, memberKeyFileSchema, type CommonPointSettings, type ConsortiumDocument, type ConsortiumMember } from '../config/schemas';
import type { MemberKeys } from '../ledger/acceptance';
import type { Role } from '../ledger/roles';
import { oprfSectionProblems } from './oprf-dealing';

export interface MemberIdentity {
  member: string;
  /** secretKey is absent from a read replica's key file: such a node never signs an entry. */
  signing: { publicKey: Buffer; secretKey?: Buffer };
  box: BoxKeyPair;
  /** A replica's own key for its audit anchors, endorsed by the member's signing key (membership/audit-key.ts). */
  auditKey?: { publicKey: Buffer; secretKey: Buffer; endorsement: Buffer };
}

export interface EpochKey {
  epoch: number;
  key: Uint8Array;
  activeFromMs: number;
  retiresAtMs?: number;
}

export function loadMemberIdentity(file: string): MemberIdentity {
  const raw = readJsonFile(file, memberKeyFileSchema);
  return {
    member: raw.member,
    signing: { publicKey: Buffer.from(raw.signing.publicKey, 'base64'), secretKey: raw.signing.secretKey === undefined ? undefined : Buffer.from(raw.signing.secretKey, 'base64') },
    box: { publicKey: Buffer.from(raw.box.publicKey, 'base64'), secretKey: Buffer.from(raw.box.secretKey, 'base64') },
    auditKey: raw.auditKey && {
      publicKey: Buffer.from(raw.auditKey.publicKey, 'base64'),
      secretKey: Buffer.from(raw.auditKey.secretKey, 'base64'),
      endorsement: Buffer.from(raw.auditKey.endorsement, 'base64'),
    },
  };
}

export class Consortium {
  private readonly byId: Map<string, ConsortiumMember>;

  /**
   * `signed`: the document as the operator wrote it and its signature, as the file holds them
   * (absent for a document built in memory): what is handed to peers (GetConsortium).
   */
  constructor(
    readonly document: ConsortiumDocument,
    readonly signed?: { document: unknown; signature: string },
  ) {
    this.byId = new Map(document.members.map((m) => [m.id, m]));
  }

  /** Loads the consortium file and refuses it unless the operator's signature verifies. */
  static load(file: string, operatorPublicKeyBase64: string): Consortium {
    return Consortium.parse(file, readJsonValue(file), operatorPublicKeyBase64);
  }

  /**
   * A signed consortium document already read as JSON (`{ document, signature }`), from a file
   * or handed over by a peer (membership/consortium-intake.ts); `source` names it in errors.
   */
  static parse(source: string, raw: unknown, operatorPublicKeyBase64: string): Consortium {
    const file = source;
    const signed = parseJsonValue(file, raw, consortiumFileSchema);
    if (signed.document.operatorPublicKey !== operatorPublicKeyBase64) {
      throw new ConfigError(file, ['document.operatorPublicKey: is not the operator key this node trusts (node config operatorPublicKey)']);
    }
    // The signature covers the document as the operator wrote it, before defaults are filled in.
    if (!verifyConsortiumDocument((raw as { document: unknown }).document, signed.signature, Buffer.from(operatorPublicKeyBase64, 'base64'))) {
      throw new ConfigError(file, ['signature: does not verify with the operator key; the file was altered or signed by someone else']);
    }
    const ids = new Set<string>();
    for (const m of signed.document.members) {
      if (ids.has(m.id)) throw new ConfigError(file, [`document.members: member id "${m.id}" appears twice`]);
      ids.add(m.id);
    }
    const aggregator = signed.document.commonPoint?.aggregator;
    if (aggregator !== undefined && !ids.has(aggregator)) {
      throw new ConfigError(file, [`document.commonPoint.aggregator: "${aggregator}" is not a member of the consortium`]);
    }
    for (const [i, former] of (signed.document.commonPoint?.formerAggregators ?? []).entries()) {
      // Removed members stay listed in the file, so a former aggregator since removed still qualifies.
      if (!ids.has(former.member)) throw new ConfigError(file, [`document.commonPoint.formerAggregators[${i}].member: "${former.member}" is not a member of the consortium`]);
    }
    if (signed.document.oprf) {
      const problems = oprfSectionProblems(signed.document.oprf, ids);
      if (problems.length > 0) throw new ConfigError(file, problems);
    }
    return new Consortium(signed.document, { document: (raw as { document: unknown }).document, signature: signed.signature });
  }

  /** The operator's signature, when the document came from a signed file or a peer. */
  get signature(): string | undefined {
    return this.signed?.signature;
  }

  /** The signed file's text, as a peer is handed it; undefined for a document built in memory. */
  signedText(): string | undefined {
    return this.signed ? `${JSON.stringify({ document: this.signed.document, signature: this.signed.signature }, null, 2)}\n` : undefined;
  }

  /** A current member (not removed). */
  member(id: string): ConsortiumMember | undefined {
    const m = this.byId.get(id);
    return m && m.removedAtMs === undefined ? m : undefined;
  }

  currentMembers(): ConsortiumMember[] {
    return this.document.members.filter((m) => m.removedAtMs === undefined);
  }

  /** Keys of a current member: whose new entries are accepted. */
  memberKeys(id: string): MemberKeys | undefined {
    const m = this.member(id);
    if (!m) return undefined;
    return {
      roles: m.roles as Role[],
      signingPublicKey: Buffer.from(m.signingPublicKey, 'base64'),
      commonPointAggregator: this.commonPoint?.aggregator,
      formerAggregatorUntilMs: this.formerAggregatorUntilMs(id),
      oprfEvaluator: this.document.oprf?.evaluators.includes(id) ?? false,
    };
  }

  /** The end of a member's latest term as common-point aggregator, when the file lists one. */
  private formerAggregatorUntilMs(id: string): number | undefined {
    const terms = (this.commonPoint?.formerAggregators ?? []).filter((f) => f.member === id);
    return terms.length > 0 ? Math.max(...terms.map((f) => f.untilMs)) : undefined;
  }

  /** Common-point-of-purchase settings, when the consortium runs the analysis. */
  get commonPoint(): CommonPointSettings | undefined {
    return this.document.commonPoint;
  }

  /** The aggregator's X25519 public key: what fraud reports are sealed to. */
  aggregatorBoxPublicKey(): Buffer | undefined {
    const id = this.commonPoint?.aggregator;
    const m = id ? this.member(id) : undefined;
    return m ? Buffer.from(m.boxPublicKey, 'base64') : undefined;
  }

  /** Keys of a removed member, so the entries it signed while a member still verify. */
  formerMemberKeys(id: string): MemberKeys | undefined {
    const m = this.byId.get(id);
    if (!m || m.removedAtMs === undefined) return undefined;
    return { roles: m.roles as Role[], signingPublicKey: Buffer.from(m.signingPublicKey, 'base64'), formerAggregatorUntilMs: this.formerAggregatorUntilMs(id), oprfEvaluator: this.document.oprf?.evaluators.includes(id) ?? false };
  }

  /** Opens every epoch key sealed to this member; an epoch not sealed to it is an error. */
  openEpochKeys(identity: MemberIdentity, file: string): EpochKey[] {
    const keys: EpochKey[] = [];
    for (const epoch of this.document.keyEpochs) {
      const sealed = epoch.sealed[identity.member];
      if (!sealed) throw new ConfigError(file, [`document.keyEpochs[epoch ${epoch.epoch}].sealed: has no key for member "${identity.member}"`]);
      const key = openHashingKey(Buffer.from(sealed, 'base64'), identity.box);
      if (!key) {
        throw new ConfigError(file, [`document.keyEpochs[epoch ${epoch.epoch}].sealed.${identity.member}: cannot be opened with this member's key`]);
      }
      keys.push({ epoch: epoch.epoch, key, activeFromMs: epoch.activeFromMs, retiresAtMs: epoch.retiresAtMs });
    }
    return keys;
  }
}

/** Epochs in force at a time, newest first: during a rotation two are active. */
export function activeEpochs(keys: readonly EpochKey[], nowMs = Date.now()): EpochKey[] {
  return keys
    .filter((k) => k.activeFromMs <= nowMs && (k.retiresAtMs === undefined || k.retiresAtMs > nowMs))
    .sort((a, b) => b.epoch - a.epoch);
}
