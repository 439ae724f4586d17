// An open-addressing hash index over the slots of a slab (selector-cache.ts): a table of slot
// numbers in one Int32Array, linear probing, keyed by a 32-bit word the slot itself holds (its
// keys are keyed hashes or PRF outputs, uniform already, so the word's low bits are the home
// position). A lookup reads one table line and then the slot: no Map entry, bucket chain or
// boxed key in between. Removal shifts the following run back (no tombstones), so lookups
// never slow down as cards come and go.

/** Table positions per slot at most: the table is kept at most two-thirds full. */
const LOAD_DIVISOR = 1.5;
const MIN_POSITIONS = 1024;

export class SlotIndex {
  /** slot + 1 per position, 0 when empty. */
  table = new Int32Array(MIN_POSITIONS);
  mask = MIN_POSITIONS - 1;

  /** `keyOf(slot)`: the word a slot is filed under (read from the slot, so a removal can find every entry's home). */
  constructor(private readonly keyOf: (slot: number) => number) {}

  insert(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let position = this.keyOf(slot) & mask;
    while (table[position] !== 0) position = (position + 1) & mask;
    table[position] = slot + 1;
  }

  /** Removes a slot filed earlier (under the key it still holds). */
  remove(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let hole = this.keyOf(slot) & mask;
    while (table[hole] !== slot + 1) {
      if (table[hole] === 0) return;
      hole = (hole + 1) & mask;
    }
    // Backward shift: an entry after the hole moves into it unless its home lies cyclically in (hole, position].
    let position = (hole + 1) & mask;
    for (let entry = table[position] as number; entry !== 0; entry = table[position] as number) {
      const home = this.keyOf(entry - 1) & mask;
      const stays = hole <= position ? hole < home && home <= position : hole < home || home <= position;
      if (!stays) {
        table[hole] = entry;
        hole = position;
      }
      position = (position + 1) & mask;
    }
    table[hole] = 0;
  }

  /** A table sized for `slots` slots, with those of slots 0 … filled − 1 that `filed` accepts filed again. */
  resize(slots: number, filled: number, filed: (slot: number) => boolean = () => true): void {
    let positions = MIN_POSITIONS;
    while (positions < slots * LOAD_DIVISOR) positions *= 2;
    if (positions !== this.table.length) {
      this.table = new Int32Array(positions);
      this.mask = positions - 1;
    } else {
      this.table.fill(0);
    }
    for (let slot = 0; slot < filled; slot++) if (filed(slot)) this.insert(slot);
  }

  clear(): void {
    this.table.fill(0);
  }
}
