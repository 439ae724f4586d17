// Counts written behind (evaluation/budget.ts, evaluation/count-publisher.ts): every request of
// one event-loop turn is counted in memory, and one write on the next turn stores them all, so
// no request waits for SQLite.

/** Calls `write` once on the next turn of the event loop, however many times it was requested meanwhile. */
export class NextTurnWrite {
  private scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly write: () => void) {}

  request(): void {
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.write();
    });
  }

  /** Forgets a pending turn: the caller is writing now. */
  cancel(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }
}
