// How this node reaches a peer's Replication service: mutual TLS pinned to the consortium CA,
// or, in insecureDev mode on loopback, a plain channel on which the node names itself.
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../config/node-config';
import type { PeerLink } from '../replication/types';
import { grpcPeerLink } from './grpc-peer-link';
import { insecureDevPeerMetadata } from './insecure-dev';
import { peerChannelCredentials, readTlsMaterial, type TlsMaterial } from './peer-credentials';

/** `material`: the certificate in force (runtime/certificate-watch.ts); read from config.tls when absent. */
export function dialPeer(config: Pick<NodeConfig, 'tls' | 'member' | 'maxMessageBytes'>, peer: string, endpoint: string, material?: TlsMaterial): PeerLink {
  if (config.tls) return grpcPeerLink(endpoint, peerChannelCredentials(material ?? readTlsMaterial(config.tls), peer), config.maxMessageBytes);
  return grpcPeerLink(endpoint, grpc.credentials.createInsecure(), config.maxMessageBytes, insecureDevPeerMetadata(config.member));
}
