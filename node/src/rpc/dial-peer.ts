// How this node reaches a peer's Replication service: mutual TLS pinned to the consortium CA,
// or, in insecureDev mode on loopback, a plain channel on which the node names itself.
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../config/node-config';
import type { PeerLink } from '../replication/types';
import { grpcPeerLink } from './grpc-peer-link';
import { insecureDevPeerMetadata } from './insecure-dev';
import { peerChannelCredentials, readTlsMaterial } from './peer-credentials';

export function dialPeer(config: Pick<NodeConfig, 'tls' | 'member' | 'maxMessageBytes'>, peer: string, endpoint: string): PeerLink {
  if (config.tls) return grpcPeerLink(endpoint, peerChannelCredentials(readTlsMaterial(config.tls), peer), config.maxMessageBytes);
  return grpcPeerLink(endpoint, grpc.credentials.createInsecure(), config.maxMessageBytes, insecureDevPeerMetadata(config.member));
}
