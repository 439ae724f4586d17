// Merchant watch re-examination against a real SQLite store: at start-up and when a merchant
// is added, only entries received in the last 24 hours are read back, so an alert pruned by
// retention is never raised again under a new id; a damaged stored body is logged (origin and
// seq) and skipped, and the others are still examined.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { MerchantWatch } from '../../node/src/detection/merchant-watch';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { signNextEntry } from '../../node/src/ledger/entry';
import { AlertStore } from '../../node/src/store/alert-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { WatchStore } from '../../node/src/store/watch-store';
import { sodiumReady } from '../../proto/ts/sodium';
import { tempDir } from '../helpers/node-harness';
import { digest, makeMember, MemoryLedger, merchantPublication, type TestMember } from '../helpers/unit';
import { waitFor } from '../helpers/wait';

class Commits extends EventEmitter<{ committed: [entries: readonly AcceptedEntry[]] }> {}

const DAY_MS = 24 * 60 * 60 * 1000;

describe('unit: merchant watch re-examination', () => {
  let lister: TestMember;
  let ledger: MemoryLedger;
  let store: LedgerStore;
  let logged: string[];
  const watchedDomain = digest();

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    lister = makeMember('acquirer-d', ['acquirer']);
    ledger = new MemoryLedger([lister, makeMember('acquirer-b', ['acquirer'])]);
    store = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
    logged = [];
  });
  afterEach(() => store.close());

  /** acquirer-d lists a merchant named by `domain`, stored as received at `receivedAtMs`. */
  const list = (reason: string, receivedAtMs = Date.now(), domain = watchedDomain): AcceptedEntry => {
    const publication = merchantPublication({
      reason: reason as never,
      indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: domain }], bin: '' }],
    });
    const entry = ledger.accept(signNextEntry(lister.id, ledger.head(lister.id), 1, { publishIndicators: publication }, lister.keys.secretKey));
    store.append(entry, receivedAtMs);
    return entry;
  };
  const watchStore = () => new WatchStore(store.db);
  const watchDomain = (domain = watchedDomain) => watchStore().update([{ digest: domain, type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' }], false, 1);
  const log = () =>
    pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logged.push(chunk.toString());
          done();
        },
      }),
    );
  const watcher = () => new MerchantWatch(watchStore(), new AlertStore(store.db), 'acquirer-b', log());
  const alertReasons = () => new AlertStore(store.db).alertsAfter('acquirer-b', 0, 100).map((a) => a.payload.reason);

  it('raises at start-up only what entries of the last 24 hours name: an alert pruned by retention is not raised again', async () => {
    watchDomain();
    const old = list('REASON_CODE_LAUNDERING', Date.now() - 3 * DAY_MS);
    const first = watcher();
    const commits = new Commits();
    const detach = first.attach(commits);
    commits.emit('committed', [old]);
    expect(await first.reexamined, 'entries received in the last 24 hours').to.equal(0);
    expect(alertReasons()).to.deep.equal(['REASON_CODE_LAUNDERING']);
    detach();

    // Days later the alert is pruned (alerts.retentionDays); a listing then commits, and the node stops before alerting it.
    expect(new AlertStore(store.db).pruneAlerts(Date.now() + 1)).to.equal(1);
    list('REASON_CODE_EXCESSIVE_FRAUD');

    const restarted = watcher();
    restarted.attach(new Commits());
    expect(await restarted.reexamined).to.equal(1);
    expect(alertReasons(), 'the recent listing alerted; the pruned one not again').to.deep.equal(['REASON_CODE_EXCESSIVE_FRAUD']);

    // Adding a merchant re-examines recent entries only: its old listing raises nothing.
    const added = digest();
    list('REASON_CODE_COLLUSION', Date.now() - 2 * DAY_MS, added);
    list('REASON_CODE_IDENTITY_THEFT', Date.now(), added);
    expect(restarted.update([{ digest: added, type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' }], false, 1)).to.equal(2);
    expect(await restarted.reexamined, 'the two recent entries naming a watched merchant').to.equal(2);
    expect(alertReasons()).to.deep.equal(['REASON_CODE_EXCESSIVE_FRAUD', 'REASON_CODE_IDENTITY_THEFT']);
  });

  it('logs a damaged stored body by origin and seq and goes on with the other entries', async () => {
    watchDomain();
    const reasons = ['REASON_CODE_LAUNDERING', 'REASON_CODE_COLLUSION', 'REASON_CODE_BANKRUPTCY'];
    for (const reason of reasons) list(reason);
    const damaged = Buffer.from([0x0f]); // a field key with wire type 7, which no protobuf parser reads
    store.db.prepare('UPDATE entries SET body = ? WHERE seq = 2').run(damaged);

    const watch = watcher();
    watch.attach(new Commits());
    expect(await watch.reexamined).to.equal(3);
    expect(alertReasons()).to.deep.equal(['REASON_CODE_LAUNDERING', 'REASON_CODE_BANKRUPTCY']);
    const line = await waitFor(() => logged.find((l) => l.includes('could not be re-examined')), 'the damaged-entry log line');
    expect(JSON.parse(line)).to.include({ origin: 'acquirer-d', seq: 2 });
    expect(line).to.not.include(watchedDomain.toString('hex'));
    expect(line).to.not.include(watchedDomain.toString('base64'));
  });
});
