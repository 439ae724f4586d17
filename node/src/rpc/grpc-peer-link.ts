// The gRPC side of a PeerLink: calls a peer's Replication service over mutual TLS.
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from './grpc-types';
import type { Entry__Output } from '../../../proto/gen/mamori/v1/Entry';
import type { HeadsResponse__Output } from '../../../proto/gen/mamori/v1/HeadsResponse';
import { MamoriError } from '../ledger/errors';
import { PeerRefusedDocument, PeerRefusedMembership, type PeerHead, type PeerLink, type RawEntry } from '../replication/types';
import type { SignedConsortiumDocument__Output } from '../../../proto/gen/mamori/v1/SignedConsortiumDocument';
import type { OfferConsortiumResponse__Output } from '../../../proto/gen/mamori/v1/OfferConsortiumResponse';

/** gRPC failures as domain errors: an oversize message is the peer's fault, the rest is the network. */
function linkError(error: grpc.ServiceError): MamoriError {
  if (error.code === grpc.status.RESOURCE_EXHAUSTED) return new MamoriError('ENTRY_TOO_LARGE', `peer sent an oversize message: ${error.details}`);
  // The peer's gate or handler: this node's certificate names no member the peer knows.
  if (error.code === grpc.status.PERMISSION_DENIED) return new PeerRefusedMembership(`peer: ${error.details || error.message}`);
  return new MamoriError('UNAVAILABLE', `peer: ${error.details || error.message}`);
}

/** Entries handed to replication at a time while fetching. */
const FETCH_BATCH = 64;
const HEADS_DEADLINE_MS = 5_000;
const CONSORTIUM_DEADLINE_MS = 10_000;
const FETCH_DEADLINE_MS = 120_000;

/** Channel options of every client of a peer's Replication service (replication and evaluation). */
export function peerChannelOptions(maxMessageBytes: number): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    // Member certificates name localhost and 127.0.0.1; the member id is checked separately.
    'grpc.ssl_target_name_override': 'localhost',
    'grpc-node.flow_control_window': 8 * 1024 * 1024,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  };
}

export function grpcPeerLink(endpoint: string, credentials: grpc.ChannelCredentials, maxMessageBytes: number, metadata = new grpc.Metadata()): PeerLink {
  const { Replication } = loadGrpcTypes().mamori.v1;
  const client = new Replication(endpoint, credentials, peerChannelOptions(maxMessageBytes));
  const toRaw = (e: Entry__Output): RawEntry => ({ body: e.body, signature: e.signature });

  const fetchOnce = (origin: string, fromSeq: number, onPage: (entries: RawEntry[]) => Promise<void>, limit: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const call = client.Fetch({ origin, fromSeq, limit }, metadata, { deadline: Date.now() + FETCH_DEADLINE_MS });
      let batch: RawEntry[] = [];
      let received = 0;
      let chain = Promise.resolve();
      const flush = () => {
        const page = batch;
        batch = [];
        call.pause();
        chain = chain.then(() => onPage(page)).then(() => void call.resume());
        return chain;
      };
      call.on('data', (entry: Entry__Output) => {
        received++;
        batch.push(toRaw(entry));
        if (batch.length >= FETCH_BATCH) flush().catch((error: unknown) => call.cancel() ?? reject(error));
      });
      call.on('error', (error: grpc.ServiceError) => reject(linkError(error)));
      call.on('end', () => {
        const last = batch.length > 0 ? flush() : chain;
        last.then(() => resolve(), reject);
      });
    });

  // The consortium document version the peer advertised in its last Heads answer.
  let advertisedVersion = 0;
  return {
    heads: () =>
      new Promise<PeerHead[]>((resolve, reject) => {
        client.Heads({}, metadata, { deadline: Date.now() + HEADS_DEADLINE_MS }, (error: grpc.ServiceError | null, response?: HeadsResponse__Output) => {
          if (error || !response) return reject(error ? linkError(error) : new MamoriError('UNAVAILABLE', 'empty Heads response'));
          advertisedVersion = Number(response.consortiumVersion);
          resolve(response.heads.map((h) => ({ origin: h.origin, seq: h.seq, hash: h.headHash })));
        });
      }),

    consortium: {
      advertised: () => advertisedVersion,
      get: () =>
        new Promise<Buffer>((resolve, reject) => {
          client.GetConsortium({}, metadata, { deadline: Date.now() + CONSORTIUM_DEADLINE_MS }, (error: grpc.ServiceError | null, response?: SignedConsortiumDocument__Output) => {
            if (error || !response) return reject(error ? linkError(error) : new MamoriError('UNAVAILABLE', 'empty GetConsortium response'));
            resolve(response.signedDocument);
          });
        }),
      offer: (signedDocument) =>
        new Promise<{ taken: boolean; versionInForce: number }>((resolve, reject) => {
          client.OfferConsortium({ signedDocument }, metadata, { deadline: Date.now() + CONSORTIUM_DEADLINE_MS }, (error: grpc.ServiceError | null, response?: OfferConsortiumResponse__Output) => {
            if (error?.code === grpc.status.FAILED_PRECONDITION || error?.code === grpc.status.INVALID_ARGUMENT) return reject(new PeerRefusedDocument('FAILED_PRECONDITION', `peer: ${error.details}`));
            if (error || !response) return reject(error ? linkError(error) : new MamoriError('UNAVAILABLE', 'empty OfferConsortium response'));
            resolve({ taken: response.taken, versionInForce: Number(response.versionInForce) });
          });
        }),
    },

    // One call, at most `limit` entries: the replicator asks again from its own head (fetch-up-to.ts).
    fetch: (origin, fromSeq, onPage, limit) => fetchOnce(origin, fromSeq, onPage, Math.max(1, limit)),

    follow(onEntries) {
      const call = client.Follow({}, metadata);
      let pending: RawEntry[] = [];
      let scheduled = false;
      const subscribed = new Promise<void>((resolve) => call.once('metadata', () => resolve()));
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (entry: Entry__Output) => {
          pending.push(toRaw(entry));
          if (!scheduled) {
            scheduled = true;
            setImmediate(() => {
              scheduled = false;
              const batch = pending;
              pending = [];
              onEntries(batch);
            });
          }
        });
        call.on('error', (error: grpc.ServiceError) => (error.code === grpc.status.CANCELLED ? resolve() : reject(linkError(error))));
        call.on('end', () => resolve());
      });
      return { subscribed, done, cancel: () => call.cancel() };
    },

    close: () => client.close(),
  };
}
