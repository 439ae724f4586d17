// PAN normalization is part of the protocol: every member must derive the same bytes.
// Accepted: ASCII or full-width digits, separated by spaces or dashes; 12-19 digits; Luhn-valid;
// not degenerate — a number whose digits are all the same (0000 0000 0000 0000, 5555…) is refused:
// it passes Luhn for some lengths but no issuer assigns it (an account range of one repeated digit
// does not exist), and it is what a placeholder, a masked or a zero-filled field looks like.
// Only that is refused: numbers with few distinct digits are real card numbers too.

export type PanResult = { ok: true; digits: string } | { ok: false; reason: string };

const SEPARATORS = new Set([0x20, 0x09, 0x2d, 0x3000, 0xff0d, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2212, 0x30fc, 0xff70]);

/** Why normalizePan refuses a number whose digits are all the same (never echoes the number). */
export const DEGENERATE_PAN_REASON = 'is degenerate: all its digits are the same (a placeholder such as all zeros, never a card number)';

/** True when every digit of a digit string is the same one ("0000000000000000"). */
export function isDegeneratePan(digits: string): boolean {
  const first = digits.charCodeAt(0);
  for (let i = 1; i < digits.length; i++) if (digits.charCodeAt(i) !== first) return false;
  return true;
}

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
    if (plain) {
      if (!luhnValid(input)) return { ok: false, reason: 'fails the Luhn check digit' };
      return isDegeneratePan(input) ? { ok: false, reason: DEGENERATE_PAN_REASON } : { ok: true, digits: input };
    }
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
  if (isDegeneratePan(digits)) return { ok: false, reason: DEGENERATE_PAN_REASON };
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

/** Why an identifier field refuses a value that looks like a card number (never echoes the value). */
export const LOOKS_LIKE_CARD_NUMBER =
  'looks like a card number (12 to 19 digits, spaces or hyphens between them ignored, that pass the Luhn check); an identifier must never carry card data';

/** Separators that may stand between the digits of a card number written in an identifier. */
const DIGIT_GROUP_SEPARATORS = new Set([0x20, 0x2d]);

/**
 * True when a text holds what looks like a card number: digits, possibly in groups joined by
 * one space or hyphen, of which some consecutive groups make 12 to 19 digits that pass Luhn.
 * Every run of consecutive groups is tried, so a card number joined to other digits by a
 * separator ("2024-07-01-4545…") is found as well as one split into groups ("4545-4545-…").
 * Identifier fields (an event id, a member id) refuse such text, so a PAN typed into one is
 * never signed and replicated in clear.
 */
export function looksLikeCardNumber(text: string): boolean {
  let groups: string[] = [];
  let digits = '';
  const endRun = (): boolean => {
    if (digits !== '') groups.push(digits);
    const found = runHasCardNumber(groups);
    groups = [];
    digits = '';
    return found;
  };
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x30 && code <= 0x39) {
      digits += text[i];
    } else if (DIGIT_GROUP_SEPARATORS.has(code) && digits !== '' && isDigitCode(text.charCodeAt(i + 1))) {
      groups.push(digits);
      digits = '';
    } else if (endRun()) {
      return true;
    }
  }
  return endRun();
}

function isDigitCode(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Whether some consecutive groups of one run join into 12-19 digits that pass Luhn. */
function runHasCardNumber(groups: readonly string[]): boolean {
  for (let first = 0; first < groups.length; first++) {
    let joined = '';
    for (let last = first; last < groups.length; last++) {
      joined += groups[last];
      if (joined.length > 19) break;
      if (joined.length >= 12 && luhnValid(joined)) return true;
    }
  }
  return false;
}
