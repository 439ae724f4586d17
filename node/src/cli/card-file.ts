// Reads a leaked-card list: a CSV with a `pan` column, or one PAN per line. UTF-8 with or
// without BOM, LF or CRLF. Yields each data line's number and raw PAN field; the field
// is never logged or echoed.
import * as fs from 'node:fs';

export interface CardLine {
  line: number;
  field: string;
}

export type CardFileFormat = { kind: 'csv'; column: number; columns: number } | { kind: 'lines' };

/** Splits one CSV record (RFC 4180 quoting, no line breaks inside quotes). */
export function splitCsvRecord(record: string): string[] {
  if (!record.includes('"')) return record.split(',');
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const c = record[i];
    if (quoted) {
      if (c === '"' && record[i + 1] === '"') {
        current += '"';
        i++;
      } else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current);
  return fields;
}

/** Decides the format from the first non-empty line. */
export function detectFormat(firstLine: string): CardFileFormat | { error: string } {
  const fields = splitCsvRecord(firstLine).map((f) => f.trim().toLowerCase());
  const column = fields.indexOf('pan');
  if (column >= 0) return { kind: 'csv', column, columns: fields.length };
  if (fields.length > 1 && fields.some((f) => /[a-z]/.test(f))) {
    // Column names are shown only when none holds a digit: a data line must never be echoed.
    const names = fields.some((f) => /[0-9]/.test(f)) ? '' : ` (columns: ${fields.join(', ')})`;
    return { error: `the first line has ${fields.length} columns and none is named "pan"${names}; add a header line with a pan column` };
  }
  return { kind: 'lines' };
}

/**
 * Streams the card lines of a file. Reading pauses while the consumer is busy, so memory
 * stays bounded on a file of millions of rows. onBytes reports progress.
 */
export async function* readCardFile(
  file: string,
  onFormat: (format: CardFileFormat) => void,
  onBytes: (bytesRead: number) => void = () => undefined,
): AsyncGenerator<CardLine[]> {
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  let carry = '';
  let lineNumber = 0;
  let bytes = 0;
  let format: CardFileFormat | undefined;
  let first = true;
  const decoder = new TextDecoder('utf-8');

  const take = (raw: string, out: CardLine[]) => {
    lineNumber++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (!format) {
      if (text.trim() === '') return;
      const detected = detectFormat(text);
      if ('error' in detected) throw new Error(`line ${lineNumber}: ${detected.error}`);
      format = detected;
      onFormat(format);
      if (format.kind === 'csv') return; // the header line
    }
    if (format.kind === 'lines') {
      if (text.trim() !== '') out.push({ line: lineNumber, field: text.trim() });
      return;
    }
    if (text.trim() === '') return;
    const fields = splitCsvRecord(text);
    out.push({ line: lineNumber, field: (fields[format.column] ?? '').trim() });
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    let text = decoder.decode(chunk, { stream: true });
    if (first) {
      text = text.replace(/^\uFEFF/, '');
      first = false;
    }
    const parts = (carry + text).split('\n');
    carry = parts.pop() ?? '';
    const out: CardLine[] = [];
    for (const part of parts) take(part, out);
    onBytes(bytes);
    if (out.length > 0) yield out;
  }
  const out: CardLine[] = [];
  const rest = carry + decoder.decode();
  if (rest !== '') take(rest, out);
  if (out.length > 0) yield out;
}
