// Changes the dev consortium's signed file before any node starts, signed again with the dev
// operator's key: how a test gives its consortium other settings (budgets, count buckets…).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { signConsortiumDocument } from '../../proto/ts/trust/verify';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';

export function resignConsortium<D extends object>(layout: Pick<DevConsortiumLayout, 'dir' | 'consortiumFile'>, change: (document: D) => void): void {
  const operator = JSON.parse(fs.readFileSync(path.join(layout.dir, 'operator', 'operator.key.json'), 'utf8')) as { secretKey: string };
  const file = JSON.parse(fs.readFileSync(layout.consortiumFile, 'utf8')) as { document: D };
  change(file.document);
  fs.writeFileSync(layout.consortiumFile, JSON.stringify({ document: file.document, signature: signConsortiumDocument(file.document, Buffer.from(operator.secretKey, 'base64')) }, null, 2));
}
