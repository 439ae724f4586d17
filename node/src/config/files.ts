import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import { ConfigError } from './errors';

/** Reads and validates a JSON file; every problem names the file and the field. */
export function readJsonFile<T extends z.ZodType>(file: string, schema: T): z.infer<T> {
  return parseJsonValue(file, readJsonValue(file), schema);
}

/** Validates an already-read JSON value of a file. */
export function parseJsonValue<T extends z.ZodType>(file: string, json: unknown, schema: T): z.infer<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw ConfigError.fromZod(file, parsed.error);
  return Object.freeze(parsed.data) as z.infer<T>;
}

/** Reads a JSON file as written (no defaults filled in): what a signature covers. */
export function readJsonValue(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (error) {
    throw new ConfigError(file, [`is not valid JSON (${(error as Error).message})`]);
  }
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
