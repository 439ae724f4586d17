// The client an authorization pipeline (and a member's tooling) uses to reach its own node.
// Card numbers are normalized and hashed in this process; only selectors leave it. A check
// answers within its deadline, from the in-process mirror, the node, or the fail mode.
import { normalizePan } from '../../proto/ts/normalize';
import { panSelector, panSelectorView } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckRequest } from '../../proto/gen/mamori/v1/CheckRequest';
import type { GetHashingKeysResponse__Output } from '../../proto/gen/mamori/v1/GetHashingKeysResponse';
import type { PublishResponse__Output } from '../../proto/gen/mamori/v1/PublishResponse';
import type { RetractResponse__Output } from '../../proto/gen/mamori/v1/RetractResponse';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { CheckBatcher, type PanSelector } from './batcher';
import { publishablePan, publishedCard, TEST_CARD_REASON } from './card-numbers';
import { routingBin } from '../../proto/ts/routing-bin';
import { configToOptions, readClientConfig } from './config';
import { RETRACT_REASONS, type CardListingDetails, type RetractReasonName } from './details';
import { withDeadline } from './deadline';
import { asClientError, MamoriClientError } from './errors';
import { KeyRing, type HashingKey, type LoadedKeys } from './keys';
import { FilterMirror } from './mirror';
import type { MirrorVerdicts } from './mirror-verdicts';
import { packSelectors, unpackResults } from './packed-check';
import { parseOptions, type ClientOptions, type ResolvedOptions } from './options';
import { ACTIONS, type Action } from './policy';
import { cardPublication } from './publication';
import { fallbackResult, mergeEvidence, NO_SIGHTINGS, type CardCheckResult, type CheckSource, type Evidence, type SightingCounts } from './results';
import { mergeCorroboration, prepareSightings, sightingsRequest } from './sightings';
import type { ReportSightingsResponse__Output } from '../../proto/gen/mamori/v1/ReportSightingsResponse';
import type { CardSighting, MerchantFields, MerchantScreenResult, SightingReceipt } from './screening';
import { merchantSelectors, type MerchantSelector } from '../../proto/ts/merchant';
import { merchantMatches, merchantPublication, merchantsPublication, type MerchantListingDetails } from './merchants';
import { ClientCounters, type ClientStats, type SdkStatus } from './stats';
import { Transport, type UnaryMethod } from './transport';
import { CheckStreamChannel } from './check-stream';
import { evaluationStream, type EvaluationStream } from './evaluation-stream';
import { alertStream, cardTestingRequest, type AlertsOptions, type CardTestingReportInput, type MamoriAlert } from './alerts';
import type { Alert__Output } from '../../proto/gen/mamori/v1/Alert';
import type { WatchMerchantsResponse__Output } from '../../proto/gen/mamori/v1/WatchMerchantsResponse';
import { fraudReportContents, type FraudReportInput } from './common-point';
import type { EvaluatePanSelectorsResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatePanSelectorsRequest } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsRequest';
import { ObliviousSelectors, type PanSelectorOptions, type PreEvaluateOptions, type PreEvaluateResult } from './oblivious-selectors';

export { cardPublication } from './publication';
export { MAX_BATCH } from './options';
export type { ClientOptions } from './options';
export type { HashingKey } from './keys';

export interface CheckOptions {
  /** This call's budget in ms, instead of the client's deadlineMs. */
  deadlineMs?: number;
  /** Handed to the policy as context.transaction (amount, channel, MCC, …). */
  transaction?: Readonly<Record<string, unknown>>;
}

/** The node's status, plus this client's own: mode, mirror, counters. */
export type ClientStatus = StatusResponse__Output & { sdk: SdkStatus };

/**
 * The consortium's PAN-selector phase, as the node says with the hashing keys
 * (docs/oprf.md#migration): which selectors a publication carries and a check asks about.
 */
export type PanSelectorPhase = 'keyed' | 'dual' | 'oblivious';
const PHASES: readonly string[] = ['keyed', 'dual', 'oblivious'];

export class MamoriClient {
  readonly options: ResolvedOptions;
  private readonly transport: Transport;
  private readonly keyRing: KeyRing;
  private readonly batcher: CheckBatcher;
  /** The Check requests' stream (checkTransport 'stream'). */
  private readonly checkStream: CheckStreamChannel | undefined;
  private readonly evaluationStream: EvaluationStream | undefined;
  private readonly mirror: FilterMirror | undefined;
  /** The mirror's answers on cached oblivious selectors, in their cache slots (mirror mode only). */
  private readonly verdicts: MirrorVerdicts | undefined;
  private readonly counters = new ClientCounters();
  private readonly oblivious: ObliviousSelectors;
  private phase: PanSelectorPhase = 'keyed';
  /** The node answers packed checks (learned with the keys; older nodes take the repeated form only). */
  private packedChecks = false;
  private closed = false;

