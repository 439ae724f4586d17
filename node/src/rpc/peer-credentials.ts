// Mutual TLS between members, pinned to the consortium CA: the member id in a peer's
// certificate (URI SAN mamori:member:<id>) is who the peer is.
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { memberIdFromPeerCertificate } from '../crypto/certificates';
import { MamoriError } from '../ledger/errors';

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  return { ca: fs.readFileSync(files.caFile), cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) };
}

/** Server side: a client certificate from the consortium CA is required. */
export function peerServerCredentials(tls: TlsMaterial): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(tls.ca, [{ cert_chain: tls.cert, private_key: tls.key }], true);
}

/** Client side: present our certificate; accept only a server whose certificate names the expected member. */
export function peerChannelCredentials(tls: TlsMaterial, expectedMember: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: (_host, cert) => {
      const member = memberIdFromPeerCertificate(cert);
      return member === expectedMember ? undefined : new Error(`the server's certificate names "${member ?? 'no member'}", expected "${expectedMember}"`);
    },
  });
}

/** The member a peer's call comes from; throws unless it presented a valid member certificate. */
export function peerMemberOf(call: { getAuthContext?: () => { sslPeerCertificate?: unknown } | null }): string {
  const cert = call.getAuthContext?.()?.sslPeerCertificate as Parameters<typeof memberIdFromPeerCertificate>[0];
  const member = memberIdFromPeerCertificate(cert);
  if (!member) throw MamoriError.unauthenticated('a member certificate from the consortium CA is required');
  return member;
}
