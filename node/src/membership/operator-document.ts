// The operator's side of the signed consortium file: its key, reading the file only when this
// key signed it, re-signing and replacing it atomically (a polling node sees the old file or
// the new one), and the hashing-key epochs the operator keeps beside its key so that a member
// joining later can be sealed the epochs in force. Used by `mamori keys …` and `mamori consortium …`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import { operatorKeyPairMatches, signConsortiumDocument } from '../../../proto/ts/trust/verify';
import { ConfigError } from '../config/errors';
import { parseJsonValue, readJsonFile, readJsonValue } from '../config/files';
import { consortiumFileSchema, operatorKeyFileSchema } from '../config/schemas';
import { operatorEpochKeysSchema } from '../config/formation-schemas';
import { Consortium } from './consortium';

export interface RawEpoch {
  epoch: number;
  activeFromMs: number;
  retiresAtMs?: number;
  sealed: Record<string, string>;
}

export interface RawMember {
  id: string;
  roles: string[];
  signingPublicKey: string;
  boxPublicKey: string;
  endpoint: string;
  binRanges?: string[];
  removedAtMs?: number;
}

/** The document as the operator wrote it (no defaults filled in): what the signature covers. */
export interface RawDocument {
  name: string;
  version: number;
  issuedAtMs: number;
  operatorPublicKey: string;
  members: RawMember[];
  keyEpochs: RawEpoch[];
  [field: string]: unknown;
}

export interface OperatorKey {
  publicKey: Buffer;
  secretKey: Buffer;
}

/** Reads the operator key file and checks that its secret key belongs to its public key. */
export function loadOperatorKey(file: string): OperatorKey {
  const raw = readJsonFile(file, operatorKeyFileSchema);
  const key = { publicKey: Buffer.from(raw.publicKey, 'base64'), secretKey: Buffer.from(raw.secretKey, 'base64') };
  if (!operatorKeyPairMatches(key.publicKey, key.secretKey)) {
    throw new ConfigError(file, ['secretKey: does not belong to publicKey (a damaged or mismatched operator key file)']);
  }
  return key;
}

/**
 * Reads the consortium file and refuses it unless it is valid and signed by this operator key:
 * the operator never re-signs a file someone else altered.
 */
export function loadSigned(consortiumFile: string, operatorKeyFile: string): { raw: { document: RawDocument; signature: string }; operator: OperatorKey } {
  const operator = loadOperatorKey(operatorKeyFile);
  const raw = readJsonValue(consortiumFile);
  const parsed = parseJsonValue(consortiumFile, raw, consortiumFileSchema);
  const operatorPublicKey = operator.publicKey.toString('base64');
  if (parsed.document.operatorPublicKey !== operatorPublicKey) {
    throw new ConfigError(operatorKeyFile, [
      `publicKey: is not this consortium's operator key (document.operatorPublicKey in ${consortiumFile}); wrong operator key file?`,
    ]);
  }
  Consortium.load(consortiumFile, operatorPublicKey); // signature, duplicate members
  return { raw: raw as { document: RawDocument; signature: string }, operator };
}

/** The signed file's text: `{ document, signature }`. */
export function signedConsortiumText(document: RawDocument, operator: OperatorKey): string {
  return `${JSON.stringify({ document, signature: signConsortiumDocument(document, operator.secretKey) }, null, 2)}\n`;
}

/** Signs the document and replaces the file atomically, keeping its permission bits. */
export function writeSigned(file: string, document: RawDocument, operator: OperatorKey): void {
  writeFileAtomic(file, signedConsortiumText(document, operator), { mode: fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o644 });
}

/** Where the operator keeps the hashing-key epochs: beside its key file. */
export function epochKeysFileOf(operatorKeyFile: string): string {
  return path.join(path.dirname(operatorKeyFile), 'epoch-keys.json');
}

/** The epochs the operator kept, by number; empty when it keeps none (a consortium made by dev-consortium). */
export function readEpochKeys(file: string): Map<number, Buffer> {
  if (!fs.existsSync(file)) return new Map();
  return new Map(readJsonFile(file, operatorEpochKeysSchema).epochs.map((e) => [e.epoch, Buffer.from(e.key, 'base64')]));
}

/** The text of the epoch-keys file holding these epochs. */
export function epochKeysText(keys: ReadonlyMap<number, Uint8Array>): string {
  const epochs = [...keys].sort(([a], [b]) => a - b).map(([epoch, key]) => ({ epoch, key: Buffer.from(key).toString('base64') }));
  return `${JSON.stringify({ epochs }, null, 2)}\n`;
}

/**
 * Adds an epoch to the operator's epoch-keys file, when the operator keeps one (a consortium
 * formed with `mamori consortium init`): written before the document that names the epoch.
 */
export function keepEpochKey(operatorKeyFile: string, epoch: number, key: Uint8Array): boolean {
  const file = epochKeysFileOf(operatorKeyFile);
  if (!fs.existsSync(file)) return false;
  const keys = readEpochKeys(file);
  keys.set(epoch, Buffer.from(key));
  writeFileAtomic(file, epochKeysText(keys), { mode: 0o600 });
  return true;
}
