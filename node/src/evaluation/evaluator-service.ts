// This node as a threshold-PRF evaluator (docs/oprf.md): opens its seeds from the consortium
// file in force (at start and on every newer file), checks them against the commitments, and
// answers evaluation requests of members (the peer Evaluate RPC, or its own node locally):
// validate → budgets (counted) → one scalar multiplication per item and seed group.
//
// CPU: one multiplication costs ~170 µs, so a batch of 10,000 items is ~1.7 s. It runs in
// chunks on the main thread, yielding to the event loop (setImmediate) between chunks, rather
// than in a worker thread: a worker would need its own libsodium instance and a copy of the
// seeds, gives no more throughput on the node's core, and a chunk of CHUNK_ITEMS keeps any
// other call waiting at most ~10 ms.
import type { Logger } from 'pino';
import { deserializeElement, OprfInputError } from '../../../proto/ts/oprf/group';
import { TprfEvaluator, TPRF_MAX_BATCH, type TprfDescription } from '../../../proto/ts/oprf/threshold';
import type { OprfSection } from '../config/schemas';
import type { BoxKeyPair } from '../crypto/epochs';
import { MamoriError } from '../ledger/errors';
import { oprfDescription, openEvaluatorSeeds } from '../membership/oprf-dealing';
import { BudgetExceeded, EvaluationBudget, binInRanges } from './budget';
import type { EvaluationCountStore } from '../store/evaluation-count-store';

/** Items evaluated between two yields to the event loop (~60 multiplications, ~10 ms). */
export const CHUNK_ITEMS = 64;

export interface EvaluateItem {
  bin: string;
  blinded: Uint8Array;
}

/** An evaluation request as it reaches an evaluator (field names as in PeerEvaluateRequest). */
export interface EvaluateRequest {
  setId: string;
  groups: readonly (readonly string[])[];
  items: readonly EvaluateItem[];
}

/** 'replica': a read replica of an evaluator member, which never evaluates (the member's budgets are its signer's). */
export type EvaluatorState = 'ready' | 'refused' | 'not-an-evaluator' | 'replica';

export interface EvaluatorCounters {
  evaluated: number;
  refusedBudget: number;
  refusedInvalid: number;
}

export interface EvaluatorServiceDeps {
  member: string;
  box: BoxKeyPair;
  /** The oprf section and members' BIN ranges of the consortium file in force. */
  section(): OprfSection | undefined;
  binRanges(member: string): readonly string[];
  counts: EvaluationCountStore;
  /** Tallies what this evaluator answered for the counts it publishes (evaluation/count-publisher.ts). */
  tally?: { add(member: string, bins: readonly string[]): void };
  audit: { record(actor: string, action: string, details?: object): void };
  log: Logger;
  /** A read replica: it opens no seeds and answers no evaluation, even when its member is an evaluator. */
  replica?: boolean;
}