  private constructor(options: ResolvedOptions) {
    this.options = options;
    this.transport = new Transport(options);
    this.keyRing = new KeyRing(() => this.loadKeys());
    this.batcher = new CheckBatcher((selectors, deadline) => this.sendCheck(selectors, deadline), options.batch);
    if (options.checkTransport === 'stream') {
      this.checkStream = new CheckStreamChannel(this.transport, (request, deadline) => this.transport.unary<CheckResponse__Output>('Check', request, deadline), options.reconnect);
    }
    const unaryEvaluation = (request: EvaluatePanSelectorsRequest, deadline: number) => this.transport.unary<EvaluatePanSelectorsResponse__Output>('EvaluatePanSelectors', request, deadline);
    if (options.selectors.transport === 'stream') this.evaluationStream = evaluationStream(this.transport, unaryEvaluation, options.reconnect);
    this.oblivious = new ObliviousSelectors(
      (request, deadline) =>
        this.closed ? Promise.reject(MamoriClientError.closed()) : this.evaluationStream ? this.evaluationStream.send(request, deadline) : unaryEvaluation(request, deadline),
      { ...options.selectors, cacheKey: options.selectors.cacheKey, adminDeadlineMs: options.adminDeadlineMs, log: options.log, countInvalid: () => void this.counters.invalid++ },
    );
    if (options.mode === 'mirror') {
      // Started at once so that it is warm by the first authorization.
      this.mirror = FilterMirror.start({ target: options.target, token: options.token, credentials: options.credentials, log: options.log });
      this.verdicts = this.oblivious.verdictsFrom(this.mirror);
    }
  }

  static connect(options: ClientOptions): MamoriClient {
    return new MamoriClient(parseOptions(options));
  }

  /** Connects with a client.json (as `mamori dev-consortium` writes it); `overrides` win over the file. */
  static fromConfigFile(file: string, overrides: Partial<ClientOptions> = {}): MamoriClient {
    return MamoriClient.connect({ ...configToOptions(readClientConfig(file), file), ...overrides });
  }

  /** Budget of a check in ms. */
  get deadlineMs(): number {
    return this.options.deadlineMs;
  }

  /** Normalizes and hashes a PAN under one key; throws INVALID_PAN with a reason that never contains the number. */
  static panDigest(pan: string, key: Uint8Array): Buffer {
    const normalized = normalizePan(pan);
    if (!normalized.ok) throw MamoriClientError.invalidPan(normalized.reason);
    return panSelector(key, normalized.digits);
  }

  async checkCard(pan: string, options: CheckOptions = {}): Promise<CardCheckResult> {
    // The common case (keys loaded) skips the arrays of checkCards: in mirror mode this path
    // runs on every authorization and is counted in microseconds.
    // One clock read for the whole check (key epochs, the mirror's staleness, the policy's
    // nowMs): on this path each read is a measurable share of the check.
    const now = Date.now();
    const keys = this.keyRing.current(now);
    if (!keys || this.closed) return (await this.checkCards([pan], options))[0] as CardCheckResult;
    const budget = this.budgetOf(options);
    const normalized = typeof pan === 'string' ? normalizePan(pan) : undefined;
    if (!normalized?.ok) return (await this.checkCards([pan], options))[0] as CardCheckResult;
    const digits = normalized.digits;
    let oblivious: Buffer | undefined;
    if (this.phase !== 'keyed') {
      const slot = this.oblivious.cachedSlot(digits);
      // A first-seen card: one evaluation round (coalesced with concurrent callers'), then as cached.
      if (slot < 0) return (await this.checkCards([pan], options))[0] as CardCheckResult;
      // The mirror's verdict kept in the card's slot: a negative reads that slot and nothing else.
      if (this.phase === 'oblivious' && this.verdicts?.mayContain(slot, now) === false) {
        this.counters.checks++;
        this.counters.mirrorUsable(this.options.log);
        return this.answer([], 'mirror', options.transaction, undefined, now);
      }
      // A view of the cache's bytes: the mirror reads it at once, with no allocation.
      oblivious = this.oblivious.selectorAt(slot);
    }
    this.counters.checks++;
    if (this.mirrorSaysNotListed(digits, keys, oblivious, now)) return this.answer([], 'mirror', options.transaction, undefined, now);
    const local = this.cardSelectors(digits, keys, oblivious);
    // The node is asked later (batched): the view is only valid until the cache's next insertion.
    for (const s of local) if (s.digest === oblivious) s.digest = Buffer.from(s.digest);
    return (await this.askNode([local], Date.now() + budget, budget, options.transaction))[0] as CardCheckResult;
  }

