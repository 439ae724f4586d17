// A fake member's Replication service for tests: it listens at a member's replication
// endpoint with that member's real certificate (so honest nodes dial it as that member),
// answers Heads and Fetch from a per-caller view of feeds the test controls, and lets the
// test push arbitrary entries down each caller's Follow stream.
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import type { Entry } from '../../proto/gen/mamori/v1/Entry';
import type { FetchRequest__Output } from '../../proto/gen/mamori/v1/FetchRequest';
import type { FollowRequest__Output } from '../../proto/gen/mamori/v1/FollowRequest';
import type { HeadsResponse } from '../../proto/gen/mamori/v1/HeadsResponse';
import { memberIdFromPeerCertificate } from '../../node/src/crypto/certificates';
import { entryHash } from '../../node/src/crypto/signing';
import { peerServerCredentials, type TlsMaterial } from '../../node/src/rpc/peer-credentials';
import { waitFor } from './wait';

/** One feed as the fake shows it to a caller: entries in seq order (seqs need not be contiguous). */
export interface FakeFeed {
  origin: string;
  entries: { seq: number; body: Buffer; signature: Buffer }[];
}

export interface FakeCall {
  method: 'Heads' | 'Fetch' | 'Follow';
  caller: string;
  origin?: string;
  fromSeq?: number;
  limit?: number;
  atMs: number;
}

type FollowCall = grpc.ServerWritableStream<FollowRequest__Output, Entry>;

export class FakePeer {
  /** What Heads and Fetch show each caller (by the member id in its certificate). */
  view: (caller: string) => FakeFeed[] = () => [];
  /** Every call received, in order. */
  readonly calls: FakeCall[] = [];
  private readonly open = new Map<string, FollowCall[]>();

  private constructor(
    readonly endpoint: string,
    private readonly server: grpc.Server,
  ) {}

  static async start(endpoint: string, tls: TlsMaterial, view?: (caller: string) => FakeFeed[]): Promise<FakePeer> {
    const server = new grpc.Server();
    const fake = new FakePeer(endpoint, server);
    if (view) fake.view = view;
    server.addService(loadGrpcTypes().mamori.v1.Replication.service, {
      Heads: (call: grpc.ServerUnaryCall<unknown, HeadsResponse>, callback: grpc.sendUnaryData<HeadsResponse>) => {
        const caller = callerOf(call);
        fake.calls.push({ method: 'Heads', caller, atMs: Date.now() });
        const heads = fake
          .view(caller)
          .filter((f) => f.entries.length > 0)
          .map((f) => {
            const last = f.entries[f.entries.length - 1] as FakeFeed['entries'][number];
            return { origin: f.origin, seq: last.seq, headHash: entryHash(last.body) };
          });
        callback(null, { heads });
      },
      Fetch: (call: grpc.ServerWritableStream<FetchRequest__Output, Entry>) => {
        const caller = callerOf(call);
        const { origin, fromSeq, limit } = call.request;
        fake.calls.push({ method: 'Fetch', caller, origin, fromSeq, limit, atMs: Date.now() });
        const feed = fake.view(caller).find((f) => f.origin === origin);
        const entries = (feed?.entries ?? []).filter((e) => e.seq >= fromSeq);
        for (const e of limit > 0 ? entries.slice(0, limit) : entries) call.write({ body: e.body, signature: e.signature });
        call.end();
      },
      Follow: (call: FollowCall) => {
        const caller = callerOf(call);
        fake.calls.push({ method: 'Follow', caller, atMs: Date.now() });
        const list = fake.open.get(caller) ?? [];
        list.push(call);
        fake.open.set(caller, list);
        const drop = () => {
          const current = fake.open.get(caller) ?? [];
          fake.open.set(caller, current.filter((c) => c !== call));
        };
        call.on('cancelled', drop);
        call.on('close', drop);
        call.on('error', drop);
        // The follower waits for metadata before it compares heads: answer at once.
        call.sendMetadata(new grpc.Metadata());
      },
    });
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(endpoint, peerServerCredentials(tls), (error, port) => (error ? reject(error) : resolve(port))),
    );
    return fake;
  }

  /** Calls of one method from one caller so far. */
  callsOf(method: FakeCall['method'], caller: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method && c.caller === caller);
  }

  /** The caller's open Follow streams (a reconnecting caller may briefly have two). */
  followers(caller: string): number {
    return (this.open.get(caller) ?? []).filter((c) => !c.cancelled).length;
  }

  /**
   * Writes entries, in order, down the caller's newest open Follow stream (waiting for one).
   * Returns the number of Follow calls the caller had made when the entries were written.
   */
  async push(caller: string, entries: { body: Buffer; signature: Buffer }[], timeoutMs = 30_000): Promise<number> {
    const call = await waitFor(() => {
      const open = (this.open.get(caller) ?? []).filter((c) => !c.cancelled);
      return open[open.length - 1];
    }, `an open Follow stream from ${caller}`, timeoutMs);
    for (const e of entries) call.write({ body: e.body, signature: e.signature });
    return this.callsOf('Follow', caller).length;
  }

  /** Ends every stream and closes the listener at once. */
  stop(): void {
    this.open.clear();
    this.server.forceShutdown();
  }
}

function callerOf(call: { getAuthContext(): { sslPeerCertificate?: unknown } }): string {
  const cert = call.getAuthContext()?.sslPeerCertificate as Parameters<typeof memberIdFromPeerCertificate>[0];
  return memberIdFromPeerCertificate(cert) ?? '(unknown)';
}
