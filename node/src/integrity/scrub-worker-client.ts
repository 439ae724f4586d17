// The node's side of the scrub's worker thread (scrub-worker.ts): one request at a time,
// replies matched by id, so a reply that arrives after its caller gave up is dropped.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { MemberKeys } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import type { DamagedEntryReport, ScrubReply, ScrubRequest, ScrubWorkerData } from './scrub-protocol';

type RequestBody = ScrubRequest extends infer R ? (R extends ScrubRequest ? Omit<R, 'id'> : never) : never;

export class ScrubWorkerClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (reply: ScrubReply) => void; reject: (error: Error) => void }>();
  /** Counts worker threads started: a new one knows nothing of the previous one's walk. */
  generation = 0;

  constructor(private readonly file: string) {}

  async begin(members: Map<string, MemberKeys>): Promise<void> {
    await this.request({ type: 'begin', members: [...members] });
  }

  async next(limit: number, signal?: AbortSignal): Promise<{ walked: number; position: number; damaged: DamagedEntryReport[]; heads?: Map<string, FeedHead> }> {
    const reply = await this.request({ type: 'next', limit }, signal);
    if (reply.type !== 'slice') throw new Error(`scrub worker answered ${reply.type} to next`);
    // Buffers arrive as plain Uint8Arrays from the worker.
    const heads = reply.heads && new Map(reply.heads.map(([origin, h]) => [origin, { seq: h.seq, hash: Buffer.from(h.hash) }]));
    return { walked: reply.walked, position: reply.position, damaged: reply.damaged, heads };
  }

  async quickCheck(maxErrors: number, signal?: AbortSignal): Promise<string[]> {
    const reply = await this.request({ type: 'quickCheck', maxErrors }, signal);
    if (reply.type !== 'quickCheck') throw new Error(`scrub worker answered ${reply.type} to quickCheck`);
    return reply.problems;
  }

  /** The full derived-state check in the worker (verify-derived.ts). */
  async derived(key: Uint8Array, signal?: AbortSignal): Promise<Extract<ScrubReply, { type: 'derived' }>> {
    const reply = await this.request({ type: 'derived', key }, signal);
    if (reply.type !== 'derived') throw new Error(`scrub worker answered ${reply.type} to derived`);
    return reply;
  }

  /** Ends the worker thread; calls in flight are rejected. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the scrub worker was stopped'));
    await worker?.terminate();
  }

  private request(body: RequestBody, signal?: AbortSignal): Promise<ScrubReply> {
    const worker = this.spawned();
    const id = this.nextId++;
    return new Promise<ScrubReply>((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('scrub stopped'));
      const abort = () => {
        this.pending.delete(id);
        reject(new Error('scrub stopped'));
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.pending.set(id, {
        resolve: (reply) => {
          signal?.removeEventListener('abort', abort);
          if (reply.type === 'failed') reject(new Error(`scrub worker: ${reply.message}`));
          else resolve(reply);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', abort);
          reject(error);
        },
      });
      worker.postMessage({ ...body, id } as ScrubRequest);
    });
  }

  private spawned(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(path.join(__dirname, 'scrub-worker.js'), { workerData: { file: this.file } satisfies ScrubWorkerData });
    // The node's lifetime is not the worker's business: it never keeps the process alive.
    worker.unref();
    worker.on('message', (reply: ScrubReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    const gone = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`scrub worker exited with code ${code}`)));
    this.worker = worker;
    this.generation++;
    return worker;
  }

  private failAll(error: Error): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiting) w.reject(error);
  }
}
