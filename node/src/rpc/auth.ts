// Member-local clients present the token from their client.json; the node keeps only digests.
import type * as grpc from '@grpc/grpc-js';
import { tokenDigest } from '../crypto/epochs';
import { MamoriError } from '../ledger/errors';

export type Authenticator = (metadata: grpc.Metadata) => void;

export function tokenAuthenticator(tokenDigests: readonly string[]): Authenticator {
  const allowed = new Set(tokenDigests);
  return (metadata) => {
    const [header] = metadata.get('authorization');
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
      throw MamoriError.unauthenticated('missing "authorization: Bearer <token>" metadata (the token is in client.json)');
    }
    if (!allowed.has(tokenDigest(header.slice('Bearer '.length)))) {
      throw MamoriError.unauthenticated('the client token is not accepted by this node');
    }
  };
}
