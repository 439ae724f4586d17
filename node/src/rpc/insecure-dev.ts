// insecureDev mode (loopback experiments only): no TLS, a peer names itself in metadata.
import * as grpc from '@grpc/grpc-js';

export const INSECURE_PEER_HEADER = 'x-mamori-insecure-dev-member';

export function insecureDevPeerMetadata(self: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(INSECURE_PEER_HEADER, self);
  return md;
}
