// Shared fixtures for the unit tests: members with real Ed25519 keys, an in-memory feed
// head table, publication builders and an assertion for MamoriError codes.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { generateSigningKeyPair, type SigningKeyPair } from '../../node/src/crypto/signing';
import { acceptEntry, type AcceptanceContext, type AcceptedEntry } from '../../node/src/ledger/acceptance';
import { type FeedHead, ZERO_HASH } from '../../node/src/ledger/entry';
import { type ErrorCode, MamoriError } from '../../node/src/ledger/errors';
import type { Role } from '../../node/src/ledger/roles';
import type { PublishIndicators } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { PublishIndicators__Output } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { SelectorType__Output } from '../../proto/gen/mamori/v1/SelectorType';

export interface TestMember {
  id: string;
  roles: Role[];
  keys: SigningKeyPair;
}

/** Requires sodiumReady() to have completed. */
export function makeMember(id: string, roles: Role[]): TestMember {
  return { id, roles, keys: generateSigningKeyPair() };
}

/** An in-memory view of the consortium and of each feed's head, advanced on acceptance. */
export class MemoryLedger implements AcceptanceContext {
  private readonly members = new Map<string, TestMember>();
  private readonly heads = new Map<string, FeedHead>();

  constructor(members: TestMember[]) {
    for (const m of members) this.members.set(m.id, m);
  }

  member(origin: string) {
    const m = this.members.get(origin);
    return m ? { roles: m.roles, signingPublicKey: m.keys.publicKey } : undefined;
  }

  head(origin: string): FeedHead {
    return this.heads.get(origin) ?? { seq: 0, hash: ZERO_HASH };
  }

  /** acceptEntry, then advance the head as a store would. */
  accept(entry: { body: Uint8Array; signature: Uint8Array }): AcceptedEntry {
    const accepted = acceptEntry(entry, this);
    this.heads.set(accepted.origin, { seq: accepted.seq, hash: accepted.hash });
    return accepted;
  }
}

export const digest = (bytes = 32): Buffer => randomBytes(bytes);

export const VALID_FROM_MS = 1_700_000_000_000;
export const VALID_UNTIL_MS = VALID_FROM_MS + 90 * 24 * 3600 * 1000;

/** A compromised-card publication (wire input form) with one PAN selector per digest. */
export function cardPublication(digests: Buffer[] = [digest()], overrides: Partial<PublishIndicators> = {}): PublishIndicators {
  return {
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason: 'REASON_CODE_PHISHING',
    exposed: ['DATA_ELEMENT_PAN'],
    confidence: 80,
    validFromMs: VALID_FROM_MS,
    validUntilMs: VALID_UNTIL_MS,
    eventId: '',
    indicators: digests.map((d) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }], bin: '' })),
    ...overrides,
  };
}

/** A fraudulent-merchant publication (wire input form) with merchant selectors. */
export function merchantPublication(overrides: Partial<PublishIndicators> = {}): PublishIndicators {
  return {
    kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
    reason: 'REASON_CODE_LAUNDERING',
    exposed: [],
    confidence: 90,
    validFromMs: VALID_FROM_MS,
    validUntilMs: VALID_UNTIL_MS,
    eventId: 'case-2024.07:001',
    indicators: [
      {
        selectors: [
          { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: digest() },
          { type: 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', digest: digest() },
        ],
        bin: '',
      },
    ],
    ...overrides,
  };
}

/** The decoded (__Output) form that validatePublication takes. */
export function cardPublicationOutput(
  overrides: Partial<PublishIndicators__Output> = {},
  selectors: { type: SelectorType__Output; digest: Buffer }[][] = [[{ type: 'SELECTOR_TYPE_PAN', digest: digest() }]],
): PublishIndicators__Output {
  return {
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason: 'REASON_CODE_PHISHING',
    exposed: ['DATA_ELEMENT_PAN'],
    confidence: 80,
    validFromMs: VALID_FROM_MS,
    validUntilMs: VALID_UNTIL_MS,
    eventId: '',
    indicators: selectors.map((s) => ({ selectors: s, bin: '' })),
    issuerNotices: [],
    ...overrides,
  };
}

/** Runs fn, expects a MamoriError with this code, and returns it for further checks. */
export function expectMamoriError(fn: () => unknown, code: ErrorCode): MamoriError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a MamoriError ${code}, nothing was thrown`).to.be.instanceOf(MamoriError);
  const error = thrown as MamoriError;
  expect(error.code, `wrong code; message: ${error.message}`).to.equal(code);
  return error;
}
