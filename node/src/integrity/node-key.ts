// The node-local key: 32 random bytes generated at a node's first start and kept beside its
// database as the member's other secrets are kept (a JSON key file, mode 0600, never in SQLite,
// never logged, never sent). It MACs what a node derives for itself from the signed entries —
// the per-entry digests of its SQLite rows and its filter snapshot — so that state altered on
// disk is noticed (proto/ts/trust/domains.ts derivedRowsMac, filterSnapshotMac). Losing the
// file loses nothing: a new key is made, the digests are recomputed from the signed entries
// and the snapshot is rebuilt.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../config/errors';
import { readJsonFile, writeSecretFile } from '../config/files';

export const NODE_KEY_FILE = 'node-local.key.json';
const KEY_BYTES = 32;
const PURPOSE = 'mamori node-local key: MACs of derived state (per-entry row digests, filter snapshot)';

const nodeKeyFileSchema = z
  .object({
    purpose: z.string(),
    key: z.string().refine((v) => Buffer.from(v, 'base64').length === KEY_BYTES && /^[A-Za-z0-9+/]+=*$/.test(v), `expected ${KEY_BYTES} bytes in base64`),
  })
  .strict();

export function nodeKeyFile(dataDir: string): string {
  return path.join(dataDir, NODE_KEY_FILE);
}

/** Reads the node-local key, or makes one when there is none; `created` says which. */
export function loadOrCreateNodeKey(dataDir: string): { key: Buffer; created: boolean } {
  const file = nodeKeyFile(dataDir);
  if (!fs.existsSync(file)) {
    const key = randomBytes(KEY_BYTES);
    writeSecretFile(file, `${JSON.stringify({ purpose: PURPOSE, key: key.toString('base64') }, null, 2)}\n`);
    return { key, created: true };
  }
  const mode = fs.statSync(file).mode & 0o077;
  if (mode !== 0) throw new ConfigError(file, [`is readable or writable by others (mode ${(fs.statSync(file).mode & 0o777).toString(8)}); chmod 600 it`]);
  const raw = readJsonFile(file, nodeKeyFileSchema);
  return { key: Buffer.from(raw.key, 'base64'), created: false };
}
