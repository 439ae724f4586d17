// The verdict policy: the documented default table, and a policy of one's own.
import { expect } from 'chai';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DataElement__Output } from '../../proto/gen/mamori/v1/DataElement';
import { defaultPolicy, type Action, type PolicyContext } from '../../client-sdk/src/policy';
import type { Evidence } from '../../client-sdk/src/results';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { Clients } from './helpers';

type Short = 'pan' | 'expiry' | 'cvv' | 'track' | 'pin' | 'name';
const ELEMENT: Record<Short, DataElement__Output> = {
  pan: 'DATA_ELEMENT_PAN',
  expiry: 'DATA_ELEMENT_EXPIRY',
  cvv: 'DATA_ELEMENT_CVV',
  track: 'DATA_ELEMENT_TRACK',
  pin: 'DATA_ELEMENT_PIN',
  name: 'DATA_ELEMENT_CARDHOLDER_NAME',
};

function listing(origin: string, exposed: Short[], confidence = 80): Evidence {
  return {
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason: 'REASON_CODE_MERCHANT_BREACH',
    exposed: exposed.map((e) => ELEMENT[e]),
    confidence,
    origin,
    firstSeenMs: 1,
    lastSeenMs: 1,
    validUntilMs: Date.now() + 86_400_000,
    matched: 'SELECTOR_TYPE_PAN',
    eventId: '',
  };
}

const context = (evidence: Evidence[]): PolicyContext => ({ listingMembers: new Set(evidence.map((e) => e.origin)).size, nowMs: Date.now(), transaction: undefined });

describe('SDK verdict policy', function () {
  describe('the default table', () => {
    const table: [string, Evidence[], Action][] = [
      ['not listed', [], 'approve'],
      ['listed once, PAN only', [listing('psp-c', ['pan'])], 'step_up'],
      ['listed once, PAN and expiry, confidence 100', [listing('psp-c', ['pan', 'expiry'], 100)], 'step_up'],
      ['listed once, CVV exposed, confidence 80', [listing('psp-c', ['pan', 'cvv'], 80)], 'review'],
      ['listed once, CVV exposed, confidence 79', [listing('psp-c', ['pan', 'cvv'], 79)], 'step_up'],
      ['listed once, track and PIN exposed, confidence 95', [listing('psp-c', ['track', 'pin'], 95)], 'step_up'],
      ['listed by 2 members, PAN only', [listing('psp-c', ['pan']), listing('issuer-a', ['pan', 'expiry'])], 'review'],
      ['listed by 2 members, one with CVV', [listing('psp-c', ['pan']), listing('issuer-a', ['pan', 'cvv'], 40)], 'decline'],
      ['listed by 2 members, one with track data', [listing('psp-c', ['track']), listing('issuer-a', ['pan'])], 'decline'],
      ['listed by 2 members, one with the PIN', [listing('psp-c', ['pan']), listing('issuer-a', ['pin'])], 'decline'],
      ['listed by 3 members, name and expiry', [listing('psp-c', ['name']), listing('issuer-a', ['expiry']), listing('acquirer-b', ['pan'])], 'review'],
    ];
    for (const [name, evidence, action] of table) {
      it(`${name} → ${action}`, () => {
        expect(defaultPolicy(evidence, context(evidence))).to.equal(action);
      });
    }
  });

  describe('with a node', () => {
    let n: InProcessNode;
    const clients = new Clients();

    before(async () => {
      await sodiumReady();
      n = await startInProcessNode(await makeConsortium(), 'psp-c');
    });
    afterEach(() => clients.closeAll());
    after(async () => {
      await n?.stop();
    });

    it('maps the node\'s evidence through the default policy', async () => {
      const [plain, withCvv] = randomPans(2) as [string, string];
      await n.client.publishCompromisedCards([plain], { reason: 'phishing' });
      await n.client.publishCompromisedCards([withCvv], { reason: 'malware', exposed: ['pan', 'expiry', 'cvv'], confidence: 90 });
      const client = clients.connect(n, { deadlineMs: 10_000 });
      const [a, b, c] = await client.checkCards([plain, withCvv, randomPan()]);
      expect(a).to.deep.include({ listed: true, listingMembers: 1, action: 'step_up' });
      expect(b).to.deep.include({ listed: true, listingMembers: 1, action: 'review' });
      expect(b?.evidence[0]).to.deep.include({ origin: 'psp-c', reason: 'REASON_CODE_MALWARE', confidence: 90 });
      expect(c).to.deep.include({ listed: false, listingMembers: 0, action: 'approve' });
    });

    it('takes a policy of one\'s own, with the caller\'s transaction context', async () => {
      const pan = randomPan();
      await n.client.publishCompromisedCards([pan], { reason: 'skimming' });
      const seen: PolicyContext[] = [];
      const client = clients.connect(n, {
        mode: 'remote',
        deadlineMs: 10_000,
        policy: (evidence, ctx) => {
          seen.push(ctx);
          if (evidence.length === 0) return 'approve';
          return Number(ctx.transaction?.amount ?? 0) > 10_000 ? 'decline' : 'step_up';
        },
      });
      expect((await client.checkCard(pan, { transaction: { amount: 50_000, currency: 'JPY' } })).action).to.equal('decline');
      expect((await client.checkCard(pan, { transaction: { amount: 500, currency: 'JPY' } })).action).to.equal('step_up');
      expect((await client.checkCard(randomPan())).action).to.equal('approve');
      expect(seen[0]).to.deep.include({ listingMembers: 1, transaction: { amount: 50_000, currency: 'JPY' } });
    });

    it('refuses a policy answer that is not an action', async () => {
      const client = clients.connect(n, { mode: 'remote', deadlineMs: 10_000, policy: () => 'allow' as unknown as Action });
      const error = await client.checkCard(randomPan()).catch((e: unknown) => e as MamoriClientError);
      expect(error).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'INVALID_ARGUMENT' });
      expect((error as Error).message).to.contain('options.policy returned "allow"');
    });
  });
});
