// The enumeration alert: a client that checks many distinct selectors, nearly all of them not
// listed, is sweeping card numbers (or merchants) to learn what is listed. Per client token and
// fixed window, distinct selectors are counted with a HyperLogLog over the digests (keyed
// hashes, so uniformly distributed): 4 KiB per client, a few operations per selector, no
// allocation, and no selector kept. The operator gets one warning per client and window,
// naming the client by a prefix of its token digest and never a selector.
import type { Logger } from 'pino';
import { PACKED_DIGEST_BYTES } from '../../../proto/ts/packed-check';

/** 2^12 registers: about 1.6 % standard error at any count. */
const INDEX_BITS = 12;
const REGISTERS = 1 << INDEX_BITS;
const ALPHA = 0.7213 / (1 + 1.079 / REGISTERS);
const POW2_NEG = Float64Array.from({ length: 34 }, (_, i) => 2 ** -i);

export interface EnumerationSettings {
  distinctSelectors: number;
  windowMs: number;
  minMissRatio: number;
}

class ClientWindow {
  readonly registers = new Uint8Array(REGISTERS);
  startedMs = 0;
  checked = 0;
  missed = 0;
  alerted = false;
  /** Σ 2^-register and the registers still 0, kept as registers change: the estimate is O(1). */
  private sum = REGISTERS;
  private zeros = REGISTERS;

  reset(now: number): void {
    this.registers.fill(0);
    this.startedMs = now;
    this.checked = 0;
    this.missed = 0;
    this.alerted = false;
    this.sum = REGISTERS;
    this.zeros = REGISTERS;
  }

  /** The digest at `at` of `bytes` (a selector's digest, or one of packed digests). */
  add(bytes: Uint8Array, at = 0): void {
    if (bytes.length < at + 8) return;
    const index = (bytes[at] << 4) | (bytes[at + 1] >>> 4);
    const rest = ((bytes[at + 4] << 24) | (bytes[at + 5] << 16) | (bytes[at + 6] << 8) | bytes[at + 7]) >>> 0;
    const rank = Math.clz32(rest) + 1;
    const old = this.registers[index];
    if (rank <= old) return;
    this.registers[index] = rank;
    this.sum += POW2_NEG[rank] - POW2_NEG[old];
    if (old === 0) this.zeros--;
  }

  distinct(): number {
    const raw = (ALPHA * REGISTERS * REGISTERS) / this.sum;
    if (raw <= 2.5 * REGISTERS && this.zeros > 0) return REGISTERS * Math.log(REGISTERS / this.zeros);
    return raw;
  }
}

export class EnumerationDetector {
  private readonly clients = new Map<string, ClientWindow>();
  private alerts = 0;

  constructor(
    private readonly settings: EnumerationSettings,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Warnings logged so far. */
  alertCount(): number {
    return this.alerts;
  }

  /** One Check call of `client`: its selectors' digests and whether each was listed. */
  observe(client: string, digests: readonly { digest: Uint8Array }[], verdicts: readonly { listed: boolean }[]): void {
    const w = this.windowOf(client);
    if (w.alerted) return; // once per window: nothing more to count until it ends
    for (let i = 0; i < digests.length; i++) {
      w.add(digests[i].digest);
      if (!verdicts[i]?.listed) w.missed++;
    }
    w.checked += digests.length;
    this.judge(client, w);
  }

  /** One packed Check call of `client`: `count` digests of 32 bytes back to back, `listed` of them listed. */
  observePacked(client: string, packed: Uint8Array, count: number, listed: number): void {
    const w = this.windowOf(client);
    if (w.alerted) return;
    for (let i = 0; i < count; i++) w.add(packed, i * PACKED_DIGEST_BYTES);
    w.missed += count - listed;
    w.checked += count;
    this.judge(client, w);
  }

  private windowOf(client: string): ClientWindow {
    const now = this.clock();
    let w = this.clients.get(client);
    if (w === undefined) {
      w = new ClientWindow();
      w.reset(now);
      this.clients.set(client, w);
    } else if (now - w.startedMs >= this.settings.windowMs) {
      w.reset(now);
    }
    return w;
  }

  private judge(client: string, w: ClientWindow): void {
    if (w.checked <= this.settings.distinctSelectors) return; // cannot be more distinct than checked
    const distinct = w.distinct();
    const missRatio = w.missed / w.checked;
    if (distinct > this.settings.distinctSelectors && missRatio >= this.settings.minMissRatio) {
      w.alerted = true;
      this.alerts++;
      this.log.warn(
        {
          client: client.slice(0, 8),
          selectors: Math.round(distinct),
          windowSeconds: Math.round(this.settings.windowMs / 1000),
          missRatio: Math.round(missRatio * 1000) / 1000,
          threshold: this.settings.distinctSelectors,
        },
        'possible enumeration: one client checked many distinct selectors, nearly all not listed',
      );
    }
  }
}
