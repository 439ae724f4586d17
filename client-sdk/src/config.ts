import * as fs from 'node:fs';
import { z } from 'zod';
import { MamoriClientError } from './errors';

/** client.json: everything a client needs to reach its member's node. */
export const clientConfigSchema = z
  .object({
    member: z.string().regex(/^[a-z0-9-]{3,32}$/, 'expected a member id: 3-32 characters of a-z, 0-9 and -'),
    target: z.string().regex(/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7101')
    .refine((v) => !/:\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { message: 'expected a port from 0 to 65535' }),
    token: z.string().min(16, 'expected the client token written by mamori dev-consortium'),
    deadlineMs: z.number().int().min(1).max(600_000).default(5_000),
  })
  .strict();

export type ClientConfig = z.infer<typeof clientConfigSchema>;

export function readClientConfig(file: string): ClientConfig {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new MamoriClientError('CONFIG', `${file}: cannot be read as JSON (${(error as Error).message})`);
  }
  const parsed = clientConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new MamoriClientError('CONFIG', `${file}: ${problems.join('; ')}`);
  }
  return parsed.data;
}
