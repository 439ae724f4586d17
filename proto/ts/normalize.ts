// PAN normalization is part of the protocol: every member must derive the same bytes.
// Accepted: ASCII or full-width digits, separated by spaces or dashes; 12-19 digits; Luhn-valid.

export type PanResult = { ok: true; digits: string } | { ok: false; reason: string };

const SEPARATORS = new Set([0x20, 0x09, 0x2d, 0x3000, 0xff0d, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0x30fc, 0xff70]);

/**
 * Normalizes a card number. The reason never contains the input: it is safe to log.
 */
export function normalizePan(input: string): PanResult {
  // Fast path for what authorization pipelines send: 12-19 ASCII digits, nothing else.
  const length = input.length;
  if (length >= 12 && length <= 19) {
    let plain = true;
    for (let i = 0; i < length; i++) {
      const code = input.charCodeAt(i);
      if (code < 0x30 || code > 0x39) {
        plain = false;
        break;
      }
    }
    if (plain) return luhnValid(input) ? { ok: true, digits: input } : { ok: false, reason: 'fails the Luhn check digit' };
  }
  let digits = '';
  let sawDigitOrSeparator = false;
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39) {
      digits += input[i];
    } else if (code >= 0xff10 && code <= 0xff19) {
      digits += String.fromCharCode(code - 0xff10 + 0x30);
    } else if (SEPARATORS.has(code)) {
      sawDigitOrSeparator = true;
      continue;
    } else {
      return { ok: false, reason: 'contains characters other than digits, spaces and dashes' };
    }
  }
  if (digits.length === 0) {
    return { ok: false, reason: sawDigitOrSeparator ? 'has no digits' : 'is empty' };
  }
  if (digits.length < 12) return { ok: false, reason: `is too short: ${digits.length} digits (a card number has 12 to 19)` };
  if (digits.length > 19) return { ok: false, reason: `is too long: ${digits.length} digits (a card number has 12 to 19)` };
  if (!luhnValid(digits)) return { ok: false, reason: 'fails the Luhn check digit' };
  return { ok: true, digits };
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Appends a Luhn check digit to a digit string (used to make valid test numbers). */
export function withLuhnDigit(partial: string): string {
  for (let check = 0; check <= 9; check++) {
    const candidate = partial + String(check);
    if (luhnValid(candidate)) return candidate;
  }
  throw new Error('unreachable: some check digit always satisfies Luhn');
}
