// The rows a node derives from an entry, and their digest under the node-local key: the writer's
// (from the accepted entry) and the scrub's (from the signed body) must agree byte for byte, and
// the record sort must be a full sort of the bytes (ties in the first 31 bits included).
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import { DERIVED_SELECTOR_RECORD_BYTES } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { derivedRowsOfAccepted, derivedRowsOfBody, expectedDigest, sortRecords } from '../../node/src/integrity/derived-rows';
import { encodeEntryBody } from '../../node/src/ledger/entry';

describe('unit: derived rows and their digest', () => {
  before(async () => {
    await sodiumReady();
  });

  it('sorts 33-byte records by their bytes, ties in the first 31 bits included', () => {
    const n = 5000;
    const records = crypto.randomBytes(n * DERIVED_SELECTOR_RECORD_BYTES);
    // Every tenth record shares its first 4 bytes with the one before: the tie-break path.
    for (let i = 10; i < n; i += 10) records.copy(records, i * DERIVED_SELECTOR_RECORD_BYTES, (i - 1) * DERIVED_SELECTOR_RECORD_BYTES, (i - 1) * DERIVED_SELECTOR_RECORD_BYTES + 4);
    const sorted = sortRecords(records);
    const expected = Array.from({ length: n }, (_, i) => records.subarray(i * 33, (i + 1) * 33)).sort(Buffer.compare);
    expect(sorted.equals(Buffer.concat(expected))).to.equal(true);
  });

  it('the writer and the scrub derive the same rows and digest from one entry', () => {
    const digests = Array.from({ length: 50 }, () => crypto.randomBytes(32));
    const publishIndicators = {
      kind: 'INDICATOR_KIND_COMPROMISED_CARD',
      reason: 'REASON_CODE_PHISHING',
      exposed: ['DATA_ELEMENT_PAN', 'DATA_ELEMENT_CVV'],
      confidence: 80,
      validFromMs: 1_700_000_000_000,
      validUntilMs: 1_800_000_000_000,
      eventId: 'case-1',
      indicators: digests.map((digest) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }] })),
    };
    const body = encodeEntryBody({ origin: 'psp-c', seq: 3, prev: Buffer.alloc(32), createdAtMs: 1_700_000_000_000, keyEpoch: 1, publishIndicators } as never);
    const fromBody = derivedRowsOfBody(body);
    const fromAccepted = derivedRowsOfAccepted({ publication: publishIndicators as never });
    const key = crypto.randomBytes(32);
    const entry = { entryId: 9, entryHash: crypto.randomBytes(32), originId: 2 };
    expect(expectedDigest(key, entry, fromBody)).to.deep.equal(expectedDigest(key, entry, fromAccepted));
    expect(fromBody.selectors).to.have.length(50);
    expect(fromBody.publication).to.deep.include({ exposed: 'DATA_ELEMENT_PAN,DATA_ELEMENT_CVV', validUntilMs: 1_800_000_000_000 });
    const tampered = { ...fromBody, publication: { ...fromBody.publication, validUntilMs: 1 } as never };
    expect(expectedDigest(key, entry, tampered).digest.equals(expectedDigest(key, entry, fromBody).digest)).to.equal(false);
  });
});
