// PRAGMA quick_check off the node's thread (quick-check-worker.ts), once per scrub pass.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** The problems quick_check reports (empty: the database is sound). Rejects when it cannot run. */
export function quickCheck(file: string, maxErrors = 20): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(__dirname, 'quick-check-worker.js'), { workerData: { file, maxErrors } });
    let settled = false;
    worker.once('message', (message: { problems: string[] } | { error: string }) => {
      settled = true;
      if ('problems' in message) resolve(message.problems);
      else reject(new Error(`quick_check could not run: ${message.error}`));
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`quick_check worker exited with code ${code}`));
    });
  });
}
