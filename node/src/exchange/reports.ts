// This member's reports, each signed into its feed: card-testing reports (acquirers and PSPs),
// fraud reports sealed to the aggregator (issuers), sightings, and the aggregator's
// common-point flags.
import { MamoriError } from '../ledger/errors';
import type { AcceptedEntry } from '../ledger/acceptance';
import type { ValidCommonPointFlags, ValidFraudReportContents } from '../ledger/common-point';
import { LIMITS } from '../ledger/limits';
import { roleAllowsOperation } from '../ledger/roles';
import { sightingsForEntry, type ValidSightingInput } from '../ledger/sightings';
import type { ValidCardTestingReport } from '../ledger/validate';
import type { ValidOprfEvaluationCounts } from '../ledger/oprf-counts';
import type { MemberState } from '../membership/member-state';
import { panSelectorPhase, requirePanSelectorAllowed } from '../membership/pan-selector-phase';
import { sealFraudReport } from './fraud-report';
import type { PublishOutcome } from './node';
import type { OwnFeed } from './own-feed';

export class MemberReports {
  constructor(
    private readonly feed: OwnFeed,
    private readonly membership: MemberState,
  ) {}

  private get member(): string {
    return this.feed.member;
  }

  /** Publishes a validated card-testing report as one signed entry (acquirers and PSPs only). */
  async reportCardTesting(report: ValidCardTestingReport): Promise<PublishOutcome> {
    this.feed.assertOpen();
    if (!roleAllowsOperation(this.membership.roles, 'cardTestingReport')) {
      throw MamoriError.permissionDenied(`member "${this.member}" may not report card testing (acquirers and PSPs only)`);
    }
    return this.feed.write((group) => {
      const entry = this.feed.sign(group, this.membership.newestEpoch(), { cardTestingReport: report }, { operation: 'cardTestingReport', cardTestingReport: report });
      return () => ({ accepted: 1, duplicates: 0, duplicateIndices: [], seq: entry.seq, entryHash: entry.hash });
    });
  }

  /**
   * Seals a validated fraud report to the consortium's aggregator and publishes it (issuers
   * only), as several entries when it is larger than one entry may be.
   */
  async reportFraud(contents: ValidFraudReportContents, keyEpoch: number): Promise<PublishOutcome> {
    this.feed.assertOpen();
    if (!roleAllowsOperation(this.membership.roles, 'fraudReport')) throw MamoriError.permissionDenied(`member "${this.member}" may not report fraud (issuers only)`);
    this.membership.requireActiveEpoch(keyEpoch);
    const consortium = this.membership.consortium;
    const aggregator = consortium.commonPoint?.aggregator;
    const boxKey = consortium.aggregatorBoxPublicKey();
    if (!aggregator || !boxKey) throw MamoriError.failedPrecondition('the consortium file names no common-point aggregator (commonPoint.aggregator)');
    const reports = sealFraudReport(contents, aggregator, boxKey);
    return this.feed.write((group) => {
      const entries = reports.map((report) => this.feed.sign(group, keyEpoch, { fraudReport: report }, { operation: 'fraudReport', fraudReport: report }));
      const last = entries[entries.length - 1] as AcceptedEntry;
      return () => ({ accepted: contents.cards.length, duplicates: 0, duplicateIndices: [], seq: last.seq, entryHash: last.hash });
    });
  }

  /** Publishes an analysis's flags (the aggregator only), as few entries as the limits allow. */
  async publishCommonPointFlags(flags: ValidCommonPointFlags): Promise<void> {
    this.feed.assertOpen();
    const per = LIMITS.maxCommonPointFlagsPerEntry;
    await this.feed.write((group) => {
      for (let i = 0; i < flags.flags.length; i += per) {
        const part: ValidCommonPointFlags = { analysedAtMs: flags.analysedAtMs, flags: flags.flags.slice(i, i + per) };
        this.feed.sign(group, this.membership.newestEpoch(), { commonPointFlags: part }, { operation: 'commonPointFlags', commonPointFlags: part });
      }
      return () => undefined;
    });
  }

  /**
   * Signs validated sightings as one entry of this member's feed. A client's BIN marks a
   * sighting as the card issuer's when it lies in this member's BIN ranges (issuers only);
   * the BIN itself goes no further.
   */
  async reportSightings(inputs: readonly ValidSightingInput[], keyEpoch: number): Promise<{ recorded: number; seq: number }> {
    this.feed.assertOpen();
    const phase = panSelectorPhase(this.membership.consortium);
    inputs.forEach((s, i) => requirePanSelectorAllowed(phase, s.selector.type, `sightings[${i}].selector`, 'reported'));
    // As for a publication: sightings of nothing but oblivious PAN selectors carry key_epoch 0.
    if (inputs.every((s) => s.selector.type === 'SELECTOR_TYPE_PAN_OBLIVIOUS')) {
      if (keyEpoch !== 0) throw MamoriError.invalidArgument('keyEpoch', 'must be 0 for oblivious PAN selectors: they are under no hashing-key epoch');
    } else {
      this.membership.requireActiveEpoch(keyEpoch);
    }
    const ranges = this.membership.roles.includes('issuer') ? this.membership.binRanges() : [];
    const sightings = sightingsForEntry(inputs, ranges);
    return this.feed.write((group) => {
      const entry = this.feed.sign(group, keyEpoch, { sightings: { sightings } }, { operation: 'sightings', sightings });
      return () => ({ recorded: sightings.length, seq: entry.seq });
    });
  }

  /**
   * Signs one closed bucket's evaluation counts (evaluators of the oprf section only), one entry
   * per chunk, all in one write group: they commit together or not at all.
   */
  async publishOprfEvaluationCounts(entries: readonly ValidOprfEvaluationCounts[]): Promise<void> {
    this.feed.assertOpen();
    if (!this.membership.consortium.document.oprf?.evaluators.includes(this.member)) {
      throw MamoriError.permissionDenied(`member "${this.member}" may not publish evaluation counts (evaluators of the oprf section only)`);
    }
    if (entries.length === 0) return;
    await this.feed.write((group) => {
      for (const counts of entries) {
        this.feed.sign(group, this.membership.newestEpoch(), { oprfEvaluationCounts: counts }, { operation: 'oprfEvaluationCounts', oprfEvaluationCounts: counts });
      }
      return () => undefined;
    });
  }
}
