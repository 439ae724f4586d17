// The gRPC side of an EvaluatorLink: calls a peer evaluator's Replication.Evaluate with the
// credentials replication uses (mutual TLS pinned to the consortium CA and the peer's member
// id, or insecureDev metadata on loopback), with a deadline.
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../config/node-config';
import type { EvaluatorLink } from '../evaluation/selector-evaluation';
import { type ErrorCode, MamoriError } from '../ledger/errors';
import type { PeerEvaluateResponse__Output } from '../../../proto/gen/mamori/v1/PeerEvaluateResponse';
import { loadGrpcTypes } from './grpc-types';
import { peerChannelOptions } from './grpc-peer-link';
import { insecureDevPeerMetadata } from './insecure-dev';
import { peerChannelCredentials, readTlsMaterial, type TlsMaterial } from './peer-credentials';

/** The evaluator's refusal as this node tells its client: the code it answered and its words. */
const CODES: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.RESOURCE_EXHAUSTED]: 'RESOURCE_EXHAUSTED',
  [grpc.status.FAILED_PRECONDITION]: 'FAILED_PRECONDITION',
  [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
};

function evaluatorError(error: grpc.ServiceError): MamoriError {
  const code = CODES[error.code as grpc.status] ?? 'UNAVAILABLE';
  const what = error.code === grpc.status.DEADLINE_EXCEEDED ? 'deadline exceeded' : error.details || error.message;
  return new MamoriError(code, what);
}

export function dialEvaluator(config: Pick<NodeConfig, 'tls' | 'member' | 'maxMessageBytes'>, peer: string, endpoint: string, material?: TlsMaterial): EvaluatorLink {
  const { Replication } = loadGrpcTypes().mamori.v1;
  const credentials = config.tls ? peerChannelCredentials(material ?? readTlsMaterial(config.tls), peer) : grpc.credentials.createInsecure();
  const metadata = config.tls ? new grpc.Metadata() : insecureDevPeerMetadata(config.member);
  const client = new Replication(endpoint, credentials, peerChannelOptions(config.maxMessageBytes));
  return {
    evaluate: (request, deadlineMs) =>
      new Promise<Buffer>((resolve, reject) => {
        const message = { setId: request.setId, groups: request.groups.map((labels) => ({ labels: [...labels] })), items: request.items.map((i) => ({ bin: i.bin, blinded: i.blinded })) };
        client.Evaluate(message, metadata, { deadline: deadlineMs }, (error: grpc.ServiceError | null, response?: PeerEvaluateResponse__Output) => {
          if (error || !response) return reject(error ? evaluatorError(error) : new MamoriError('UNAVAILABLE', 'empty Evaluate response'));
          resolve(response.elements);
        });
      }),
    close: () => client.close(),
  };
}
