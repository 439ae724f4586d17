// The queue the Check batcher (batcher.ts) and the PAN-selector coalescer (pan-selectors.ts)
// send through. Arrivals fill the open batch, which goes once its window has elapsed (by
// default at the end of the event-loop turn) or once it is full; full batches go first. At most
// maxInFlight batches are outstanding, and while they are, arrivals keep filling the open
// batch, so batches grow with load rather than the number of calls.

export interface QueuedBatch {
  /** Set when the batch's window has elapsed: from then on it may be sent. */
  windowElapsed: boolean;
}

export class BatchQueue<B extends QueuedBatch> {
  private filling: B | undefined;
  private readonly full: B[] = [];
  private outstanding = 0;

  constructor(
    private readonly options: { windowMs: number; maxInFlight: number },
    private readonly create: () => B,
    /** Sends a batch; the slot it holds is free again when the promise settles. */
    private readonly send: (batch: B) => Promise<unknown>,
  ) {}

  get inFlight(): number {
    return this.outstanding;
  }

  /** Batches not sent yet, full ones first. */
  get queued(): readonly B[] {
    return this.filling ? [...this.full, this.filling] : this.full;
  }

  /** The open batch, opened (with its window) when there is none. */
  open(): B {
    if (this.filling) return this.filling;
    const batch = this.create();
    this.filling = batch;
    const elapse = (): void => {
      batch.windowElapsed = true;
      this.pump();
    };
    if (this.options.windowMs > 0) setTimeout(elapse, this.options.windowMs);
    else setImmediate(elapse);
    return batch;
  }

  /** The open batch is full: it goes ahead of any batch still in its window. */
  closeOpen(): void {
    if (!this.filling) return;
    this.full.push(this.filling);
    this.filling = undefined;
  }

  /** A batch a caller made whole (its window already over), queued behind the full ones. */
  add(batch: B): void {
    this.full.push(batch);
  }

  /** Sends full batches first, then the open one once its window has elapsed, while slots are free. */
  pump(): void {
    while (this.outstanding < this.options.maxInFlight) {
      let batch = this.full.shift();
      if (!batch && this.filling?.windowElapsed) {
        batch = this.filling;
        this.filling = undefined;
      }
      if (!batch) return;
      this.outstanding++;
      const release = (): void => {
        this.outstanding--;
        this.pump();
      };
      this.send(batch).then(release, release);
    }
  }
}
