// Membership changes without a restart, from the node's own file: the consortium file is
// polled and handed to the intake (membership/consortium-intake.ts), which takes a valid newer
// version and audits every change or refusal. Documents handed over by peers go through the
// same intake, which writes them over this file: the poll then finds the version in force and
// says nothing.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config/node-config';
import type { ConsortiumIntake } from '../membership/consortium-intake';

/** Starts polling; returns the stop. */
export function watchConsortiumFile(config: Pick<NodeConfig, 'consortiumFile' | 'consortiumPollMs'>, intake: ConsortiumIntake, log: Logger): () => void {
  let lastMtime = fs.statSync(config.consortiumFile).mtimeMs;
  const reload = () => {
    let text: Buffer;
    try {
      const mtime = fs.statSync(config.consortiumFile).mtimeMs;
      if (mtime === lastMtime) return;
      lastMtime = mtime;
      text = fs.readFileSync(config.consortiumFile);
    } catch (error) {
      log.error({ err: error, file: config.consortiumFile }, 'consortium file cannot be read; the document in force stays');
      return;
    }
    try {
      intake.offer(text, 'file');
    } catch {
      // refused: counted, logged and audited by the intake
    }
  };
  const poll = setInterval(reload, config.consortiumPollMs);
  poll.unref();
  return () => clearInterval(poll);
}
