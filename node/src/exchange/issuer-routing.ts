// The member-local end of card-listing routing: a client's Publish carries each card's BIN to
// its own node only; the node seals to every other member with BIN ranges the indexes of its
// cards, tagged so that only that member recognises its notice (ledger/issuer-notices.ts), and
// signs the publication without a single BIN.
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import { issuerNoticeTagKey } from '../../../proto/ts/trust/domains';
import type { BoxKeyPair } from '../crypto/epochs';
import { boxSharedSecret, openSealed } from '../crypto/sealed-box';
import { buildIssuerNotices, type NoticeReader, type NoticeRecipient, type NoticeSender } from '../ledger/issuer-notices';
import type { Consortium } from '../membership/consortium';

/** Current members other than `self` that own BIN ranges, with the X25519 key notices are sealed to. */
export function noticeRecipients(consortium: Consortium, self: string): NoticeRecipient[] {
  return consortium
    .currentMembers()
    .filter((m) => m.id !== self && m.binRanges.length > 0)
    .map((m) => ({ id: m.id, binRanges: m.binRanges, boxPublicKey: Buffer.from(m.boxPublicKey, 'base64') }));
}

/** Tag keys derived once per pair of box keys: one X25519 (~0.3 ms in WebAssembly) instead of one per notice. */
const MAX_CACHED_TAG_KEYS = 4096;

/**
 * This member's issuer-notice keys: the tag key it shares with each other member (static X25519
 * of the two box keys, both directions), and its box key to open notices. `boxPublicKeyOf` gives
 * any member's box key in the file in force, former members included (their entries stay).
 */
export class IssuerNoticeKeys implements NoticeSender, NoticeReader {
  private readonly tagKeys = new Map<string, Uint8Array | undefined>();

  constructor(
    private readonly box: BoxKeyPair,
    private readonly boxPublicKeyOf: (member: string) => Uint8Array | undefined,
  ) {}

  /** From the consortium file in force (read at each call: a new file takes effect at once). */
  static forMember(box: BoxKeyPair, consortium: () => Consortium): IssuerNoticeKeys {
    return new IssuerNoticeKeys(box, (id) => {
      const m = consortium().document.members.find((member) => member.id === id);
      return m ? Buffer.from(m.boxPublicKey, 'base64') : undefined;
    });
  }

  tagKeyTo(recipientBoxPublicKey: Uint8Array): Uint8Array {
    const key = this.derive(this.box.publicKey, recipientBoxPublicKey, recipientBoxPublicKey);
    if (!key) throw new Error('an issuer\'s box public key is of low order; the consortium file is damaged');
    return key;
  }

  tagKeyFrom(origin: string): Uint8Array | undefined {
    const originKey = this.boxPublicKeyOf(origin);
    return originKey && this.derive(originKey, this.box.publicKey, originKey);
  }

  open(sealed: Buffer): Uint8Array | undefined {
    return openSealed(sealed, this.box);
  }

  private derive(sender: Uint8Array, recipient: Uint8Array, peer: Uint8Array): Uint8Array | undefined {
    const id = `${Buffer.from(sender).toString('base64')}>${Buffer.from(recipient).toString('base64')}`;
    if (this.tagKeys.has(id)) return this.tagKeys.get(id);
    const shared = boxSharedSecret(this.box.secretKey, peer);
    const key = shared && issuerNoticeTagKey(shared, sender, recipient);
    if (this.tagKeys.size >= MAX_CACHED_TAG_KEYS) this.tagKeys.clear();
    this.tagKeys.set(id, key);
    return key;
  }
}

/** The publication as it is signed: compromised cards' BINs become issuer notices; no indicator keeps a BIN. */
export function routeToIssuers(publication: PublishIndicators__Output, recipients: () => NoticeRecipient[], sender: NoticeSender): PublishIndicators__Output {
  const carriesBins = publication.indicators.some((indicator) => (indicator.bin ?? '') !== '');
  const issuerNotices =
    carriesBins && publication.kind === 'INDICATOR_KIND_COMPROMISED_CARD' ? buildIssuerNotices(publication.indicators, recipients(), sender) : [];
  const indicators = carriesBins ? publication.indicators.map((indicator) => ({ ...indicator, bin: '' })) : publication.indicators;
  return { ...publication, indicators, issuerNotices };
}
