// The client a member's systems use to reach their own node. Card numbers are normalized
// and hashed in this process; only selectors leave it.
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../proto/ts/loader';
import { normalizePan } from '../../proto/ts/normalize';
import { panSelector } from '../../proto/ts/selectors';
import { sodiumReady } from '../../proto/ts/sodium';
import { isPublicTestPan } from '../../proto/ts/test-cards';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { GetHashingKeysResponse__Output } from '../../proto/gen/mamori/v1/GetHashingKeysResponse';
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import type { Evidence__Output } from '../../proto/gen/mamori/v1/Evidence';
import type { PublishIndicators } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { PublishResponse__Output } from '../../proto/gen/mamori/v1/PublishResponse';
import type { RetractResponse__Output } from '../../proto/gen/mamori/v1/RetractResponse';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { readClientConfig } from './config';
import {
  CARD_REASONS,
  DAY_MS,
  DEFAULT_CONFIDENCE,
  DEFAULT_VALID_DAYS,
  EXPOSURES,
  RETRACT_REASONS,
  type CardListingDetails,
  type RetractReasonName,
} from './details';
import { MamoriClientError } from './errors';

export interface ClientOptions {
  target: string;
  token: string;
  /** Deadline of each call in milliseconds (default 5000). */
  deadlineMs?: number;
}

export interface HashingKey {
  epoch: number;
  key: Uint8Array;
}

export interface CardCheck {
  listed: boolean;
  listingMembers: number;
  evidence: Evidence__Output[];
}

export const MAX_BATCH = 10_000;

type UnaryMethod = 'Publish' | 'Retract' | 'Check' | 'Status' | 'GetHashingKeys' | 'Unfreeze';

export class MamoriClient {
  private readonly stub: ExchangeClient;
  private readonly metadata: grpc.Metadata;
  private keys: HashingKey[] | undefined;
  readonly deadlineMs: number;