  /**
   * True when the mirror is certain that none of the card's selectors is listed. The digests
   * are looked up as views (libsodium's output, the cache's bytes): a negative check copies
   * and allocates nothing.
   */
  private mirrorSaysNotListed(digits: string, keys: readonly HashingKey[], oblivious: Buffer | undefined, now: number): boolean {
    const mirror = this.mirror;
    if (!mirror) return false;
    let may: boolean | undefined = false;
    if (oblivious && this.phase !== 'keyed') may = mirror.mayContain(oblivious, now);
    if (this.phase !== 'oblivious') for (let i = 0; may === false && i < keys.length; i++) may = mirror.mayContain(panSelectorView((keys[i] as HashingKey).key, digits), now);
    if (may === undefined) {
      this.counters.mirrorUnusable(this.options.log, () => mirror.status().reason);
      return false;
    }
    this.counters.mirrorUsable(this.options.log);
    return !may;
  }

  /**
   * Checks cards under every active key epoch. Malformed numbers throw INVALID_PAN before any
   * I/O. If the node does not answer in time or is unreachable, the fail mode answers
   * (`degraded: true`); other errors throw.
   */
  async checkCards(pans: readonly string[], options: CheckOptions = {}): Promise<CardCheckResult[]> {
    if (this.closed) throw MamoriClientError.closed();
    const budget = this.budgetOf(options);
    const deadline = Date.now() + budget;
    const digits = this.normalizeAll(pans);
    if (digits.length === 0) return [];
    this.counters.checks += digits.length;

    let keys = this.keyRing.current();
    if (!keys) {
      try {
        keys = await withDeadline(this.keyRing.fetch(), deadline, budget);
      } catch (error) {
        return digits.map(() => this.degraded(error));
      }
    }

    const results = new Array<CardCheckResult>(digits.length);
    let oblivious: (Buffer | undefined)[] = [];
    if (this.phase !== 'keyed') {
      // Oblivious selectors: cached ones at once, the others in one coalesced evaluation round.
      // An evaluation that fails (timeout, fewer than t evaluators) answers with the fail mode,
      // as a node that does not answer does.
      oblivious = digits.map((d) => this.oblivious.cached(d));
      const missing = digits.filter((_d, i) => oblivious[i] === undefined);
      if (missing.length > 0) {
        try {
          const evaluated = await this.oblivious.selectorsOfDigits(missing, deadline, budget);
          let j = 0;
          oblivious = oblivious.map((s) => s ?? evaluated[j++]);
        } catch (error) {
          const fallback = this.degraded(error);
          oblivious.forEach((s, i) => {
            if (s === undefined) results[i] = fallback;
          });
        }
      }
    }
    const toNode: number[] = [];
    const selectors: PanSelector[][] = [];
    for (let i = 0; i < digits.length; i++) {
      if (results[i]) continue;
      const local = this.fromMirror(this.cardSelectors(digits[i] as string, keys, oblivious[i]), options.transaction);
      if (Array.isArray(local)) {
        toNode.push(i);
        selectors.push(local);
      } else {
        results[i] = local;
      }
    }
    if (toNode.length > 0) {
      const answers = await this.askNode(selectors, deadline, budget, options.transaction);
      toNode.forEach((card, j) => (results[card] = answers[j] as CardCheckResult));
    }
    return results;
  }

  /** One answer per card from the node (through the batcher), or the fail mode's. */
  private async askNode(cards: PanSelector[][], deadline: number, budget: number, transaction: CheckOptions['transaction']): Promise<CardCheckResult[]> {
    const flat = cards.length === 1 ? (cards[0] as PanSelector[]) : cards.flat();
    try {
      const answers = await this.batcher.check(flat, deadline, budget);
      this.counters.recovered(this.options.log);
      let offset = 0;
      return cards.map((selectors) => {
        const mine = answers.slice(offset, (offset += selectors.length));
        return this.answer(mergeEvidence(mine), 'node', transaction, mergeCorroboration(mine));
      });
    } catch (error) {
      return cards.map(() => this.degraded(error));
    }
  }

  /**
   * Normalizes and hashes a merchant's fields; a field that does not normalize is refused by name.
   * 'publish': each field at its newest normalization version; 'lookup' (checks, screening,
   * retraction, watching): also the older versions, so listings made before a normalization
   * change keep matching until they expire.
   */
  private async merchantSelectors(fields: MerchantFields, keys: readonly HashingKey[], purpose: 'publish' | 'lookup'): Promise<MerchantSelector[]> {
    return this.merchantSelectorsUnder(fields, keys, purpose);
  }

