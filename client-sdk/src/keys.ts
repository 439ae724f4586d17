// The member's hashing keys, fetched from its own node and held in memory only. One fetch
// at a time; once loaded, the keys keep answering while a refresh runs in the background, so
// a check never waits on a key rotation.
export interface HashingKey {
  epoch: number;
  key: Uint8Array;
}

/** Epochs start and end by date; a minute is far below any epoch's overlap. */
const REFRESH_AFTER_MS = 60_000;

export class KeyRing {
  private keys: HashingKey[] | undefined;
  private fetchedAt = 0;
  private inflight: Promise<HashingKey[]> | undefined;

  constructor(private readonly load: () => Promise<HashingKey[]>) {}

  /** The keys if loaded (newest epoch first); starts a background refresh when they are old. */
  current(): HashingKey[] | undefined {
    if (this.keys && !this.inflight && Date.now() - this.fetchedAt > REFRESH_AFTER_MS) this.fetch().catch(() => undefined);
    return this.keys;
  }

  /** Loads the keys now, sharing a fetch already under way. */
  fetch(): Promise<HashingKey[]> {
    this.inflight ??= this.load().then(
      (keys) => {
        this.keys = keys;
        this.fetchedAt = Date.now();
        this.inflight = undefined;
        return keys;
      },
      (error: unknown) => {
        this.inflight = undefined;
        throw error;
      },
    );
    return this.inflight;
  }
}
