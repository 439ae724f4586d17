import * as crypto from 'node:crypto';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { isPublicTestPan } from '../../proto/ts/test-cards';

/** A random Luhn-valid 16-digit card number (not a real card). */
export function randomPan(bin = '454545'): string {
  for (;;) {
    let partial = bin;
    const bytes = crypto.randomBytes(16);
    for (let i = 0; partial.length < 15; i++) partial += String((bytes[i] as number) % 10);
    const pan = withLuhnDigit(partial);
    if (!isPublicTestPan(pan)) return pan;
  }
}

export function randomPans(count: number, bin?: string): string[] {
  const set = new Set<string>();
  while (set.size < count) set.add(randomPan(bin));
  return [...set];
}

/** The forms a PAN could leak in: plain digits and the usual 4-4-4-4 groupings. */
export function panForms(pan: string): string[] {
  const groups = pan.match(/.{1,4}/g) ?? [pan];
  return [pan, groups.join(' '), groups.join('-')];
}
