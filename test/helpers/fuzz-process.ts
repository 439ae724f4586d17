// The memory of a node process as the kernel sees it (/proc/<pid>/status), for the fault suite.
import * as fs from 'node:fs';
import { waitFor } from './wait';

export function rssBytes(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(text)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

/**
 * The RSS once it moved less than 4 MB over the last 2 s (in-flight work and garbage collection
 * done), or the last sample after the timeout. Samples every 250 ms.
 */
export async function waitForSteadyRss(pid: number, timeoutMs = 60_000): Promise<number> {
  const samples: { at: number; rss: number }[] = [];
  const started = Date.now();
  await waitFor(
    () => {
      const at = Date.now();
      samples.push({ at, rss: rssBytes(pid) });
      while ((samples[0] as { at: number }).at < at - 2000) samples.shift();
      const values = samples.map((s) => s.rss);
      return (at - started >= 2000 && Math.max(...values) - Math.min(...values) < 4 * 1024 * 1024) || at - started > timeoutMs;
    },
    `RSS of process ${pid} to settle`,
    timeoutMs + 5000,
    250,
  );
  return (samples[samples.length - 1] as { rss: number }).rss;
}

