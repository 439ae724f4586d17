// The member-local API calls the conformance runner makes, over a raw gRPC stub: what a client
// in another language sends, with no SDK in between.
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';

export interface WireSelector {
  type: string;
  digest: Buffer;
}

export interface CheckResultWire {
  listed: boolean;
  evidence: { origin: string; matched: string; kind: string }[];
}

export type CallOutcome<T> = { ok: true; value: T } | { ok: false; code: number; codeName: string; message: string };

const CODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k]));

export function statusName(code: number): string {
  return CODE_NAMES[code] ?? String(code);
}

export class NodeApi {
  private readonly stub: ExchangeClient;
  private readonly metadata = new grpc.Metadata();

  constructor(
    target: string,
    token: string,
    private readonly deadlineMs = 30_000,
  ) {
    this.stub = new (loadGrpcTypes().mamori.v1.Exchange)(target, grpc.credentials.createInsecure());
    this.metadata.set('authorization', `Bearer ${token}`);
  }

  close(): void {
    this.stub.close();
  }

  /** One unary call; a gRPC error is an outcome, not an exception. */
  call<T>(method: 'Publish' | 'Retract' | 'Check' | 'Status' | 'GetHashingKeys', request: object): Promise<CallOutcome<T>> {
    return new Promise((resolve) => {
      const fn = this.stub[method] as unknown as (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: T) => void) => void;
      fn.call(this.stub, request, this.metadata, { deadline: Date.now() + this.deadlineMs }, (error, value) => {
        if (error) resolve({ ok: false, code: error.code, codeName: statusName(error.code), message: error.details ?? error.message });
        else resolve({ ok: true, value: value as T });
      });
    });
  }

  /** Like call, but a gRPC error throws (for the calls every step needs). */
  async must<T>(method: 'Publish' | 'Retract' | 'Check' | 'Status' | 'GetHashingKeys', request: object): Promise<T> {
    const outcome = await this.call<T>(method, request);
    if (!outcome.ok) throw new Error(`${method} failed: ${outcome.codeName}: ${outcome.message}`);
    return outcome.value;
  }
}