  private merchantSelectorsUnder(fields: MerchantFields, keys: readonly HashingKey[], purpose: 'publish' | 'lookup'): MerchantSelector[] {
    const all: MerchantSelector[] = [];
    for (const key of keys) {
      const { selectors, rejected } = merchantSelectors(key.key, fields, { purpose });
      if (rejected.length > 0) {
        throw new MamoriClientError('INVALID_ARGUMENT', rejected.map((r) => `${r.field}: ${r.reason}`).join('; '));
      }
      all.push(...selectors);
    }
    if (all.length === 0) throw new MamoriClientError('INVALID_ARGUMENT', 'fields: give at least one merchant field');
    return all;
  }

  /**
   * Screens a merchant (at onboarding, or the merchant of an authorization) against every
   * acquirer's listings: which listings matched, on which fields, for what reasons.
   */
  async screenMerchant(fields: MerchantFields): Promise<MerchantScreenResult> {
    const selectors = await this.merchantSelectors(fields, await this.hashingKeys(), 'lookup');
    const response = await this.admin<CheckResponse__Output>('Check', { selectors: selectors.map((s) => ({ type: s.type, digest: s.digest })) });
    const { matches, evidence } = merchantMatches(selectors, response.results);
    const matched = [...new Set(matches.flatMap((m) => m.fields))];
    const action: Action = matches.length >= 2 ? 'decline' : matches.length === 1 ? 'review' : 'approve';
    return { listed: matches.length > 0, action, listingMembers: matches.length, matches, evidence, matched, source: 'node', degraded: false };
  }

  /** Lists a merchant this acquirer terminated (only acquirers may), one indicator with every field given. */
  async publishFraudulentMerchant(fields: MerchantFields, details: MerchantListingDetails): Promise<PublishResponse__Output> {
    const [key] = await this.hashingKeys();
    if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
    const selectors = await this.merchantSelectors(fields, [key], 'publish');
    return this.admin<PublishResponse__Output>('Publish', { publication: merchantPublication(selectors, details), keyEpoch: key.epoch });
  }

  /**
   * Lists many terminated merchants (only acquirers may) as one signed entry, one indicator per
   * merchant; at most the node's indicators-per-entry limit (10,000) per call. A field that does
   * not normalize is refused by index and name before anything is sent.
   */
  async publishFraudulentMerchants(merchants: readonly MerchantFields[], details: MerchantListingDetails): Promise<PublishResponse__Output> {
    if (merchants.length === 0) throw new MamoriClientError('INVALID_ARGUMENT', 'merchants: give at least one merchant');
    const [key] = await this.hashingKeys();
    if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
    const lists = merchants.map((fields, i) => {
      const { selectors, rejected } = merchantSelectors(key.key, fields);
      if (rejected.length > 0) throw new MamoriClientError('INVALID_ARGUMENT', rejected.map((r) => `merchants[${i}].${r.field}: ${r.reason}`).join('; '));
      if (selectors.length === 0) throw new MamoriClientError('INVALID_ARGUMENT', `merchants[${i}]: give at least one merchant field`);
      return selectors;
    });
    return this.admin<PublishResponse__Output>('Publish', { publication: merchantsPublication(lists, details), keyEpoch: key.epoch });
  }

  /** Ends this acquirer's listing of a merchant (only the listing acquirer can). */
  async retractMerchant(fields: MerchantFields, reason: RetractReasonName): Promise<RetractResponse__Output> {
    const selectors = await this.merchantSelectors(fields, await this.hashingKeys(), 'lookup');
    return this.admin<RetractResponse__Output>('Retract', {
      kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
      selectors: selectors.map((s) => ({ type: s.type, digest: s.digest })),
      reason: RETRACT_REASONS[reason],
    });
  }

  /** Reports a card-testing burst against a BIN range (acquirers and PSPs only) as one signed entry. */
  async reportCardTesting(report: CardTestingReportInput): Promise<PublishResponse__Output> {
    const request = await cardTestingRequest(report, async (fields) => {
      const [key] = await this.hashingKeys();
      if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
      return this.merchantSelectors(fields, [key], 'publish');
    });
    return this.admin<PublishResponse__Output>('ReportCardTesting', request);
  }

