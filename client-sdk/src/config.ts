import * as fs from 'node:fs';
import { z } from 'zod';
import { MamoriClientError } from './errors';
import { issueField, OPTION_SCHEMAS, type ClientOptions } from './options';

/**
 * client.json: everything a client needs to reach its member's node, and optionally how it
 * checks. The options' bounds and defaults live in options.ts (OPTION_SCHEMAS, DEFAULTS), not
 * here, so a file and code agree.
 */
export const clientConfigSchema = z
  .object({
    member: z.string().regex(/^[a-z0-9-]{3,32}$/, 'expected a member id: 3-32 characters of a-z, 0-9 and -'),
    target: z.string().regex(/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7101')
    .refine((v) => !/:\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { message: 'expected a port from 0 to 65535' }),
    token: z.string().min(16, 'expected the client token written by mamori dev-consortium'),
    /** Budget of one check in ms. */
    deadlineMs: OPTION_SCHEMAS.deadlineMs.optional(),
    /** Deadline of publish, retract, status in ms. */
    adminDeadlineMs: OPTION_SCHEMAS.adminDeadlineMs.optional(),
    mode: OPTION_SCHEMAS.mode.optional(),
    failMode: OPTION_SCHEMAS.failMode.optional(),
    batch: OPTION_SCHEMAS.batch.optional(),
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
    const problems = parsed.error.issues.map((i) => `${issueField(i) || '(top level)'}: ${i.message}`);
    throw new MamoriClientError('CONFIG', `${file}: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** The connect options a client.json stands for. */
export function configToOptions(config: ClientConfig): ClientOptions {
  const { member: _member, ...options } = config;
  return options;
}
