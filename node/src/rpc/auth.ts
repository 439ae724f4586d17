// Member-local clients present the token from their client.json; the node keeps only digests.
import type * as grpc from '@grpc/grpc-js';
import { tokenDigest } from '../crypto/epochs';
import { MamoriError } from '../ledger/errors';

/** Throws when the caller is not accepted; returns who it is (the token digest), if known. */
export type Authenticator = (metadata: grpc.Metadata) => string | undefined;

export function tokenAuthenticator(tokenDigests: readonly string[]): Authenticator {
  const allowed = new Set(tokenDigests);
  return (metadata) => {
    const [header] = metadata.get('authorization');
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
      throw MamoriError.unauthenticated('missing "authorization: Bearer <token>" metadata (the token is in client.json)');
    }
    const digest = tokenDigest(header.slice('Bearer '.length));
    if (!allowed.has(digest)) {
      throw MamoriError.unauthenticated('the client token is not accepted by this node');
    }
    return digest;
  };
}
