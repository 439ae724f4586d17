// The operator's `mamori consortium push`: hands a member's node the signed consortium document
// over its peer endpoint (OfferConsortium, mutual TLS pinned to the consortium CA), presenting
// a short-lived operator certificate from that CA. The node's peer gate lets that certificate
// make this one call; the node takes the document only on the operator's signature and a
// higher version (membership/consortium-intake.ts), and its peers learn it from there.
import * as grpc from '@grpc/grpc-js';
import type { OfferConsortiumResponse__Output } from '../../../proto/gen/mamori/v1/OfferConsortiumResponse';
import { memberIdFromPeerCertificate } from '../crypto/certificates';
import { loadGrpcTypes } from './grpc-types';
import { peerChannelOptions } from './grpc-peer-link';
import type { TlsMaterial } from './peer-credentials';

export interface PushAnswer {
  /** The member named by the node's certificate. */
  member: string | undefined;
  taken: boolean;
  versionInForce: number;
}

/** A node refused the document or could not be reached: the gRPC status name and the node's reason. */
export class PushRefused extends Error {
  constructor(
    readonly status: string,
    readonly details: string,
  ) {
    super(`${status}: ${details}`);
    this.name = 'PushRefused';
  }
}

export function offerConsortiumTo(endpoint: string, tls: TlsMaterial, signedDocument: Buffer, deadlineMs: number): Promise<PushAnswer> {
  const { Replication } = loadGrpcTypes().mamori.v1;
  let member: string | undefined;
  const credentials = grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
    // Any member's node: the operator pushes to whichever member it reaches; the answer names it.
    checkServerIdentity: (_host, cert) => {
      member = memberIdFromPeerCertificate(cert);
      return member ? undefined : new Error("the server's certificate names no member of the consortium");
    },
  });
  const client = new Replication(endpoint, credentials, peerChannelOptions(Math.max(4 * 1024 * 1024, signedDocument.length + 65_536)));
  return new Promise<PushAnswer>((resolve, reject) => {
    client.OfferConsortium({ signedDocument }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (error: grpc.ServiceError | null, response?: OfferConsortiumResponse__Output) => {
      client.close();
      if (error || !response) return reject(new PushRefused(error ? grpc.status[error.code] ?? String(error.code) : 'INTERNAL', error ? error.details || error.message : 'empty response'));
      resolve({ member, taken: response.taken, versionInForce: Number(response.versionInForce) });
    });
  });
}
