// This node's member certificate over its lifetime (docs/operations.md#certificate-lifecycle):
// its expiry shown in status and metrics and warned of in the log from 30 days before, and a
// renewed certificate (mamori consortium renew-cert, installed by mamori member join) taken
// without a restart. The certificate and key files are polled; a new pair is checked — it names
// this member, comes from the consortium CA, certifies the key beside it, is valid now — and
// then presented by the peer server on every new connection and used for every new dial.
// Connections already open keep the old certificate: both are valid during the overlap, and
// peers accept either (they check the CA and the member, not one certificate). A pair that
// fails a check is refused, logged and audited, and the certificate in force stays.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { inspectMemberCertificate } from '../crypto/certificates';
import type { TlsFiles, TlsIdentity, TlsMaterial } from '../rpc/peer-credentials';

const DAY_MS = 86_400_000;
/** From this many days before expiry the node warns: status, metrics and the log. */
export const EXPIRY_WARNING_DAYS = 30;

export type CertificateState = 'valid' | 'expiring' | 'expired';

export interface CertificateStatus {
  notAfterMs: number;
  /** Whole days until expiry, rounded down; negative once expired. */
  daysLeft: number;
  state: CertificateState;
  /** Renewed certificates taken since start. */
  renewals: number;
  renewedAtMs: number;
  /** Certificate files refused since start, and the last reason. */
  refused: number;
  lastRefusal: string;
}

export interface CertificateWatchPorts {
  member: string;
  files: TlsFiles;
  identity: TlsIdentity;
  pollMs: number;
  audit: { record(actor: string, action: string, details?: object): void };
  log: Logger;
  now?: () => number;
}

export class CertificateWatch {
  private notAfterMs: number;
  private renewals = 0;
  private renewedAtMs = 0;
  private refused = 0;
  private lastRefusal = '';
  private lastWarnedMs = 0;
  private lastState: CertificateState | undefined;
  private stamp: string;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;

  private constructor(
    private readonly ports: CertificateWatchPorts,
    notAfterMs: number,
  ) {
    this.notAfterMs = notAfterMs;
    this.stamp = this.fileStamp();
  }

  /** Reads the certificate in force (the one the identity holds) and warns at once if it expires soon. */
  static async open(ports: CertificateWatchPorts): Promise<CertificateWatch> {
    const current = ports.identity.current;
    const facts = await inspectMemberCertificate(current.cert.toString('utf8'), current.ca.toString('utf8'), current.key.toString('utf8'));
    const watch = new CertificateWatch(ports, facts.notAfterMs);
    watch.warnIfDue();
    return watch;
  }

  private now(): number {
    return (this.ports.now ?? Date.now)();
  }

  status(): CertificateStatus {
    const left = this.notAfterMs - this.now();
    return {
      notAfterMs: this.notAfterMs,
      daysLeft: Math.floor(left / DAY_MS),
      state: left <= 0 ? 'expired' : left <= EXPIRY_WARNING_DAYS * DAY_MS ? 'expiring' : 'valid',
      renewals: this.renewals,
      renewedAtMs: this.renewedAtMs,
      refused: this.refused,
      lastRefusal: this.lastRefusal,
    };
  }

  /** Starts polling the files; returns the stop. */
  start(): () => void {
    this.timer = setInterval(() => void this.poll(), this.ports.pollMs);
    this.timer.unref();
    return () => clearInterval(this.timer);
  }

  /** One poll: a changed pair of files is checked and taken or refused; the expiry warning is repeated daily. */
  async poll(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const stamp = this.fileStamp();
      if (stamp !== this.stamp) {
        this.stamp = stamp;
        await this.consider();
      }
      this.warnIfDue();
    } finally {
      this.checking = false;
    }
  }

  private fileStamp(): string {
    const { certFile, keyFile, caFile } = this.ports.files;
    try {
      return [certFile, keyFile, caFile].map((f) => `${fs.statSync(f).mtimeMs}:${fs.statSync(f).size}`).join('|');
    } catch {
      return 'unreadable';
    }
  }

  private async consider(): Promise<void> {
    const { files, member, log, audit, identity } = this.ports;
    let material: TlsMaterial;
    try {
      material = { ca: fs.readFileSync(files.caFile), cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) };
    } catch (error) {
      return this.refuse(`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (material.cert.equals(identity.current.cert) && material.key.equals(identity.current.key) && material.ca.equals(identity.current.ca)) return;
    let facts: Awaited<ReturnType<typeof inspectMemberCertificate>>;
    try {
      facts = await inspectMemberCertificate(material.cert.toString('utf8'), material.ca.toString('utf8'), material.key.toString('utf8'));
    } catch (error) {
      return this.refuse(`is not a PEM certificate and key (${(error as Error).message.slice(0, 120)})`);
    }
    // The CA may not change under a running node: its peers pin the CA they were started with.
    if (!material.ca.equals(identity.current.ca)) return this.refuse('the CA file changed; a new consortium CA needs a restart');
    if (facts.memberId !== member) return this.refuse(`names member "${facts.memberId ?? '(none)'}", not "${member}"`);
    if (!facts.issuedByCa) return this.refuse('is not signed by the consortium CA');
    if (!facts.matchesKey) return this.refuse('does not certify the key in the key file (certificate and key installed out of step?)');
    if (facts.notAfterMs <= this.now()) return this.refuse(`expired at ${new Date(facts.notAfterMs).toISOString()}`);
    const previousNotAfterMs = this.notAfterMs;
    identity.update(material);
    this.notAfterMs = facts.notAfterMs;
    this.renewals++;
    this.renewedAtMs = this.now();
    this.lastState = undefined; // a renewed certificate starts its own warnings
    log.info({ notAfter: new Date(facts.notAfterMs).toISOString(), previousNotAfter: new Date(previousNotAfterMs).toISOString() }, 'member certificate renewed: presented on new connections from now on');
    audit.record('node', 'certificate.renewed', { notAfterMs: facts.notAfterMs, previousNotAfterMs });
  }

  private refuse(reason: string): void {
    this.refused++;
    this.lastRefusal = `${this.ports.files.certFile}: ${reason}`;
    this.ports.log.error({ file: this.ports.files.certFile, reason }, 'new member certificate refused; the one in force stays');
    this.ports.audit.record('node', 'certificate.refused', { reason });
  }

  /** Warns when the state changes and then once a day while expiring or expired. */
  private warnIfDue(): void {
    const s = this.status();
    if (s.state === 'valid') {
      this.lastState = s.state;
      return;
    }
    const now = this.now();
    if (s.state === this.lastState && now - this.lastWarnedMs < DAY_MS) return;
    this.lastState = s.state;
    this.lastWarnedMs = now;
    const notAfter = new Date(s.notAfterMs).toISOString();
    if (s.state === 'expired') {
      this.ports.log.error({ notAfter }, 'member certificate EXPIRED: peers refuse this node; ask the operator for a renewal (mamori consortium renew-cert), then mamori member join');
    } else {
      this.ports.log.warn({ notAfter, daysLeft: s.daysLeft }, `member certificate expires in ${s.daysLeft} days: ask the operator for a renewal (mamori consortium renew-cert), then mamori member join; the running node takes it without a restart`);
    }
  }
}
