// Cost per entry of issuer notices (docs/design.md#card-listings), at 1, 10 and 100 notices per
// entry (one card per issuer; the entry's other cards do not change these figures). An entry
// notifies at most 64 issuers: the 100 row is a what-if, sealed as two builds of 50.
//
//   seal             the publishing node: one crypto_box_seal and one tag per notice (tag keys cached)
//   seal, cold keys  the same with the tag-key cache empty: one X25519 per recipient as well
//   recognise: none  an issuer node with no notice in the entry (the common case): one tag key (cached)
//                    and one BLAKE2b-128 per notice
//   recognise+open   its notice is the last one: the tags, then one crypto_box_seal_open
//   trial: none      the alternative without tags: crypto_box_seal_open of every notice, none opens
//   trial: last      the alternative, its notice last: every notice tried, the last opens
//   validate         what every peer checks at acceptance (no crypto; at most 64 notices per entry)
//
//   node dist/scripts/bench/issuer-notices.js [--min-ms 400]
import { generateBoxKeyPair, type BoxKeyPair } from '../../node/src/crypto/epochs';
import { openSealed } from '../../node/src/crypto/sealed-box';
import { IssuerNoticeKeys } from '../../node/src/exchange/issuer-routing';
import { buildIssuerNotices, decodeNoticeIndexes, openIssuerNotice, validateIssuerNotices, type IssuerNotice, type NoticeRecipient } from '../../node/src/ledger/issuer-notices';
import { sodiumReady } from '../../proto/ts/sodium';

const minMs = Number(process.argv[process.argv.indexOf('--min-ms') + 1] ?? 0) || 400;

/** Median of 5 runs of ms per call, each run repeating `fn` for at least minMs / 5. */
function perCall(fn: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    let calls = 0;
    const started = process.hrtime.bigint();
    let elapsed = 0;
    do {
      fn();
      calls++;
      elapsed = Number(process.hrtime.bigint() - started) / 1e6;
    } while (elapsed < minMs / 5);
    runs.push(elapsed / calls);
  }
  return runs.sort((a, b) => a - b)[2] as number;
}

async function main(): Promise<void> {
  await sodiumReady();
  const origin = generateBoxKeyPair();
  const rows: Record<string, string>[] = [];
  for (const n of [1, 10, 100]) {
    const boxes: BoxKeyPair[] = Array.from({ length: n + 1 }, () => generateBoxKeyPair());
    const ids = boxes.map((_, i) => `issuer-${i}`);
    const keyOf = new Map<string, Uint8Array>([['psp-c', origin.publicKey], ...ids.map((id, i) => [id, (boxes[i] as BoxKeyPair).publicKey] as const)]);
    const recipients: NoticeRecipient[] = Array.from({ length: n }, (_, i) => ({ id: ids[i] as string, binRanges: [String(400000 + i)], boxPublicKey: (boxes[i] as BoxKeyPair).publicKey }));
    const cards = recipients.map((r) => ({ bin: r.binRanges[0] as string }));
    const sender = new IssuerNoticeKeys(origin, (id) => keyOf.get(id));
    const half = Math.ceil(n / 2);
    const build = (keys: IssuerNoticeKeys): IssuerNotice[] =>
      n <= 64
        ? buildIssuerNotices(cards, recipients, keys)
        : [...buildIssuerNotices(cards.slice(0, half), recipients.slice(0, half), keys), ...buildIssuerNotices(cards.slice(half), recipients.slice(half), keys)].sort((a, b) => Buffer.compare(a.tag, b.tag));
    const notices: IssuerNotice[] = build(sender);
    // The issuer whose notice sorts last (worst case for a scan), and one with none.
    const readers = boxes.map((box) => new IssuerNoticeKeys(box, (id) => keyOf.get(id)));
    const lastIndex = recipients.findIndex((_, i) => {
      const found = openIssuerNotice(notices.slice(-1), 'psp-c', ids[i] as string, n, readers[i] as IssuerNoticeKeys);
      return Array.isArray(found);
    });
    const last = readers[lastIndex] as IssuerNoticeKeys;
    const lastBox = boxes[lastIndex] as BoxKeyPair;
    const outsider = readers[n] as IssuerNoticeKeys;
    const outsiderBox = boxes[n] as BoxKeyPair;
    last.tagKeyFrom('psp-c');
    outsider.tagKeyFrom('psp-c');
    const trial = (box: BoxKeyPair) => {
      for (const notice of notices) {
        const plaintext = openSealed(notice.sealed, box);
        if (plaintext) return decodeNoticeIndexes(plaintext, n);
      }
      return undefined;
    };
    if (trial(lastBox) === undefined || trial(outsiderBox) !== undefined) throw new Error('trial opening does not find the notice');
    const ms = {
      seal: perCall(() => build(sender)),
      sealCold: perCall(() => build(new IssuerNoticeKeys(origin, (id) => keyOf.get(id)))),
      recogniseNone: perCall(() => openIssuerNotice(notices, 'psp-c', `issuer-${n}`, n, outsider)),
      recogniseOpen: perCall(() => openIssuerNotice(notices, 'psp-c', ids[lastIndex] as string, n, last)),
      trialNone: perCall(() => trial(outsiderBox)),
      trialLast: perCall(() => trial(lastBox)),
      validate: perCall(() => validateIssuerNotices(notices.slice(0, 64), 'INDICATOR_KIND_COMPROMISED_CARD', n, 'issuerNotices')),
    };
    const f = (v: number) => (v < 1 ? `${(v * 1000).toFixed(1)} µs` : `${v.toFixed(2)} ms`);
    rows.push({
      'notices/entry': String(n),
      seal: f(ms.seal),
      'seal, cold keys': f(ms.sealCold),
      'recognise: none': f(ms.recogniseNone),
      'recognise+open': f(ms.recogniseOpen),
      'trial: none': f(ms.trialNone),
      'trial: last': f(ms.trialLast),
      validate: f(ms.validate),
      'bytes/notice': String((notices[0]?.sealed.length ?? 0) + 16),
    });
  }
  console.table(rows);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
