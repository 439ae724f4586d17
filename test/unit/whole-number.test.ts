// The one whole-number parser of the command line: the message names the option and the reason.
import { expect } from 'chai';
import { InvalidArgumentError } from 'commander';
import { wholeNumber } from '../../node/src/cli/whole-number';

describe('unit: whole-number CLI options', () => {
  const port = wholeNumber('--base-port', { min: 1, max: 65533, what: 'a port' });
  const last = wholeNumber('--last', { min: 1 });

  it('accepts decimal whole numbers within the bounds', () => {
    expect(port('7101')).to.equal(7101);
    expect(port(' 1 ')).to.equal(1);
    expect(last('20')).to.equal(20);
    expect(wholeNumber('--after', { min: 0, max: 0xffffffff })('0')).to.equal(0);
  });

  for (const value of ['', 'abc', '1.5', '-1', '1e3', '0x10', '65534', '0', '99999999999999999']) {
    it(`refuses "${value}", naming the option and the reason`, () => {
      expect(() => port(value))
        .to.throw(InvalidArgumentError)
        .with.property('message', `--base-port must be a port from 1 to 65533 (got "${value}")`);
    });
  }

  it('says "at least" when there is no upper bound', () => {
    expect(() => last('0')).to.throw('--last must be a whole number of at least 1 (got "0")');
  });
});