  /**
   * Reports confirmed-fraud cards and the merchants they used (issuers only) for common-point
   * analysis. Cards and merchants are hashed here; the node seals the report to the
   * consortium's aggregator, so no other member can read it.
   */
  async reportFraud(report: FraudReportInput): Promise<PublishResponse__Output> {
    const [key] = await this.hashingKeys();
    if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
    // A card's digest only counts it once at the aggregator. Under "dual" and "oblivious" it is
    // the card's oblivious selector, so the aggregator, which holds the hashing key, cannot
    // brute-force the reported cards (docs/security.md).
    let oblivious: Map<string, Buffer> | undefined;
    if (this.phase !== 'keyed' && Array.isArray(report?.cards)) {
      const digits = this.normalizeAll(report.cards.map((c) => c?.pan), true);
      const selectors = await this.oblivious.selectorsOfDigits(digits, Date.now() + this.options.adminDeadlineMs, this.options.adminDeadlineMs);
      oblivious = new Map(digits.map((d, i) => [d, selectors[i] as Buffer]));
    }
    const contents = fraudReportContents(report, {
      normalizePans: (pans) => this.normalizeAll(pans, true),
      panDigest: (digits) => oblivious?.get(digits) ?? panSelector(key.key, digits),
      merchantSelectors: (fields) => this.merchantSelectorsUnder(fields, [key], 'publish'),
    });
    return this.admin<PublishResponse__Output>('ReportFraud', { contents, keyEpoch: key.epoch });
  }

  /** Adds merchants to this member's watch list: common-point flags and other acquirers' listings of them raise alerts. */
  async watchMerchants(merchants: readonly MerchantFields[]): Promise<{ watched: number }> {
    return this.changeWatchList(merchants, false);
  }

  /** Removes merchants from this member's watch list. */
  async unwatchMerchants(merchants: readonly MerchantFields[]): Promise<{ watched: number }> {
    return this.changeWatchList(merchants, true);
  }

  private async changeWatchList(merchants: readonly MerchantFields[], remove: boolean): Promise<{ watched: number }> {
    if (!Array.isArray(merchants) || merchants.length === 0) throw new MamoriClientError('INVALID_ARGUMENT', 'merchants: give at least one merchant');
    // Every active epoch: during a rotation, flags and listings may come under either key.
    const keys = await this.hashingKeys();
    const selectors = new Map<string, { type: string; digest: Buffer }>();
    for (const fields of merchants) for (const s of this.merchantSelectorsUnder(fields, keys, 'lookup')) selectors.set(s.digest.toString('latin1'), { type: s.type, digest: s.digest });
    const response = await this.admin<WatchMerchantsResponse__Output>('WatchMerchants', { merchants: [...selectors.values()], remove, keyEpoch: keys[0]?.epoch ?? 0 });
    return { watched: response.watched };
  }

  /**
   * This member's alerts in id order, after `options.after`; with `follow`, new ones as they
   * come, reconnecting after a node restart from the last id yielded (none missed, none repeated).
   */
  alerts(options: AlertsOptions = {}): AsyncGenerator<MamoriAlert, void, undefined> {
    return alertStream((request) => this.transport.serverStream<Alert__Output>('Alerts', request), options, () => this.closed);
  }

  /**
   * Reports what this member saw of a card after a check: seen in traffic, a true positive
   * (fraud confirmed) or a false positive (the cardholder's own use). Signed into this
   * member's feed; every member's checks of the card then weigh it in the score.
   */
  async reportSighting(sighting: CardSighting): Promise<SightingReceipt> {
    return this.reportSightings([sighting]);
  }

  /**
   * Reports several sightings as one signed entry. Each PAN is hashed here under the newest
   * key; its BIN goes to this member's own node only (which marks the sighting as the card
   * issuer's when the BIN is in this member's ranges). Invalid numbers throw INVALID_PAN
   * before anything is sent.
   */
  async reportSightings(sightings: readonly CardSighting[]): Promise<SightingReceipt> {
    if (!Array.isArray(sightings)) throw new MamoriClientError('INVALID_ARGUMENT', 'sightings: expected an array');
    const digits = this.normalizeAll(sightings.map((s) => s?.pan));
    const prepared = prepareSightings(sightings);
    const [key] = await this.hashingKeys();
    const oblivious = this.phase === 'keyed' ? undefined : await this.oblivious.selectorsOfDigits(digits, Date.now() + this.options.adminDeadlineMs, this.options.adminDeadlineMs);
    const response = await this.admin<ReportSightingsResponse__Output>('ReportSightings', sightingsRequest(prepared, digits, key, oblivious));
    return { recorded: response.recorded, seq: response.seq };
  }

  /** Active hashing keys from the member's own node, newest first; held in memory only. */
  async hashingKeys(refresh = false): Promise<HashingKey[]> {
    return (!refresh && this.keyRing.current()) || this.keyRing.fetch();
  }

  /**
   * Publishes already-hashed PAN selectors (bulk import); digests must be hashed under keyEpoch.
   * `bins` (optional, one per digest): each card's routing BIN, so its issuer is alerted.
   */
  async publishPanDigests(digests: readonly Buffer[], details: CardListingDetails, keyEpoch: number, bins?: readonly string[]): Promise<PublishResponse__Output> {
    return this.admin<PublishResponse__Output>('Publish', { publication: cardPublication(digests, details, Date.now(), bins), keyEpoch });
  }

