import * as fs from 'node:fs';
import { z } from 'zod';
import { MamoriClientError } from './errors';
import { MAX_BATCH, type ClientOptions } from './options';

/**
 * client.json: everything a client needs to reach its member's node, and optionally how it
 * checks. Defaults live in options.ts (DEFAULTS), not here, so a file and code agree.
 */
export const clientConfigSchema = z
  .object({
    member: z.string().regex(/^[a-z0-9-]{3,32}$/, 'expected a member id: 3-32 characters of a-z, 0-9 and -'),
    target: z.string().regex(/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7101')
    .refine((v) => !/:\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { message: 'expected a port from 0 to 65535' }),
    token: z.string().min(16, 'expected the client token written by mamori dev-consortium'),
    /** Budget of one check in ms. */
    deadlineMs: z.number().int().min(1).max(600_000).optional(),
    /** Deadline of publish, retract, status in ms. */
    adminDeadlineMs: z.number().int().min(1).max(600_000).optional(),
    mode: z.enum(['mirror', 'remote']).optional(),
    failMode: z.enum(['open', 'closed']).optional(),
    batch: z
      .object({
        windowMs: z.number().min(0).max(1000).optional(),
        maxSize: z.number().int().min(1).max(MAX_BATCH).optional(),
        maxInFlight: z.number().int().min(1).max(1024).optional(),
      })
      .strict()
      .optional(),
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

/** The connect options a client.json stands for. */
export function configToOptions(config: ClientConfig): ClientOptions {
  const { member: _member, ...options } = config;
  return options;
}
