// The member's hashing keys, fetched from its own node and held in memory only. One fetch
// at a time; once loaded, the keys keep answering while a refresh runs in the background, so
// a check never waits on a key rotation.
//
// The node also hands out the epochs it holds that are not active yet, with their dates: the
// ring starts hashing under an upcoming epoch the moment its activation passes (and drops an
// epoch at its retirement) without waiting for the next refresh, so during the first minute
// of a new epoch a check still finds what is published under it. The refresh then runs at
// once to pick up any change of dates.
export interface HashingKey {
  epoch: number;
  key: Uint8Array;
  /** When the epoch becomes active (ms since the epoch); 0 when the node did not say. */
  activeFromMs?: number;
  /** When it retires; undefined for no retirement date. */
  retiresAtMs?: number;
}

/** What the node answered: active keys (newest first) and upcoming ones. */
export interface LoadedKeys {
  active: HashingKey[];
  upcoming: HashingKey[];
}

/** Epochs start and end by date; a minute is far below any epoch's overlap. */
const REFRESH_AFTER_MS = 60_000;

export class KeyRing {
  private all: HashingKey[] = [];
  private keys: HashingKey[] | undefined;
  /** The next activation or retirement among the keys held: the active set changes then. */
  private nextChangeAtMs = Infinity;
  private fetchedAt = 0;
  private inflight: Promise<HashingKey[]> | undefined;

  constructor(private readonly load: () => Promise<LoadedKeys>) {}

  /** The keys if loaded (newest epoch first); starts a background refresh when they are old. */
  current(now = Date.now()): HashingKey[] | undefined {
    if (!this.keys) return undefined;
    if (now >= this.nextChangeAtMs) {
      this.select(now);
      if (!this.inflight) this.fetch().catch(() => undefined);
    } else if (!this.inflight && now - this.fetchedAt > REFRESH_AFTER_MS) {
      this.fetch().catch(() => undefined);
    }
    return this.keys;
  }

  /** Loads the keys now, sharing a fetch already under way; resolves to the active ones. */
  fetch(): Promise<HashingKey[]> {
    this.inflight ??= this.load().then(
      (loaded) => {
        this.all = [...loaded.active, ...loaded.upcoming];
        this.fetchedAt = Date.now();
        this.select(this.fetchedAt, loaded.active);
        this.inflight = undefined;
        return this.keys as HashingKey[];
      },
      (error: unknown) => {
        this.inflight = undefined;
        throw error;
      },
    );
    return this.inflight;
  }

  /** Recomputes the active keys at a time; the node's own list is kept if no date says otherwise. */
  private select(nowMs: number, fallback?: HashingKey[]): void {
    const active = this.all
      .filter((k) => (k.activeFromMs ?? 0) <= nowMs && (k.retiresAtMs === undefined || k.retiresAtMs > nowMs))
      .sort((a, b) => b.epoch - a.epoch);
    this.keys = active.length > 0 ? active : (fallback ?? this.keys);
    const changes = this.all.flatMap((k) => [k.activeFromMs ?? 0, k.retiresAtMs ?? Infinity]).filter((t) => t > nowMs);
    this.nextChangeAtMs = Math.min(Infinity, ...changes);
  }
}
