import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { MamoriClientError } from './errors';
import { issueField, OPTION_SCHEMAS, type ClientOptions } from './options';
import { mutualTlsCredentials } from './transport';

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
    /**
     * Mutual TLS to a node that serves its member API beyond loopback (node.json apiTls): the CA
     * the node's certificate chains to, this client's certificate and key, and optionally the
     * name to verify in the node's certificate instead of the target's host. Paths are relative
     * to the client.json.
     */
    tls: z
      .object({
        caFile: z.string().min(1),
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        serverName: z.string().regex(/^[A-Za-z0-9.\-:]+$/, 'expected a DNS name or an IP address').optional(),
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
    const problems = parsed.error.issues.map((i) => `${issueField(i) || '(top level)'}: ${i.message}`);
    throw new MamoriClientError('CONFIG', `${file}: ${problems.join('; ')}`);
  }
  const { tls } = parsed.data;
  if (!tls) return parsed.data;
  const resolve = (target: string) => path.resolve(path.dirname(file), target);
  return { ...parsed.data, tls: { ...tls, caFile: resolve(tls.caFile), certFile: resolve(tls.certFile), keyFile: resolve(tls.keyFile) } };
}

/** The connect options a client.json stands for; its TLS files are read here. */
export function configToOptions(config: ClientConfig, file = 'client.json'): ClientOptions {
  const { member: _member, tls, ...options } = config;
  if (!tls) return options;
  const read = (field: 'caFile' | 'certFile' | 'keyFile'): Buffer => {
    try {
      return fs.readFileSync(tls[field]);
    } catch (error) {
      throw new MamoriClientError('CONFIG', `${file}: tls.${field}: ${tls[field]} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return { ...options, credentials: mutualTlsCredentials({ ca: read('caFile'), cert: read('certFile'), key: read('keyFile'), serverName: tls.serverName }) };
}
