import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from './errors';

/** Reads and validates a JSON file; every problem names the file and the field. */
export function readJsonFile<T extends z.ZodType>(file: string, schema: T): z.infer<T> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(file, [`is not valid JSON (${(error as Error).message})`]);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw ConfigError.fromZod(file, parsed.error);
  return Object.freeze(parsed.data) as z.infer<T>;
}

/** Writes a file only its owner can read: for keys and tokens. */
export function writeSecretFile(file: string, contents: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, contents, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

export function writeJsonFile(file: string, value: unknown, secret = false): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (secret) writeSecretFile(file, text);
  else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
}

/** Paths in a config file are relative to the file's own folder. */
export function resolveFrom(file: string, target: string): string {
  return path.resolve(path.dirname(file), target);
}
