// The digest of a node's effective configuration (its file with defaults filled in and paths
// resolved), recorded in the audit log at start and stop: a changed setting shows as a new
// digest. The config holds client-token digests and file paths, never a token or a key.
import { nodeConfigDigest } from '../../../proto/ts/trust/domains';
import type { NodeConfig } from '../config/node-config';

export function configDigest(config: NodeConfig): string {
  return nodeConfigDigest(config);
}
