// The peer server's gate: before any service answers (Replication, health, reflection), the
// caller's certificate must name a current member. TLS already requires a certificate from the
// consortium CA; that CA also signed certificates of members since removed (and could sign
// one for a name in no consortium file), and those complete the handshake. The check runs per
// call against the membership in force, so a member removed while connected is refused on
// its next call. The Replication handlers check again (replication-handlers.ts). One call is
// open to every certificate of the consortium CA: OfferConsortium, so that a member the node does
// not know yet (or the operator) can hand it the newer document that lists it
// (docs/design.md#membership-carried-by-replication).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { memberIdFromPeerCertificate } from '../crypto/certificates';

/** Distinct refused names logged (a removed member redialling is logged once, not per call). */
const MAX_LOGGED = 100;

export function currentMemberInterceptor(isMember: (member: string) => boolean, log: Logger, openMethods: readonly string[] = []): grpc.ServerInterceptor {
  const logged = new Set<string>();
  return (method, call) => {
    // A call any certificate from the consortium CA may make (the TLS handshake checked the chain):
    // OfferConsortium, whose document carries its own authority (replication-handlers.ts).
    if (openMethods.includes(method.path)) return call as grpc.ServerInterceptingCall;
    let refused = false;
    const refuse = (code: grpc.status, details: string, member: string | undefined) => {
      refused = true;
      const key = member ?? '(no member id)';
      if (!logged.has(key) && logged.size < MAX_LOGGED) {
        logged.add(key);
        log.warn({ peer: member, method: method.path, code: grpc.status[code] }, 'peer server: a caller whose certificate names no current member refused');
      }
      call.sendStatus({ code, details, metadata: new grpc.Metadata() });
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const cert = call.getAuthContext().sslPeerCertificate as Parameters<typeof memberIdFromPeerCertificate>[0];
            const member = memberIdFromPeerCertificate(cert);
            if (!member) return refuse(grpc.status.UNAUTHENTICATED, 'a member certificate from the consortium CA is required', undefined);
            if (!isMember(member)) return refuse(grpc.status.PERMISSION_DENIED, `"${member}" is not a current member of the consortium`, member);
            nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => {
            if (!refused) nextMessage(message);
          },
          onReceiveHalfClose: (nextHalfClose) => {
            if (!refused) nextHalfClose();
          },
        }),
    });
  };
}
