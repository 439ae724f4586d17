import type { z } from 'zod';

/** A configuration mistake: names the file, the field and what was expected. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }

  static fromZod(file: string, error: z.ZodError): ConfigError {
    return new ConfigError(
      file,
      error.issues.map((issue) => {
        const field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
        return `${field}: ${issue.message}`;
      }),
    );
  }
}
