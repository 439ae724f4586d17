// The in-process mirror of the node's Bloom filter, kept current like a Safe Browsing local
// database: loaded once from the node, then every selector the node commits is streamed in.
// A negative answers in microseconds with no I/O; a positive (or a mirror that is not loaded
// or has gone stale) is confirmed with the node, which also returns the evidence.
import { backoffDelay } from '../../proto/ts/backoff';
import { DigestBloomFilter } from '../../proto/ts/digest-bloom';
import { isCancelled, openMirrorChannel, type ChannelCredentials, type ClientReadableStream, type ServiceError } from './transport';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import type { MirrorMessage__Output } from '../../proto/gen/mamori/v1/MirrorMessage';

export interface MirrorOptions {
  target: string;
  token: string;
  credentials?: ChannelCredentials;
  /** No message (heartbeats come every second) for this long: the mirror is stale. */
  staleAfterMs?: number;
  log?: (message: string) => void;
}

export interface MirrorStatus {
  ready: boolean;
  stale: boolean;
  /** Time since the node was last heard from on the mirror stream. */
  lagMs: number;
  items: number;
  lastUpdateMs: number;
  reloads: number;
  reason?: string;
}

interface Loading {
  params: { bits: number; hashes: number; capacity: number; targetFpRate: number };
  items: number;
  bytes: Uint8Array;
  received: number;
  /** Digests committed while the bits were still arriving, applied once they are in. */
  pending: Buffer[];
}

const DIGEST_BYTES = 32;
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 5000;

export class FilterMirror {
  private filter: DigestBloomFilter | undefined;
  /** True only while the stream that loaded `filter` is open and delivering its updates. */
  private live = false;
  private loading: Loading | undefined;
  private call: ClientReadableStream<MirrorMessage__Output> | undefined;
  private lastMessageAt = 0;
  /** Filters loaded so far; also the generation of the one in use (see generation()). */
  private reloads = 0;
  private reason: string | undefined = 'loading';
  private attempt = 0;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly addedListeners: ((digests: Buffer) => void)[] = [];
  private readonly staleAfterMs: number;
  private readonly stub: ExchangeClient;
  private readonly metadata: ReturnType<typeof openMirrorChannel>['metadata'];

  private constructor(private readonly options: MirrorOptions) {
    this.staleAfterMs = options.staleAfterMs ?? 3000;
    ({ stub: this.stub, metadata: this.metadata } = openMirrorChannel(options.target, options.token, options.credentials));
  }

  static start(options: MirrorOptions): FilterMirror {
    const mirror = new FilterMirror(options);
    mirror.connect();
    return mirror;
  }

  /**
   * false: certainly not in the node's filter, so not listed; true: ask the node;
   * undefined: the mirror cannot answer (not loaded yet, or stale), ask the node.
   */
  mayContain(digest: Uint8Array, now = Date.now()): boolean | undefined {
    const filter = this.filter;
    if (!filter || !this.live || now - this.lastMessageAt > this.staleAfterMs) return undefined;
    return filter.has(digest);
  }

  /**
   * The generation of the filter answering now (1 for the first one loaded, then one more per
   * reload), or 0 when the mirror cannot answer. Between two reloads the filter only gains
   * digests, and every digest it gains is handed to the onAdded listeners: a "not in the
   * filter" remembered under a generation stays true until a listener hears of the digest.
   */
  generation(now = Date.now()): number {
    if (!this.filter || !this.live || now - this.lastMessageAt > this.staleAfterMs) return 0;
    return this.reloads;
  }

  /** The answering filter's membership test; meaningful while generation() is not 0. */
  has(digest: Uint8Array): boolean {
    return this.filter?.has(digest) ?? true;
  }

  /** Called with every batch of digests the node commits (32 bytes each, concatenated), as it arrives, including during a reload. */
  onAdded(listener: (digests: Buffer) => void): void {
    this.addedListeners.push(listener);
  }

  status(): MirrorStatus {
    const lagMs = this.lastMessageAt === 0 ? Infinity : Date.now() - this.lastMessageAt;
    const stale = this.filter === undefined || !this.live || lagMs > this.staleAfterMs;
    return {
      ready: this.filter !== undefined,
      stale,
      lagMs,
      items: this.filter?.items ?? 0,
      lastUpdateMs: this.lastMessageAt,
      reloads: this.reloads,
      reason: stale ? (this.reason ?? `no word from the node for ${lagMs} ms`) : undefined,
    };
  }

  /** Resolves once the mirror can answer (for start-up and tests); false on timeout. */
  async whenReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.mayContain(Buffer.alloc(DIGEST_BYTES)) !== undefined) return true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return false;
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.call?.cancel();
    this.stub.close();
  }

  private connect(): void {
    if (this.closed) return;
    const call = this.stub.MirrorFilter({}, this.metadata);
    this.call = call;
    call.on('data', (message: MirrorMessage__Output) => this.onMessage(message));
    call.on('error', (error: ServiceError) => this.onEnd(call, isCancelled(error) ? undefined : error.details || error.message));
    call.on('end', () => this.onEnd(call, 'the node ended the mirror stream (its filter was replaced)'));
  }

  /** Once per stream: grpc-js may report both 'error' and 'end' for one call. */
  private onEnd(call: ClientReadableStream<MirrorMessage__Output>, reason: string | undefined): void {
    if (this.closed || this.call !== call) return;
    this.call = undefined;
    // Updates committed from now on are not seen: the old copy may no longer say "not listed".
    this.live = false;
    this.loading = undefined;
    this.reason = reason ?? 'mirror stream closed';
    this.options.log?.(`mirror: ${this.reason}; reconnecting`);
    // The current filter keeps answering until it goes stale.
    const delay = backoffDelay(this.attempt++, RECONNECT_BASE_MS, RECONNECT_MAX_MS);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref?.();
  }

  private onMessage(message: MirrorMessage__Output): void {
    // Freshness comes from the stream that feeds the filter in use, not from a reload in progress.
    if (!this.loading || message.header) this.lastMessageAt = Date.now();
    if (message.header) {
      const h = message.header;
      this.loading = {
        params: { bits: h.bits, hashes: h.hashes, capacity: h.capacity, targetFpRate: h.targetFpRate },
        items: h.items,
        bytes: new Uint8Array(h.totalBytes),
        received: 0,
        pending: [],
      };
      if (h.totalBytes === 0) this.completeLoading();
    } else if (message.bitsChunk && this.loading) {
      this.loading.bytes.set(message.bitsChunk, this.loading.received);
      this.loading.received += message.bitsChunk.length;
      if (this.loading.received >= this.loading.bytes.length) this.completeLoading();
    } else if (message.added) {
      const digests = message.added.digests;
      if (this.loading) this.loading.pending.push(digests);
      else if (this.filter) addAll(this.filter, digests);
      for (const listener of this.addedListeners) listener(digests);
    }
  }

  private completeLoading(): void {
    const loading = this.loading;
    if (!loading) return;
    // The filter answers from the array the chunks were written into: the bits exist once.
    const filter = DigestBloomFilter.over(loading.params, loading.bytes, loading.items);
    for (const digests of loading.pending) addAll(filter, digests);
    this.filter = filter;
    this.live = true;
    this.lastMessageAt = Date.now();
    this.loading = undefined;
    this.reloads++;
    this.attempt = 0;
    this.reason = undefined;
  }
}

function addAll(filter: DigestBloomFilter, digests: Buffer): void {
  for (let offset = 0; offset + DIGEST_BYTES <= digests.length; offset += DIGEST_BYTES) {
    filter.add(digests.subarray(offset, offset + DIGEST_BYTES));
  }
}
