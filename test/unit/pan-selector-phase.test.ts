// Oblivious PAN selectors on the ledger: which kinds take SELECTOR_TYPE_PAN_OBLIVIOUS, and what
// the consortium's PAN-selector phase lets a member's own clients send (docs/oprf.md#the-phase).
import { expect } from 'chai';
import { validatePublication, validateCheckSelectors } from '../../node/src/ledger/validate';
import { panSelectorPhase, requirePanSelectorAllowed, type PanSelectorPhase } from '../../node/src/membership/pan-selector-phase';
import type { Consortium } from '../../node/src/membership/consortium';
import { hashSelector, SELECTOR_DOMAINS, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { MamoriError } from '../../node/src/ledger/errors';

const digest = Buffer.alloc(32, 3);
const publication = (kind: string, type: string) =>
  ({
    kind,
    reason: kind === 'INDICATOR_KIND_COMPROMISED_CARD' ? 'REASON_CODE_PHISHING' : 'REASON_CODE_LAUNDERING',
    exposed: [],
    confidence: 80,
    validFromMs: 1_000,
    validUntilMs: 2_000,
    eventId: '',
    indicators: [{ selectors: [{ type, digest }], bin: '' }],
    issuerNotices: [],
  }) as unknown as Parameters<typeof validatePublication>[0];

function refusal(f: () => unknown): MamoriError {
  try {
    f();
  } catch (error) {
    return error as MamoriError;
  }
  throw new Error('expected a refusal');
}

describe('unit: oblivious PAN selectors and the PAN-selector phase', () => {
  it('a compromised-card indicator takes SELECTOR_TYPE_PAN_OBLIVIOUS; a merchant indicator does not', () => {
    expect(validatePublication(publication('INDICATOR_KIND_COMPROMISED_CARD', 'SELECTOR_TYPE_PAN_OBLIVIOUS'), 'publication', 'entry', 1_000).indicators).to.have.length(1);
    const e = refusal(() => validatePublication(publication('INDICATOR_KIND_FRAUDULENT_MERCHANT', 'SELECTOR_TYPE_PAN_OBLIVIOUS'), 'publication', 'entry', 1_000));
    expect(e.code).to.equal('INVALID_ARGUMENT');
    expect(e.message).to.match(/selectors\[0\]\.type/);
  });

  it('a check may ask about an oblivious selector', () => {
    expect(validateCheckSelectors([{ type: 'SELECTOR_TYPE_PAN_OBLIVIOUS', digest }] as never, 'selectors', 10)).to.have.length(1);
  });

  it('the oblivious type is no keyed hash: it has no domain and hashSelector refuses it', () => {
    expect(Object.keys(SELECTOR_DOMAINS)).to.not.include('SELECTOR_TYPE_PAN_OBLIVIOUS');
    expect(() => hashSelector(Buffer.alloc(32), 'SELECTOR_TYPE_PAN_OBLIVIOUS' as SelectorTypeName, '4545451234567890')).to.throw(/unknown selector type/);
  });

  it('the phase is "keyed" without an oprf section or without the field', () => {
    expect(panSelectorPhase({ document: {} } as unknown as Consortium)).to.equal('keyed');
    expect(panSelectorPhase({ document: { oprf: { panSelectors: 'dual' } } } as unknown as Consortium)).to.equal('dual');
  });

  it('keyed takes no oblivious selector, oblivious no keyed one, dual both; merchant types always', () => {
    const allowed = (phase: PanSelectorPhase, type: string) => {
      try {
        requirePanSelectorAllowed(phase, type, 'selectors[0]', 'published');
        return true;
      } catch (error) {
        expect((error as MamoriError).code).to.equal('FAILED_PRECONDITION');
        expect((error as MamoriError).message).to.match(/^selectors\[0\]: /);
        return false;
      }
    };
    expect(['keyed', 'dual', 'oblivious'].map((p) => allowed(p as PanSelectorPhase, 'SELECTOR_TYPE_PAN'))).to.deep.equal([true, true, false]);
    expect(['keyed', 'dual', 'oblivious'].map((p) => allowed(p as PanSelectorPhase, 'SELECTOR_TYPE_PAN_OBLIVIOUS'))).to.deep.equal([false, true, true]);
    expect(['keyed', 'dual', 'oblivious'].map((p) => allowed(p as PanSelectorPhase, 'SELECTOR_TYPE_MERCHANT_DOMAIN'))).to.deep.equal([true, true, true]);
  });
});