  private constructor(options: ClientOptions) {
    const { Exchange } = loadGrpcTypes().mamori.v1;
    this.stub = new Exchange(options.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
    });
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${options.token}`);
    this.deadlineMs = options.deadlineMs ?? 5_000;
  }

  static connect(options: ClientOptions): MamoriClient {
    return new MamoriClient(options);
  }

  /** Connects with a client.json written by `mamori dev-consortium`. */
  static fromConfigFile(file: string): MamoriClient {
    const config = readClientConfig(file);
    return new MamoriClient({ target: config.target, token: config.token, deadlineMs: config.deadlineMs });
  }

  /** One unary call with a deadline; grpc-js has no default deadline. */
  private call<Res>(method: UnaryMethod, request: object, deadlineMs = this.deadlineMs): Promise<Res> {
    return new Promise((resolve, reject) => {
      const fn = this.stub[method] as unknown as (
        req: object,
        md: grpc.Metadata,
        opts: grpc.CallOptions,
        cb: (e: grpc.ServiceError | null, r?: Res) => void,
      ) => unknown;
      fn.call(this.stub, request, this.metadata, { deadline: Date.now() + deadlineMs }, (error, response) => {
        if (error) reject(MamoriClientError.fromGrpc(error));
        else resolve(response as Res);
      });
    });
  }

  /** Active hashing keys from the member's own node, newest first; held in memory only. */
  async hashingKeys(refresh = false): Promise<HashingKey[]> {
    if (!this.keys || refresh) {
      await sodiumReady();
      const response = await this.call<GetHashingKeysResponse__Output>('GetHashingKeys', {});
      if (response.keys.length === 0) throw new MamoriClientError('FAILED_PRECONDITION', 'the node has no active hashing-key epoch');
      this.keys = response.keys.map((k) => ({ epoch: k.epoch, key: new Uint8Array(k.key) }));
    }
    return this.keys;
  }

  /** Normalizes and hashes a PAN under one key; throws INVALID_PAN with a reason that never contains the number. */
  static panDigest(pan: string, key: Uint8Array): Buffer {
    const normalized = normalizePan(pan);
    if (!normalized.ok) throw new MamoriClientError('INVALID_PAN', `card number ${normalized.reason}`);
    return panSelector(key, normalized.digits);
  }

  async checkCard(pan: string): Promise<CardCheck> {
    const [result] = await this.checkCards([pan]);
    return result as CardCheck;
  }

  /** Checks cards under every active epoch, merging the answers per card. */
  async checkCards(pans: readonly string[]): Promise<CardCheck[]> {
    const keys = await this.hashingKeys();
    const selectors = pans.flatMap((pan) => keys.map((k) => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: MamoriClient.panDigest(pan, k.key) })));
    const results: CheckResult__Output[] = [];
    for (let i = 0; i < selectors.length; i += MAX_BATCH) {
      const response = await this.call<CheckResponse__Output>('Check', { selectors: selectors.slice(i, i + MAX_BATCH) });
      results.push(...response.results);
    }
    return pans.map((_, p) => mergeChecks(results.slice(p * keys.length, (p + 1) * keys.length)));
  }

  /** Publishes already-hashed PAN selectors (bulk import); digests must be hashed under keyEpoch. */
  async publishPanDigests(digests: readonly Buffer[], details: CardListingDetails, keyEpoch: number): Promise<PublishResponse__Output> {
    return this.call<PublishResponse__Output>('Publish', { publication: cardPublication(digests, details), keyEpoch });
  }

  /** Publishes compromised cards: refuses invalid and public test numbers before anything is sent. */
  async publishCompromisedCards(pans: readonly string[], details: CardListingDetails): Promise<PublishResponse__Output> {
    const [key] = await this.hashingKeys();
    if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
    const digests = pans.map((pan, i) => {
      const normalized = normalizePan(pan);
      if (!normalized.ok) throw new MamoriClientError('INVALID_PAN', `card ${i + 1}: card number ${normalized.reason}`);
      if (isPublicTestPan(normalized.digits)) {
        throw new MamoriClientError('INVALID_PAN', `card ${i + 1}: is a public test card number; test numbers are never published`);
      }
      return panSelector(key.key, normalized.digits);
    });
    return this.publishPanDigests(digests, details, key.epoch);
  }

  /** Retracts this member's listings of cards (for example after reissue). */
  async retractCards(pans: readonly string[], reason: RetractReasonName): Promise<RetractResponse__Output> {
    const keys = await this.hashingKeys();
    const selectors = pans.flatMap((pan) => keys.map((k) => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: MamoriClient.panDigest(pan, k.key) })));
    return this.call<RetractResponse__Output>('Retract', { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors, reason: RETRACT_REASONS[reason] });
  }

  /** Accept an origin's entries again after an equivocation was dealt with (an operator's decision). */
  async unfreeze(origin: string): Promise<boolean> {
    return (await this.call<{ wasFrozen: boolean }>('Unfreeze', { origin })).wasFrozen;
  }

  async status(): Promise<StatusResponse__Output> {
    return this.call<StatusResponse__Output>('Status', {});
  }

  /** Waits until the node answers, for scripts that start a node and then use it. */
  async waitForReady(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.stub.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(new MamoriClientError('UNAVAILABLE', `node not reachable: ${error.message}`)) : resolve())),
    );
  }

  close(): void {
    this.stub.close();
  }
}

export function cardPublication(digests: readonly Buffer[], details: CardListingDetails, nowMs = Date.now()): PublishIndicators {
  const reason = CARD_REASONS[details.reason];
  if (!reason) throw new MamoriClientError('INVALID_ARGUMENT', `reason: unknown "${String(details.reason)}"; expected one of ${Object.keys(CARD_REASONS).join(', ')}`);
  const exposed = (details.exposed ?? ['pan']).map((e) => {
    const value = EXPOSURES[e];
    if (!value) throw new MamoriClientError('INVALID_ARGUMENT', `exposure: unknown "${String(e)}"; expected any of ${Object.keys(EXPOSURES).join(', ')}`);
    return value;
  });
  const validDays = details.validDays ?? DEFAULT_VALID_DAYS;
  return {
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason,
    exposed,
    confidence: details.confidence ?? DEFAULT_CONFIDENCE,
    validFromMs: nowMs,
    validUntilMs: nowMs + Math.round(validDays * DAY_MS),
    eventId: details.eventId ?? '',
    indicators: digests.map((digest) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }] })),
  };
}

function mergeChecks(results: CheckResult__Output[]): CardCheck {
  const byOrigin = new Map<string, Evidence__Output>();
  for (const r of results) for (const e of r.evidence) if (!byOrigin.has(e.origin)) byOrigin.set(e.origin, e);
  const evidence = [...byOrigin.values()];
  return { listed: evidence.length > 0, listingMembers: evidence.length, evidence };
}
