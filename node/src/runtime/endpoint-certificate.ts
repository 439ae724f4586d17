// At start: the node's TLS certificate must cover the host of its own endpoint in the consortium
// document. Peers verify the member name in the certificate, not the host, so a mismatch would
// not stop replication by itself; but add-member puts the endpoint's host in the certificate, so
// a mismatch means the document's endpoint changed without a new certificate, or this directory
// holds another deployment's certificate — and any client that checks the host (a TLS proxy, a
// load balancer, `openssl s_client -verify_hostname`) would refuse the node. Said at start, with
// both sides named, rather than found later.
import type { NodeConfig } from '../config/node-config';
import { ConfigError } from '../config/errors';
import type { Consortium } from '../membership/consortium';
import { certificateCoversHost, certificateHostNames } from '../crypto/certificates';
import { hostOf } from './consortium-operator';

export function checkEndpointCertificate(config: NodeConfig, consortium: Consortium, certPem: Buffer): void {
  if (!config.tls) return;
  const own = consortium.member(config.member);
  if (!own) return; // not listed (yet): the node refuses to run elsewhere, with its own message
  const host = hostOf(own.endpoint);
  if (certificateCoversHost(certPem, host)) return;
  const names = certificateHostNames(certPem);
  throw new ConfigError(config.configFile, [
    `tls.certFile: the certificate ${config.tls.certFile} names ${names.length > 0 ? names.join(', ') : 'no host'}, which does not cover "${host}", the host of this member's endpoint ${own.endpoint} in the consortium document; ask the operator for a certificate for that endpoint (mamori consortium renew-cert)`,
  ]);
}