  /** Publishes compromised cards: refuses invalid and public test numbers before anything is sent. */
  async publishCompromisedCards(pans: readonly string[], details: CardListingDetails): Promise<PublishResponse__Output> {
    if (!Array.isArray(pans)) throw new MamoriClientError('INVALID_ARGUMENT', 'pans: expected an array of card numbers');
    const digits = pans.map((pan, i) => {
      const card = publishablePan(pan);
      if (card.ok) return card.digits;
      if (card.reason !== TEST_CARD_REASON) this.counters.invalid++;
      throw new MamoriClientError('INVALID_PAN', `card ${i + 1}: ${card.reason}`);
    });
    const [key] = await this.hashingKeys();
    if (this.phase !== 'keyed') {
      // "dual" and "oblivious": new listings carry oblivious selectors only.
      const selectors = await this.oblivious.selectorsOfDigits(digits, Date.now() + this.options.adminDeadlineMs, this.options.adminDeadlineMs);
      return this.publishObliviousSelectors(selectors, details, digits.map(routingBin));
    }
    if (!key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
    const cards = digits.map((d) => publishedCard(key.key, d));
    return this.publishPanDigests(cards.map((c) => c.digest), details, key.epoch, cards.map((c) => c.bin));
  }

  /**
   * Publishes oblivious PAN selectors (panSelectors() or preEvaluate() output): one entry, under
   * no hashing-key epoch. `bins` (optional, one per selector): each card's routing BIN.
   */
  async publishObliviousSelectors(selectors: readonly Buffer[], details: CardListingDetails, bins?: readonly string[]): Promise<PublishResponse__Output> {
    return this.admin<PublishResponse__Output>('Publish', { publication: cardPublication(selectors, details, Date.now(), bins, 'SELECTOR_TYPE_PAN_OBLIVIOUS'), keyEpoch: 0 });
  }

  /** The consortium's PAN-selector phase, as the node last said (loads the keys if needed). */
  async panSelectorPhase(): Promise<PanSelectorPhase> {
    await this.hashingKeys();
    return this.phase;
  }

  /** Retracts this member's listings of cards (for example after reissue), under every active epoch. */
  async retractCards(pans: readonly string[], reason: RetractReasonName): Promise<RetractResponse__Output> {
    const digits = this.normalizeAll(pans, true);
    const keys = await this.hashingKeys();
    // Keyed selectors too in every phase: a listing made before the switch is retracted as well.
    const selectors: PanSelector[] = digits.flatMap((d) => keys.map((k) => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: panSelector(k.key, d) })));
    if (this.phase !== 'keyed') {
      const oblivious = await this.oblivious.selectorsOfDigits(digits, Date.now() + this.options.adminDeadlineMs, this.options.adminDeadlineMs);
      selectors.unshift(...oblivious.map((digest) => ({ type: 'SELECTOR_TYPE_PAN_OBLIVIOUS' as const, digest })));
    }
    return this.admin<RetractResponse__Output>('Retract', { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors, reason: RETRACT_REASONS[reason] });
  }

  /**
   * Oblivious PAN selectors (docs/oprf.md): one 32-byte selector per card, in order. A cached
   * card costs a keyed hash and no I/O; cards not seen before are blinded here and evaluated by
   * the consortium's evaluators through the member's node, concurrent callers' cards together
   * in one call, a card already under evaluation only once. A malformed card throws
   * INVALID_PAN naming `pans[i]` before any I/O. No selector within the budget (default
   * adminDeadlineMs): DEADLINE_EXCEEDED; fewer than t evaluators, or answers that stay
   * inconsistent after a verified retry: UNAVAILABLE (both retryable, and what a check answers
   * with the fail mode); evaluators refusing over a budget: RESOURCE_EXHAUSTED.
   */
  async panSelectors(pans: readonly string[], options: PanSelectorOptions = {}): Promise<Buffer[]> {
    if (this.closed) throw MamoriClientError.closed();
    return this.oblivious.panSelectors(pans, options);
  }

  /**
   * Evaluates an issuer's card base ahead of time into the selector cache: batches of up to
   * 10,000 cards, a bounded number in flight, progress after every batch. Cards already cached
   * are not sent again, so a run stopped by an error resumes where it stopped when called
   * again with the same cards. Size options.selectors.cacheSize to the card base.
   */
  async preEvaluate(pans: Iterable<string> | AsyncIterable<string>, options: PreEvaluateOptions = {}): Promise<PreEvaluateResult> {
    if (this.closed) throw MamoriClientError.closed();
    return this.oblivious.preEvaluate(pans, options);
  }

  /**
   * The selector cache as JSON: keyed hashes (under options.selectors.cacheKey) and selectors,
   * never a card number. With the cache key it tells whether a candidate card is in it, so the
   * member protects the copy and the key as card data (docs/oprf.md#the-client-sdk).
   */
  exportSelectorCache(): string {
    return this.oblivious.exportCache();
  }

  /** Merges an exported selector cache; refused (INVALID_ARGUMENT) when written under another cache key. */
  importSelectorCache(data: string): { imported: number; skipped: number } {
    return this.oblivious.importCache(data);
  }

  /** exportSelectorCache() written atomically to a file with mode 0600. */
  saveSelectorCache(file: string): { entries: number } {
    return this.oblivious.saveCache(file);
  }

  /** importSelectorCache() from a file saveSelectorCache() wrote. */
  loadSelectorCache(file: string): { imported: number; skipped: number } {
    return this.oblivious.loadCache(file);
  }

  /** Accept an origin's entries again after an equivocation was dealt with (an operator's decision). */
  async unfreeze(origin: string): Promise<boolean> {
    return (await this.admin<{ wasFrozen: boolean }>('Unfreeze', { origin })).wasFrozen;
  }

  /** The node's status and this client's; throws when the node cannot be reached (see sdkStatus()). */
  async status(): Promise<ClientStatus> {
    const node = await this.admin<StatusResponse__Output>('Status', {});
    return { ...node, sdk: this.sdkStatus() };
  }

  /** This client's own status, without I/O: for a health endpoint that must answer while the node is down. */
  sdkStatus(): SdkStatus {
    const mirror = this.mirror?.status();
    const usable = mirror !== undefined && mirror.ready && !mirror.stale;
    return {
      mode: this.options.mode,
      checksVia: usable ? 'mirror' : 'node',
      fallbackReason:
        this.options.mode === 'mirror' && !usable
          ? `mirror not usable (${mirror?.reason ?? (mirror?.ready ? 'stale' : 'not loaded')}); checks go to the node`
          : undefined,
      mirror,
      failMode: this.options.failMode,
      deadlineMs: this.options.deadlineMs,
      keyEpochs: (this.keyRing.current() ?? []).map((k) => k.epoch),
      degradedSinceMs: this.counters.degradedSinceMs,
      stats: this.stats(),
    };
  }

  /** Counters: RPCs sent, checks by source, batching. */
  stats(): ClientStats {
    return this.counters.snapshot(this.transport.sent, this.batcher.stats(), this.oblivious.stats());
  }

  /**
   * Waits until the node answers and the hashing keys are loaded; in mirror mode, also (within
   * the same time) for the mirror — checks work without it, so a slow mirror does not fail this.
   */
  async waitForReady(timeoutMs: number): Promise<SdkStatus> {
    const deadline = Date.now() + timeoutMs;
    await this.transport.waitForReady(deadline);
    await withDeadline(this.keyRing.fetch(), deadline, timeoutMs, 'loading the hashing keys');
    while (this.mirror && Date.now() < deadline) {
      const m = this.mirror.status();
      if (m.ready && !m.stale) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.sdkStatus();
  }

  close(): void {
    this.closed = true;
    this.mirror?.close();
    this.checkStream?.close();
    this.evaluationStream?.close();
    this.transport.close();
  }

  private async loadKeys(): Promise<LoadedKeys> {
    await sodiumReady();
    const response = await this.admin<GetHashingKeysResponse__Output>('GetHashingKeys', {});
    if (response.keys.length === 0) throw new MamoriClientError('FAILED_PRECONDITION', 'the node has no active hashing-key epoch');
    this.phase = PHASES.includes(response.panSelectors) ? (response.panSelectors as PanSelectorPhase) : 'keyed';
    this.packedChecks = response.packedChecks === true;
    return { active: response.keys.map(hashingKeyOf), upcoming: (response.upcoming ?? []).map(hashingKeyOf) };
  }

  /** One Check request of the batcher: packed when the node answers that form and the selectors share a type. */
  private async sendCheck(selectors: PanSelector[], deadline: number): Promise<CheckResponse__Output> {
    const packed = this.packedChecks ? packSelectors(selectors) : undefined;
    if (!packed) return this.checkRequest({ selectors }, deadline);
    const response = await this.checkRequest(packed, deadline);
    return { ...response, results: unpackResults(response, selectors.length) };
  }

  /** On the check stream or as a unary call, as options.checkTransport says. */
  private checkRequest(request: CheckRequest, deadline: number): Promise<CheckResponse__Output> {
    return this.checkStream ? this.checkStream.check(request, deadline) : this.transport.unary<CheckResponse__Output>('Check', request, deadline);
  }

  private admin<Res>(method: UnaryMethod, request: object): Promise<Res> {
    if (this.closed) return Promise.reject(MamoriClientError.closed());
    return this.transport.unary<Res>(method, request, Date.now() + this.options.adminDeadlineMs);
  }

  /** Every card normalized, or INVALID_PAN naming the first bad one's position and reason (never its digits). */
  private normalizeAll(pans: readonly string[], alwaysNumber = false): string[] {
    if (!Array.isArray(pans)) throw new MamoriClientError('INVALID_ARGUMENT', 'pans: expected an array of card numbers');
    return pans.map((pan, i) => {
      const normalized = typeof pan === 'string' ? normalizePan(pan) : { ok: false as const, reason: `is not a string (${typeof pan})` };
      if (!normalized.ok) {
        this.counters.invalid++;
        throw MamoriClientError.invalidPan(normalized.reason, pans.length > 1 || alwaysNumber ? i : undefined);
      }
      return normalized.digits;
    });
  }

  /**
   * What a check asks about one card, by phase: keyed selectors under every active epoch
   * ("keyed"), the oblivious selector and the keyed ones ("dual": listings made before the
   * switch stay checkable until they expire), the oblivious selector alone ("oblivious").
   */
  private cardSelectors(digits: string, keys: readonly HashingKey[], oblivious: Buffer | undefined): PanSelector[] {
    const selectors: PanSelector[] = [];
    if (oblivious && this.phase !== 'keyed') selectors.push({ type: 'SELECTOR_TYPE_PAN_OBLIVIOUS', digest: oblivious });
    if (this.phase !== 'oblivious') for (const k of keys) selectors.push({ type: 'SELECTOR_TYPE_PAN', digest: panSelector(k.key, digits) });
    return selectors;
  }

  /** The mirror's answer when it is certain the card is not listed; otherwise the selectors to ask the node about. */
  private fromMirror(selectors: PanSelector[], transaction: CheckOptions['transaction']): CardCheckResult | PanSelector[] {
    const mirror = this.mirror;
    if (!mirror) return selectors;
    let certain = true;
    for (const s of selectors) {
      const may = mirror.mayContain(s.digest);
      if (may === undefined) {
        this.counters.mirrorUnusable(this.options.log, () => mirror.status().reason);
        return selectors;
      }
      if (may) certain = false;
    }
    this.counters.mirrorUsable(this.options.log);
    return certain ? this.answer([], 'mirror', transaction) : selectors;
  }

  private budgetOf(options: CheckOptions): number {
    const budget = options.deadlineMs ?? this.options.deadlineMs;
    if (!(typeof budget === 'number' && budget > 0 && budget <= 600_000)) {
      throw new MamoriClientError('INVALID_ARGUMENT', `deadlineMs: expected a number from 1 to 600000, got ${String(budget)}`);
    }
    return budget;
  }

  private answer(
    evidence: Evidence[],
    source: CheckSource,
    transaction: CheckOptions['transaction'],
    corroboration: { score: number; sightings: SightingCounts } = NO_CORROBORATION,
    nowMs = Date.now(),
  ): CardCheckResult {
    const listingMembers = evidence.length;
    const action: Action = this.options.policy(evidence, { listingMembers, nowMs, transaction, score: corroboration.score });
    if (!ACTIONS.includes(action)) {
      throw new MamoriClientError('INVALID_ARGUMENT', `options.policy returned ${JSON.stringify(action)}; expected one of ${ACTIONS.join(', ')}`);
    }
    this.counters.answered(source);
    return { listed: listingMembers > 0, action, listingMembers, evidence, source, degraded: false, score: corroboration.score, sightings: corroboration.sightings };
  }

  /** The fail mode's answer for DEADLINE_EXCEEDED and UNAVAILABLE; any other error is thrown. */
  private degraded(error: unknown): CardCheckResult {
    const e = asClientError(error);
    if (!e.degradable) throw e;
    const result = fallbackResult(this.options.failMode, e.code as 'UNAVAILABLE' | 'DEADLINE_EXCEEDED');
    this.counters.degraded(this.options.log, e, result.action);
    return result;
  }
}

/** A check's corroboration when no member lists the card. */
const NO_CORROBORATION = Object.freeze({ score: 0, sightings: NO_SIGHTINGS });

function hashingKeyOf(k: GetHashingKeysResponse__Output['keys'][number]): HashingKey {
  return { epoch: k.epoch, key: new Uint8Array(k.key), activeFromMs: Number(k.activeFromMs), retiresAtMs: Number(k.retiresAtMs) > 0 ? Number(k.retiresAtMs) : undefined };
}
