// Printing results for people and, with --json, for scripts.
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      }
      return v;
    },
    2,
  );
}

export function shortName(enumValue: string, prefix: string): string {
  return enumValue.startsWith(prefix) ? enumValue.slice(prefix.length).toLowerCase().replace(/_/g, '-') : enumValue;
}

export function isoDate(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-';
}
