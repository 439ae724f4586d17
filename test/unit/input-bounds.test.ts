// Input bounds from the security review (issue 12, point 3): identifier fields refuse card
// numbers, validity windows are bounded at publication, card-testing counts are bounded, an
// out-of-range integer is refused with a message naming the field and the range, and a check
// asks only about selector types some indicator kind uses. Each bad input is INVALID_ARGUMENT
// (MALFORMED_ENTRY in a peer's entry) naming the field, and never echoes a card number.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { luhnValid, looksLikeCardNumber, withLuhnDigit } from '../../proto/ts/normalize';
import { acceptEntry, type AcceptedEntry } from '../../node/src/ledger/acceptance';
import { signNextEntry, ZERO_HASH } from '../../node/src/ledger/entry';
import { LIMITS } from '../../node/src/ledger/limits';
import { validateCardTestingReport, validateCheckSelectors, validatePublication } from '../../node/src/ledger/validate';
import { validateSightingInputs } from '../../node/src/ledger/sightings';
import { validateFraudReportContents, validateFraudReportEnvelope } from '../../node/src/ledger/common-point';
import { validateIssuerNotices } from '../../node/src/ledger/issuer-notices';
import { memberId } from '../../node/src/config/schemas';
import { CardTestingDetector } from '../../node/src/detection/card-testing';
import { AlertFeed } from '../../node/src/detection/alert-feed';
import { LedgerStore } from '../../node/src/store/ledger-store';
import type { Selector__Output } from '../../proto/gen/mamori/v1/Selector';
import { tempDir } from '../helpers/node-harness';
import { cardPublication, cardPublicationOutput, digest, expectMamoriError, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';

/** A Luhn-valid 16-digit number (the review's example is 3569002484648863). */
const PAN = '3569002484648863';
const INT64_MAX = 9223372036854775807; // as grpc-js and protobufjs hand it over (longs: Number): 2^63, not exact
const UINT64_MAX = 18446744073709551615;
const NOW = 1_760_000_000_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

describe('unit: input bounds', () => {
  before(async () => {
    await sodiumReady();
  });

  describe('identifiers refuse what looks like a card number', () => {
    it('finds a Luhn-valid run of 12 to 19 digits, with spaces or hyphens between digits ignored', () => {
      expect(luhnValid(PAN)).to.equal(true);
      for (const text of [
        PAN,
        `evt-${PAN}`,
        `case${PAN}x`,
        '3569-0024-8464-8863',
        '3569 0024 8464 8863',
        `2024-07-01-${PAN}`, // joined to other digits by a hyphen: its own groups still make the card number
        withLuhnDigit('45454512345'), // 12 digits
        withLuhnDigit('454545123456789012'), // 19 digits
      ]) {
        expect(looksLikeCardNumber(text), text).to.equal(true);
      }
    });

    it('leaves identifiers alone: short runs, Luhn failures, 20 or more digits in one run, separators not between digits', () => {
      const luhnBad = `${PAN.slice(0, 15)}${(Number(PAN[15]) + 1) % 10}`;
      expect(luhnValid(luhnBad)).to.equal(false);
      for (const text of ['', 'EVT-2024.07:breach_01', 'case-2024.07:001', withLuhnDigit('4545451234'), luhnBad, `${PAN}0000`, 'issuer-a', `${PAN.slice(0, 8)}--${PAN.slice(8)}`, `${PAN.slice(0, 8)}:${PAN.slice(8)}`]) {
        expect(looksLikeCardNumber(text), text).to.equal(false);
      }
    });

    it('a client\'s publication with a card number as event id: INVALID_ARGUMENT naming publication.eventId, without the number', () => {
      for (const eventId of [PAN, `evt-${PAN}`, '3569-0024-8464-8863']) {
        const error = expectMamoriError(() => validatePublication(cardPublicationOutput({ eventId, validFromMs: NOW, validUntilMs: NOW + DAY }), 'publication', 'request', NOW), 'INVALID_ARGUMENT');
        expect(error.field).to.equal('publication.eventId');
        expect(error.message).to.contain('looks like a card number').and.not.contain('8863');
      }
      // Control: an identifier with digits passes.
      expect(() => validatePublication(cardPublicationOutput({ eventId: 'evt-2024-07-01' }), 'publication')).not.to.throw();
    });

    describe('a peer\'s entry carrying one is MALFORMED_ENTRY', () => {
      let issuer: TestMember;
      let ledger: MemoryLedger;
      beforeEach(() => {
        issuer = makeMember('issuer-a', ['issuer']);
        ledger = new MemoryLedger([issuer]);
      });
      const sign = (operation: Parameters<typeof signNextEntry>[3], origin = issuer.id) => signNextEntry(origin, { seq: 0, hash: ZERO_HASH }, 1, operation, issuer.keys.secretKey);

      it('as the event id of a publication', () => {
        const error = expectMamoriError(() => acceptEntry(sign({ publishIndicators: cardPublication([digest()], { eventId: PAN }) }), ledger), 'MALFORMED_ENTRY');
        expect(error.message).to.contain('publishIndicators.eventId').and.contain('looks like a card number').and.not.contain(PAN);
      });

      it('as the aggregator of a fraud report', () => {
        const error = expectMamoriError(() => acceptEntry(sign({ fraudReport: { aggregator: PAN, sealed: Buffer.alloc(100) } }), ledger), 'MALFORMED_ENTRY');
        expect(error.message).to.contain('fraudReport.aggregator').and.contain('looks like a card number').and.not.contain(PAN);
      });

      it('as the origin: refused as malformed before NOT_A_MEMBER, whose message would name it', () => {
        const error = expectMamoriError(() => acceptEntry(sign({ publishIndicators: cardPublication() }, '3569-0024-8464-8863'), ledger), 'MALFORMED_ENTRY');
        expect(error.message).to.contain('origin').and.contain('looks like a card number').and.not.contain('8863');
      });

      it('as the issuer of an issuer notice', () => {
        const notice = { issuer: PAN, tag: Buffer.alloc(0), sealed: Buffer.alloc(52) };
        const error = expectMamoriError(() => validateIssuerNotices([notice], 'INDICATOR_KIND_COMPROMISED_CARD', 1, 'publishIndicators.issuerNotices'), 'INVALID_ARGUMENT');
        expect(error.field).to.equal('publishIndicators.issuerNotices[0].issuer');
        expect(error.message).to.contain('looks like a card number').and.not.contain(PAN);
      });
    });

    it('the fraud-report envelope (checked for a client\'s report too) and member ids in config files', () => {
      const error = expectMamoriError(() => validateFraudReportEnvelope({ aggregator: PAN, sealed: Buffer.alloc(100) }, 'report'), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('report.aggregator');
      expect(memberId.safeParse('3569-0024-8464-8863').success).to.equal(false);
      expect(memberId.safeParse('3569002484648863').success).to.equal(false);
      expect(memberId.safeParse('issuer-a').success).to.equal(true);
    });
  });

  describe('validity at publication', () => {
    const request = (validFromMs: number, validUntilMs: number) => () =>
      validatePublication(cardPublicationOutput({ validFromMs, validUntilMs }), 'publication', 'request', NOW);

    it('starts at most 5 minutes after now', () => {
      expect(request(NOW + 5 * MINUTE, NOW + DAY)).not.to.throw();
      const error = expectMamoriError(request(NOW + 5 * MINUTE + 1, NOW + DAY), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('publication.validFromMs');
      expect(error.message).to.contain('5 minutes after now');
      // The review's case: a start in the year 3000.
      expect(expectMamoriError(request(32_503_680_000_000, 32_503_680_000_001), 'INVALID_ARGUMENT').field).to.equal('publication.validFromMs');
    });

    it('ends at most 10 years after now', () => {
      expect(request(NOW, NOW + LIMITS.maxValidUntilAheadMs)).not.to.throw();
      const error = expectMamoriError(request(NOW, NOW + LIMITS.maxValidUntilAheadMs + 1), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('publication.validUntilMs');
      expect(error.message).to.contain('10 years');
      // The review's case: an end in the year ~287,000 (2^53 - 1).
      expect(expectMamoriError(request(NOW, Number.MAX_SAFE_INTEGER), 'INVALID_ARGUMENT').message).to.contain('10 years');
    });

    it('is not already past when it is published', () => {
      const error = expectMamoriError(request(0, NOW), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('publication.validUntilMs');
      expect(error.message).to.contain('already past');
      // The review's case: a listing that expired in 1970.
      expect(expectMamoriError(request(0, 1), 'INVALID_ARGUMENT').message).to.contain('already past');
      expect(request(NOW - DAY, NOW + 1)).not.to.throw();
    });

    it('an int64-max time is refused naming the field and the range, not "must be later than validFromMs"', () => {
      const until = expectMamoriError(request(NOW, INT64_MAX), 'INVALID_ARGUMENT');
      expect(until.field).to.equal('publication.validUntilMs');
      expect(until.message).to.contain(`from 0 to ${Number.MAX_SAFE_INTEGER}`).and.not.contain('later than');
      const from = expectMamoriError(request(INT64_MAX, INT64_MAX), 'INVALID_ARGUMENT');
      expect(from.field).to.equal('publication.validFromMs');
      expect(from.message).to.contain(`from 0 to ${Number.MAX_SAFE_INTEGER}`);
      const negative = expectMamoriError(request(-1, NOW + DAY), 'INVALID_ARGUMENT');
      expect(negative.message).to.contain(`from 0 to ${Number.MAX_SAFE_INTEGER}`);
    });

    it('a peer\'s entry is bounded by its own createdAtMs (the same answer at every node and time)', () => {
      const issuer = makeMember('issuer-a', ['issuer']);
      const ledger = new MemoryLedger([issuer]);
      const createdAtMs = NOW;
      const sign = (validFromMs: number, validUntilMs: number) =>
        signNextEntry(issuer.id, { seq: 0, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication([digest()], { validFromMs, validUntilMs }) }, issuer.keys.secretKey, createdAtMs);
      expect(expectMamoriError(() => acceptEntry(sign(NOW, Number.MAX_SAFE_INTEGER), ledger), 'MALFORMED_ENTRY').message).to.contain('publishIndicators.validUntilMs');
      expect(expectMamoriError(() => acceptEntry(sign(NOW + DAY, NOW + 2 * DAY), ledger), 'MALFORMED_ENTRY').message).to.contain('publishIndicators.validFromMs');
      // An entry's listing that ended before it was created is stored (it never matches): only a client's request is refused for it.
      expect(() => acceptEntry(sign(1, 2), ledger)).not.to.throw();
    });
  });

  describe('card-testing reports', () => {
    const base = { bin: '454545', bucketStartMs: 600_000 * 2_900_000, bucketMinutes: 10, attempts: 10, declines: 9 };
    const report = (change: Partial<typeof base>) => () => validateCardTestingReport({ ...base, ...change }, 'report');

    it('bounds attempts (the review sent 2^32 - 1) and declines', () => {
      expect(report({ attempts: LIMITS.maxCardTestingAttempts, declines: LIMITS.maxCardTestingAttempts })).not.to.throw();
      for (const attempts of [LIMITS.maxCardTestingAttempts + 1, 2 ** 32 - 1, 0]) {
        const error = expectMamoriError(report({ attempts, declines: 0 }), 'INVALID_ARGUMENT');
        expect(error.field).to.equal('report.attempts');
        expect(error.message).to.contain(`from 1 to ${LIMITS.maxCardTestingAttempts}`);
      }
      const declines = expectMamoriError(report({ declines: 11 }), 'INVALID_ARGUMENT');
      expect(declines.field).to.equal('report.declines');
      expect(declines.message).to.contain('from 0 to attempts (10)');
    });

    it('an int64-max bucket start names the field and the range', () => {
      const error = expectMamoriError(report({ bucketStartMs: INT64_MAX }), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('report.bucketStartMs');
      expect(error.message).to.contain(`from 1 to ${Number.MAX_SAFE_INTEGER}`);
    });
  });

  describe('out-of-range integers elsewhere name the field and the range', () => {
    it('a sighting seen at int64 max', () => {
      const selector = { type: 'SELECTOR_TYPE_PAN' as const, digest: digest() };
      const error = expectMamoriError(() => validateSightingInputs([{ selector, outcome: 'SIGHTING_OUTCOME_TRUE_POSITIVE', seenAtMs: INT64_MAX }], NOW, 'sightings'), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('sightings[0].seenAtMs');
      expect(error.message).to.contain(`from 0 to ${Number.MAX_SAFE_INTEGER}`).and.not.contain('2020');
    });

    it('a fraud report\'s active cards at uint64 max', () => {
      const merchant = { type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const, digest: digest() };
      const contents = { windowStartMs: NOW - DAY, windowEndMs: NOW, cards: [{ card: digest(), merchants: [merchant] }], volumes: [{ merchant, cards: 1 }], activeCards: UINT64_MAX };
      const error = expectMamoriError(() => validateFraudReportContents(contents, 'contents'), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('contents.activeCards');
      expect(error.message).to.contain(`to ${Number.MAX_SAFE_INTEGER}`);
    });
  });

  it('a check refuses a selector type no indicator kind uses (SELECTOR_TYPE_BIN), and takes PAN and merchant types', () => {
    const selectors = (type: string): Selector__Output[] => [{ type, digest: digest() } as Selector__Output];
    const error = expectMamoriError(() => validateCheckSelectors(selectors('SELECTOR_TYPE_BIN'), 'selectors', 10), 'INVALID_ARGUMENT');
    expect(error.field).to.equal('selectors[0].type');
    for (const type of ['SELECTOR_TYPE_PAN', 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID']) {
      expect(() => validateCheckSelectors(selectors(type), 'selectors', 10), type).not.to.throw();
    }
  });
});

class Commits extends EventEmitter<{ committed: [entries: readonly AcceptedEntry[]] }> {}

describe('unit: card-testing detector threshold (k distinct reporters)', () => {
  const K = 3;
  const WINDOW_MINUTES = 60;
  let reporters: TestMember[];
  let ledger: MemoryLedger;
  let store: LedgerStore;
  let feed: AlertFeed;
  let commits: Commits;
  const bucketStartMs = Math.floor(Date.now() / (WINDOW_MINUTES * MINUTE)) * WINDOW_MINUTES * MINUTE;

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    reporters = Array.from({ length: K + 1 }, (_, i) => makeMember(`psp-${i + 1}`, ['psp']));
    ledger = new MemoryLedger(reporters);
    store = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
    feed = new AlertFeed(store.db, 'issuer-a');
    commits = new Commits();
    new CardTestingDetector(feed, 'issuer-a', () => ['45454500'], { k: K, windowMinutes: WINDOW_MINUTES }, pino({ level: 'silent' })).attach(commits);
  });
  afterEach(() => store.close());

  /** One member's report, accepted, stored and committed as a node's writer does. */
  const report = (m: TestMember, bin = '45454512', minutesIn = 0): void => {
    const op = { cardTestingReport: { bin, bucketStartMs: bucketStartMs + minutesIn * MINUTE, bucketMinutes: 10, attempts: 50, declines: 48 } };
    const entry = ledger.accept(signNextEntry(m.id, ledger.head(m.id), 1, op, m.keys.secretKey));
    store.append(entry);
    commits.emit('committed', [entry]);
  };
  const alerts = () => feed.after(0, 10);

  it('k - 1 reporters raise no alert, however often they report; the k-th raises exactly one', () => {
    for (const m of reporters.slice(0, K - 1)) {
      report(m);
      report(m, '45454512', 10);
    }
    expect(alerts(), `${K - 1} reporters`).to.have.length(0);
    report(reporters[K - 1] as TestMember, '45454599', 20);
    const raised = alerts();
    expect(raised, `${K} reporters`).to.have.length(1);
    expect(raised[0]?.payload).to.include({ bin: '454545', reportingMembers: K, windowStartMs: bucketStartMs });
    // A (k+1)-th reporter in the same window adds no second alert: (BIN, window) is its key.
    report(reporters[K] as TestMember);
    expect(alerts()).to.have.length(1);
  });

  it('k reporters of a BIN range this member does not own, or spread over two windows, raise none', () => {
    for (const m of reporters.slice(0, K)) report(m, '52000012');
    expect(alerts()).to.have.length(0);
    reporters.slice(0, K - 1).forEach((m) => report(m));
    report(reporters[K - 1] as TestMember, '45454512', WINDOW_MINUTES);
    expect(alerts()).to.have.length(0);
  });
});
