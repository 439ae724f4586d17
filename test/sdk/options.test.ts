// Client options and client.json: defaults, validation that names the field, overrides; the
// methods whose node side has not landed yet.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { DEFAULTS, parseOptions, type ClientOptions } from '../../client-sdk/src/options';
import { defaultPolicy } from '../../client-sdk/src/policy';
import { tempDir } from '../helpers/node-harness';
import { randomPan } from '../helpers/cards';

const base = { target: '127.0.0.1:1', token: 'a-token-of-enough-length' };

function configError(fn: () => unknown): MamoriClientError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code).to.equal('CONFIG');
    return error as MamoriClientError;
  }
  return expect.fail('accepted invalid options');
}

describe('SDK options', function () {
  it('has documented defaults: mirror mode, 50 ms checks, 10 s admin calls, fail-open, default policy, unary Check calls, same-turn batches of 1000', () => {
    const input = { ...base };
    const o = parseOptions(input);
    expect(o).to.deep.include({ mode: 'mirror', deadlineMs: 50, adminDeadlineMs: 10_000, failMode: 'open', policy: defaultPolicy, checkTransport: 'unary' });
    expect(parseOptions({ ...base, checkTransport: 'stream' }).checkTransport).to.equal('stream');
    expect(o.batch).to.deep.equal({ windowMs: 0, maxSize: 1000, maxInFlight: 16 });
    expect(o.batch).to.deep.equal(DEFAULTS.batch);
    expect(Object.isFrozen(o)).to.equal(true);
    expect(input).to.deep.equal(base); // the caller's object is left alone
    expect(o.token).to.equal(base.token);
    expect(JSON.stringify(o), 'the token stays out of logged options').to.not.contain(base.token);
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['a missing target', { target: undefined }, 'options.target'],
    ['an empty token', { token: '' }, 'options.token'],
    ['an unknown mode', { mode: 'fast' }, `options.mode: expected one of 'mirror', 'remote', got "fast"`],
    ['a zero deadline', { deadlineMs: 0 }, 'options.deadlineMs: expected a number from 1 to 600000, got 0'],
    ['a deadline given as text', { deadlineMs: '50' }, 'options.deadlineMs'],
    ['an infinite admin deadline', { adminDeadlineMs: Infinity }, 'options.adminDeadlineMs'],
    ['an unknown fail mode', { failMode: 'maybe' }, 'options.failMode'],
    ['an unknown check transport', { checkTransport: 'http' }, `options.checkTransport: expected one of 'stream', 'unary', got "http"`],
    ['a policy that is not a function', { policy: 'strict' }, 'options.policy: expected a function'],
    ['a batch over the node limit', { batch: { maxSize: 20_000 } }, 'options.batch.maxSize'],
    ['a fractional batch size', { batch: { maxSize: 10.5 } }, 'options.batch.maxSize: expected a whole number'],
    ['a negative window', { batch: { windowMs: -1 } }, 'options.batch.windowMs'],
    ['a typo in batch', { batch: { maxsize: 10 } }, 'options.batch.maxsize: unknown option'],
    ['a typo at the top', { deadline: 50 }, 'options.deadline: unknown option'],
    ['backoffs the wrong way round', { reconnect: { initialBackoffMs: 5000, maxBackoffMs: 100 } }, 'options.reconnect.maxBackoffMs'],
  ];
  for (const [name, change, message] of invalid) {
    it(`refuses ${name}, naming the field`, () => {
      const error = configError(() => MamoriClient.connect({ ...base, ...change } as unknown as ClientOptions));
      expect(error.message).to.contain(message);
      expect(error.message).to.not.contain(base.token);
    });
  }

  it('reads client.json, with overrides winning over the file', () => {
    const file = path.join(tempDir(), 'client.json');
    fs.writeFileSync(file, JSON.stringify({ member: 'psp-c', ...base, deadlineMs: 75, mode: 'remote', failMode: 'closed', batch: { maxSize: 200 } }));
    const fromFile = MamoriClient.fromConfigFile(file);
    const overridden = MamoriClient.fromConfigFile(file, { deadlineMs: 20, failMode: 'open' });
    try {
      expect(fromFile.options).to.deep.include({ deadlineMs: 75, mode: 'remote', failMode: 'closed' });
      expect(fromFile.options.batch.maxSize).to.equal(200);
      expect(overridden.options).to.deep.include({ deadlineMs: 20, mode: 'remote', failMode: 'open' });
    } finally {
      fromFile.close();
      overridden.close();
    }
    fs.writeFileSync(file, JSON.stringify({ member: 'psp-c', ...base, mode: 'fast' }));
    expect(configError(() => MamoriClient.fromConfigFile(file)).message).to.match(/client\.json: mode: /);
  });

  describe('calls that fail before any I/O', () => {
    let client: MamoriClient;
    beforeEach(() => {
      client = MamoriClient.connect({ ...base, mode: 'remote' });
    });
    afterEach(() => client.close());

    it('a bad sighting (card number, outcome) is refused before any I/O; a bad merchant field after the keys', async () => {
      const screening = await client.screenMerchant({ domain: 'not a domain' }).catch((e: unknown) => e as MamoriClientError);
      expect(screening).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'UNAVAILABLE' }); // keys come from the (absent) node first
      const rpcs = client.stats().rpcs.total;
      const badPan = await client.reportSighting({ pan: '1234', outcome: 'true_positive' }).catch((e: unknown) => e as MamoriClientError);
      expect(badPan).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'INVALID_PAN' });
      const badOutcome = await client.reportSightings([{ pan: randomPan(), outcome: 'seen' }, { pan: randomPan(), outcome: 'fraud' as never }]).catch((e: unknown) => e as MamoriClientError);
      expect(badOutcome).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'INVALID_ARGUMENT' });
      expect((badOutcome as Error).message).to.match(/^sightings\[1\]\.outcome: /);
      expect(client.stats().rpcs.total).to.equal(rpcs);
    });

    it('a per-call deadline must be a sensible number', async () => {
      const error = await client.checkCard(randomPan(), { deadlineMs: -5 }).catch((e: unknown) => e as MamoriClientError);
      expect(error).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'INVALID_ARGUMENT' });
      expect((error as Error).message).to.contain('deadlineMs');
    });

    it('a closed client refuses checks', async () => {
      client.close();
      const error = await client.checkCard(randomPan()).catch((e: unknown) => e as MamoriClientError);
      expect(error).to.be.instanceOf(MamoriClientError).and.to.include({ code: 'FAILED_PRECONDITION' });
      expect(client.stats().rpcs.total).to.equal(0);
    });
  });
});
