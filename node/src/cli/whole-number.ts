// The one parser of whole-number command-line options (ports, counts, ids, sizes).
import { InvalidArgumentError } from 'commander';

export interface WholeNumberBounds {
  min: number;
  max?: number;
  /** What the number is, for the message; default "a whole number". */
  what?: string;
}

/**
 * A commander argument parser: decimal digits only, from `min` to `max`. The message names the
 * option and the reason, e.g. `--base-port must be a port from 1 to 65533 (got "80a")`.
 */
export function wholeNumber(option: string, { min, max = Number.MAX_SAFE_INTEGER, what = 'a whole number' }: WholeNumberBounds): (value: string) => number {
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`;
  return (value: string): number => {
    const n = /^[0-9]{1,16}$/.test(value.trim()) ? Number(value.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${option} must be ${what} ${range} (got "${value}")`);
    return n;
  };
}
