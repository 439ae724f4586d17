// Mutual TLS between members, pinned to the consortium CA: the member id in a peer's
// certificate (URI SAN mamori:member:<id>) is who the peer is.
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { certificateMatchesKey, memberIdFromPeerCertificate } from '../crypto/certificates';
import { ConfigError } from '../config/errors';
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

/**
 * The files of a node.json TLS section (`tls`, `apiTls`), checked before a server uses them: each
 * readable, and the certificate made for the key. A problem is a ConfigError naming the field.
 */
export function readConfiguredTlsMaterial(configFile: string, section: 'tls' | 'apiTls', files: TlsFiles): TlsMaterial {
  const read = (field: keyof TlsFiles): Buffer => {
    try {
      return fs.readFileSync(files[field]);
    } catch (error) {
      throw new ConfigError(configFile, [`${section}.${field}: ${files[field]} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  };
  const material = { ca: read('caFile'), cert: read('certFile'), key: read('keyFile') };
  if (!certificateMatchesKey(material.cert, material.key)) {
    throw new ConfigError(configFile, [`${section}.certFile: ${files.certFile} is not a PEM certificate for the key in ${section}.keyFile`]);
  }
  return material;
}

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

/**
 * The node's TLS identity as the peer server presents it, replaceable while the server runs: a
 * renewed certificate is presented on every new connection from the moment update() is called,
 * with no restart (runtime/certificate-watch.ts decides when). Connections already open keep the
 * certificate they were made with, still valid during the overlap. Implements grpc-js's
 * (experimental) CertificateProvider. A new listener is answered on the next microtask, never
 * synchronously: grpc-js 1.14 registers the server's watcher only after adding its listeners, so an
 * answer given during the call would be lost and the server would drop every connection.
 */
export class TlsIdentity {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(private material: TlsMaterial) {}

  get current(): TlsMaterial {
    return this.material;
  }

  /** Presents this certificate and key (same CA) on new connections from now on. */
  update(material: TlsMaterial): void {
    this.material = material;
    for (const l of this.identityListeners) l({ certificate: material.cert, privateKey: material.key });
    for (const l of this.caListeners) l({ caCertificate: material.ca });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: this.material.ca });
    });
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.material.cert, privateKey: this.material.key });
    });
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/**
 * Server side: a client certificate from the CA of the material is required (the consortium CA
 * for peers, the member's API CA for the member-local API). A TlsIdentity may be renewed while
 * the server runs.
 */
export function peerServerCredentials(tls: TlsMaterial | TlsIdentity): grpc.ServerCredentials {
  if (tls instanceof TlsIdentity) {
    // One provider for both: grpc-js 1.14 passes this function's two providers to the constructor
    // in the other order than its parameter names say; the same object either way is correct.
    return grpc.experimental.createCertificateProviderServerCredentials(tls, tls, true);
  }
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
