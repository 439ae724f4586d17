// Membership changes without a restart: the consortium file is polled; a valid newer version
// replaces the one in force, and every reload or refusal is audited.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/node-config';
import { describeConsortiumChange, refusalReason } from '../membership/consortium-change';
import { Consortium } from '../membership/consortium';
import type { MemberState } from '../membership/member-state';

export interface ConsortiumReloadPorts {
  membership: MemberState;
  audit: { record(actor: string, action: string, details?: object): void };
  log: Logger;
  /** Called after a newer file took effect (peers to follow, key epochs to acknowledge). */
  changed(): void;
}

/** Starts polling; returns the stop. */
export function watchConsortiumFile(config: Pick<NodeConfig, 'consortiumFile' | 'operatorPublicKey' | 'consortiumPollMs'>, ports: ConsortiumReloadPorts): () => void {
  const { membership, audit, log } = ports;
  let lastMtime = fs.statSync(config.consortiumFile).mtimeMs;
  const reload = () => {
    try {
      const mtime = fs.statSync(config.consortiumFile).mtimeMs;
      if (mtime === lastMtime) return;
      lastMtime = mtime;
      const next = Consortium.load(config.consortiumFile, config.operatorPublicKey);
      if (next.document.version <= membership.consortium.document.version) {
        log.warn({ version: next.document.version }, 'consortium file not newer than the one in force; ignored');
        audit.record('node', 'consortium.refused', {
          versionInForce: membership.consortium.document.version,
          version: next.document.version,
          reason: 'not newer than the version in force',
        });
        return;
      }
      const change = describeConsortiumChange(membership.consortium, next);
      membership.replace(next);
      log.info({ version: next.document.version, members: next.currentMembers().map((m) => m.id) }, 'consortium file reloaded');
      audit.record('node', 'consortium.reload', change);
      ports.changed();
    } catch (error) {
      log.error({ err: error }, 'new consortium file refused; the one in force stays');
      audit.record('node', 'consortium.refused', { versionInForce: membership.consortium.document.version, reason: refusalReason(error) });
    }
  };
  const poll = setInterval(reload, config.consortiumPollMs);
  poll.unref();
  return () => clearInterval(poll);
}