interface Dealing {
  section: OprfSection;
  description: TprfDescription;
  state: EvaluatorState;
  reason: string;
  evaluator?: TprfEvaluator;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class EvaluatorService {
  private dealing: Dealing | undefined;
  readonly counters: EvaluatorCounters = { evaluated: 0, refusedBudget: 0, refusedInvalid: 0 };
  private readonly budget: EvaluationBudget;

  constructor(private readonly deps: EvaluatorServiceDeps) {
    this.budget = new EvaluationBudget(
      deps.counts,
      () => this.requireDealing().section.budgets,
      (member, bin) => binInRanges(bin, deps.binRanges(member)),
      Date.now,
      (error) => deps.log.error({ err: error }, 'evaluation counts could not be written; kept in memory and retried'),
    );
    this.reload();
  }

  /** Takes up the oprf section of the consortium file in force (at start, and after a newer file took effect). */
  reload(): void {
    const { member, log, audit } = this.deps;
    const section = this.deps.section();
    if (!section) {
      if (this.dealing) log.warn('the consortium file in force has no oprf section: this node evaluates nothing');
      this.dealing = undefined;
      return;
    }
    if (this.dealing && this.dealing.section === section) return;
    const description = oprfDescription(section);
    if (this.dealing?.description.setId === section.setId && this.dealing.state !== 'refused') {
      // Same dealing, another file version (budgets or members changed): keep the opened seeds.
      this.dealing = { ...this.dealing, section, description };
      return;
    }
    if (this.deps.replica && section.evaluators.includes(member)) {
      this.dealing = { section, description, state: 'replica', reason: '' };
      log.info({ setId: section.setId, t: section.t, n: section.n }, 'threshold PRF dealing in force; this read replica leaves its member\'s evaluations to the signer');
      return;
    }
    if (!section.evaluators.includes(member)) {
      this.dealing = { section, description, state: 'not-an-evaluator', reason: '' };
      log.info({ setId: section.setId, t: section.t, n: section.n }, 'threshold PRF dealing in force; this member is not an evaluator');
      return;
    }
    const opened = openEvaluatorSeeds(section, member, this.deps.box);
    if (!opened.ok) {
      this.dealing = { section, description, state: 'refused', reason: opened.reason };
      log.error({ setId: section.setId, reason: opened.reason }, 'threshold PRF seeds refused: this node evaluates nothing');
      audit.record('node', 'oprf.seeds-refused', { reason: opened.reason });
      return;
    }
    const evaluator = new TprfEvaluator(description, opened.share);
    this.dealing = { section, description, state: 'ready', reason: '', evaluator };
    log.info({ setId: section.setId, t: section.t, n: section.n, index: evaluator.index, seeds: evaluator.heldLabels().length }, 'threshold PRF seeds opened and checked: this node evaluates');
  }

  /** Writes the evaluation counts not yet written (before the database closes). */
  close(): void {
    this.budget.flush();
  }

  /** The dealing in force, or FAILED_PRECONDITION. */
  requireDealing(): Dealing {
    if (!this.dealing) throw MamoriError.failedPrecondition('the consortium file in force has no oprf section: PAN selectors are not evaluated');
    return this.dealing;
  }

  get section(): OprfSection | undefined {
    return this.dealing?.section;
  }

  get description(): TprfDescription | undefined {
    return this.dealing?.description;
  }

  /** Whether this node answers evaluations itself now. */
  get ready(): boolean {
    return this.dealing?.state === 'ready';
  }

  status(): { state: EvaluatorState; reason: string } | undefined {
    return this.dealing && { state: this.dealing.state, reason: this.dealing.reason };
  }

  /**
   * Evaluates a request of `member` (the calling peer, or this member). Returns items × groups
   * × 32 bytes, item-major. INVALID_ARGUMENT names the field and counts nothing;
   * RESOURCE_EXHAUSTED names the budget, counts nothing, and is audited.
   */
  async evaluate(member: string, request: EvaluateRequest): Promise<Buffer> {
    const dealing = this.requireDealing();
    if (dealing.state !== 'ready' || !dealing.evaluator) {
      throw MamoriError.failedPrecondition(
        dealing.state === 'not-an-evaluator'
          ? 'this member is not an evaluator of the dealing in force'
          : dealing.state === 'replica'
            ? "this node is a read replica: its member's evaluations are its signer's"
            : `this node refuses to evaluate: ${dealing.reason}`,
      );
    }
    const evaluator = dealing.evaluator;
    let groups: string[][];
    try {
      groups = this.validate(dealing, evaluator, request);
      await validateItems(request.items, dealing.section.binDigits);
    } catch (error) {
      this.counters.refusedInvalid++;
      throw error;
    }
    const bins = request.items.map((item) => item.bin);
    try {
      this.budget.reserve(member, bins);
    } catch (error) {
      if (error instanceof BudgetExceeded) {
        this.counters.refusedBudget++;
        this.deps.log.warn({ requester: member, budget: error.budget, limit: error.limit, used: error.used, items: bins.length }, 'evaluation refused: budget exhausted');
        this.deps.audit.record(`member:${member}`, 'oprf.budget-refused', { budget: error.budget, limit: error.limit, used: error.used, asked: error.asked, bin: error.bin, items: bins.length });
      }
      throw error;
    }
    this.deps.tally?.add(member, bins);
    const width = groups.length * 32;
    const out = Buffer.allocUnsafe(request.items.length * width);
    for (let start = 0; start < request.items.length; start += CHUNK_ITEMS) {
      if (start > 0) await yieldToEventLoop();
      const chunk = request.items.slice(start, start + CHUNK_ITEMS);
      const answers = evaluator.evaluate({ groups, bins: chunk.map((i) => i.bin), blindedElements: chunk.map((i) => i.blinded) });
      answers.forEach((perGroup, e) => perGroup.forEach((element, g) => out.set(element, (start + e) * width + g * 32)));
    }
    this.counters.evaluated += request.items.length;
    this.deps.log.debug({ requester: member, items: request.items.length, groups: groups.length }, 'evaluated');
    return out;
  }

  private validate(dealing: Dealing, evaluator: TprfEvaluator, request: EvaluateRequest): string[][] {
    const { section } = dealing;
    if (request.setId !== section.setId) throw MamoriError.invalidArgument('set_id', `is not the dealing in force (${section.setId})`);
    const { items } = request;
    if (!Array.isArray(items) || items.length === 0) throw MamoriError.invalidArgument('items', 'must hold at least one blinded PAN');
    if (items.length > TPRF_MAX_BATCH) throw MamoriError.invalidArgument('items', `at most ${TPRF_MAX_BATCH} per request, got ${items.length}`);
    if (!Array.isArray(request.groups) || request.groups.length === 0) throw MamoriError.invalidArgument('groups', 'must list at least one seed group');
    const held = new Set(evaluator.heldLabels());
    const seen = new Set<string>();
    const groups = request.groups.map((group, g) => {
      if (!Array.isArray(group) || group.length === 0) throw MamoriError.invalidArgument(`groups[${g}].labels`, 'must list at least one seed');
      group.forEach((label, j) => {
        if (!held.has(label)) throw MamoriError.invalidArgument(`groups[${g}].labels[${j}]`, 'is not a seed this evaluator holds');
        if (seen.has(label)) throw MamoriError.invalidArgument(`groups[${g}].labels[${j}]`, 'is asked for twice');
        seen.add(label);
      });
      return [...group];
    });
    return groups;
  }
}

const BIN_PATTERNS: Record<6 | 8, RegExp> = { 6: /^[0-9]{6}$/, 8: /^[0-9]{8}$/ };

/** Items checked between two yields to the event loop (an element check is ~20–40 µs). */
const VALIDATE_CHUNK = 512;

/**
 * Each item: a BIN of binDigits ASCII digits, a canonical non-identity ristretto255 element.
 * Throws INVALID_ARGUMENT naming items[i].bin / items[i].blinded. Yields to the event loop
 * every VALIDATE_CHUNK items.
 */
export async function validateItems(items: readonly EvaluateItem[], binDigits: 6 | 8): Promise<void> {
  const pattern = BIN_PATTERNS[binDigits];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % VALIDATE_CHUNK === 0) await yieldToEventLoop();
    const item = items[i] as EvaluateItem;
    if (typeof item.bin !== 'string' || !pattern.test(item.bin)) throw MamoriError.invalidArgument(`items[${i}].bin`, `must be ${binDigits} ASCII digits (the consortium file's oprf.binDigits)`);
    try {
      deserializeElement(item.blinded, `items[${i}].blinded`);
    } catch (error) {
      if (error instanceof OprfInputError) throw MamoriError.invalidArgument(error.field, error.message.slice(error.field.length + 2));
      throw error;
    }
  }
}
