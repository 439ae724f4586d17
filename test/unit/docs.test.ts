// The documentation stays usable and true to the code: the README is a short front door,
// every relative link in it and in docs/ leads to a file (and, into a docs page, to an
// anchor that exists), the code cites the design in docs/ and nothing outside the
// repository, every repository path named in backticks exists, and docs/operations.md names
// every field of the node config schema.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tryItText } from '../../node/src/cli/dev-run';
import { nodeConfigSchema } from '../../node/src/config/schemas';

const ROOT = path.resolve(__dirname, '../../..');
const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');

const read = (file: string): string => fs.readFileSync(file, 'utf8');

function docsPages(): string[] {
  return fs
    .readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(DOCS, f));
}

/** Markdown without fenced code blocks and inline code, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** Targets of inline links `[text](target)`, titles dropped. */
function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a page offers: explicit `<a id>` / `<a name>` and heading slugs. */
function anchorsOf(file: string): Set<string> {
  const text = read(file);
  const anchors = new Set<string>();
  for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1] as string);
  for (const m of prose(text).matchAll(/^#{1,6}\s+(.+)$/gm)) anchors.add(slug(m[1] as string));
  return anchors;
}

/** Files under a folder (node_modules and generated output left out). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

type ZodNode = { def?: { type?: string; innerType?: unknown; shape?: Record<string, unknown> } };

/** The object schema under optional / default / prefault wrappers, if it is one. */
function objectShape(schema: unknown): Record<string, unknown> | undefined {
  let node = schema as ZodNode;
  while (node?.def?.innerType !== undefined) node = node.def.innerType as ZodNode;
  return node?.def?.type === 'object' ? node.def.shape : undefined;
}

/** Dotted paths of every leaf field of a zod object schema (`filter.capacity`, `limits.rates.checks.burst`, …). */
function fieldPaths(schema: unknown, prefix = ''): string[] {
  const shape = objectShape(schema);
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, child]) => {
    const here = prefix ? `${prefix}.${key}` : key;
    return objectShape(child) ? fieldPaths(child, here) : [here];
  });
}

describe('docs: README, docs/ and the code agree', function () {
  it('keeps the README under 25 KB', () => {
    const bytes = fs.statSync(README).size;
    expect(bytes, 'README.md size in bytes').to.be.below(25 * 1024);
  });

  it('has the docs pages the README maps', () => {
    for (const page of ['design.md', 'operations.md', 'security.md', 'sdk.md', 'benchmarks.md']) {
      expect(fs.existsSync(path.join(DOCS, page)), `docs/${page}`).to.equal(true);
      expect(read(README), `README links docs/${page}`).to.include(`(docs/${page}`);
    }
  });

  it('points every relative link of the README and docs/ at an existing file, and every #anchor into docs/ at a heading', () => {
    const broken: string[] = [];
    for (const file of [README, ...docsPages()]) {
      for (const target of linkTargets(read(file))) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
        const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
        const where = `${path.relative(ROOT, file)} → ${target}`;
        if (!resolved.startsWith(ROOT + path.sep)) {
          broken.push(`${where}: outside the repository`);
          continue;
        }
        if (!fs.existsSync(resolved)) {
          broken.push(`${where}: no such file`);
          continue;
        }
        const intoDocs = path.dirname(resolved) === DOCS || resolved === README;
        if (anchor !== undefined && intoDocs && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) {
          broken.push(`${where}: no such heading or anchor`);
        }
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it('names only repository paths that exist when it puts one in backticks (node/, client-sdk/, proto/, test/, scripts/, docs/)', () => {
    const missing: string[] = [];
    for (const file of [README, ...docsPages()]) {
      const text = read(file).replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
      for (const m of text.matchAll(/`((?:node|client-sdk|proto|test|scripts|docs)\/[^`\s]*)`/g)) {
        // A citation may point into the file: an #anchor of a page, a :line of a test.
        const cited = (m[1] as string).replace(/#.*$/, '').replace(/:\d+(?:-\d+)?$/, '');
        if (!fs.existsSync(path.join(ROOT, cited))) missing.push(`${path.relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(missing, 'backticked paths that do not exist').to.deep.equal([]);
  });

  it('leaves no citation of a design file outside the repository in node/, client-sdk/, proto/ or the README', () => {
    const files = [README, ...['node', 'client-sdk', 'proto'].flatMap((dir) => walk(path.join(ROOT, dir)))];
    const citing = files.filter((file) => read(file).includes('DESIGN.md')).map((file) => path.relative(ROOT, file));
    expect(citing).to.deep.equal([]);
  });

  it('cites only anchors that docs/design.md has', () => {
    const anchors = anchorsOf(path.join(DOCS, 'design.md'));
    const files = ['node', 'client-sdk', 'proto', 'scripts', 'test'].flatMap((dir) => walk(path.join(ROOT, dir)));
    const unknown: string[] = [];
    for (const file of files) {
      for (const m of read(file).matchAll(/docs\/design\.md#([A-Za-z0-9_-]+)/g)) {
        if (!anchors.has(m[1] as string)) unknown.push(`${path.relative(ROOT, file)}: #${m[1]}`);
      }
    }
    expect(unknown).to.deep.equal([]);
  });

  it('puts no card number on a command line: the README, docs/ and what `npm start` suggests pipe it into `-`', () => {
    const luhn = (digits: string) => {
      let sum = 0;
      for (let i = 0; i < digits.length; i++) {
        let d = Number(digits[digits.length - 1 - i]);
        if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
      }
      return sum % 10 === 0;
    };
    const texts: [string, string][] = [
      ...[README, ...docsPages()].map((file): [string, string] => [path.relative(ROOT, file), read(file)]),
      ['npm start', tryItText({ pspClientConfig: 'psp-c/client.json', acquirerClientConfig: 'acquirer-b/client.json', sample: 'sample-leaked-cards.csv' })],
    ];
    const offending: string[] = [];
    for (const [where, text] of texts) {
      for (const line of text.split('\n')) {
        if (!/\bmamori\s/.test(line)) continue;
        // A card argument other than "-" (standard input): a number, a quoted string, a $(…) substitution.
        if (/mamori\s+(check|publish|retract)\s+card\s+(?!-(\s|`|$))\S/.test(line) || /mamori\s+report\s+sighting\s+(?!-(\s|`|$))\S/.test(line)) offending.push(`${where}: ${line.trim()}`);
        for (const m of line.matchAll(/\d[\d -]{10,22}\d/g)) {
          const digits = m[0].replace(/[ -]/g, '');
          if (digits.length >= 12 && digits.length <= 19 && luhn(digits)) offending.push(`${where}: a card number in ${line.trim()}`);
        }
      }
    }
    expect(offending).to.deep.equal([]);
    expect(texts[texts.length - 1]?.[1]).to.match(/\| npx mamori check card - --config/);
  });

  it('names every field of the node config schema in docs/operations.md', () => {
    const fields = fieldPaths(nodeConfigSchema);
    expect(fields, 'fields read from the schema').to.include.members(['member', 'filter.capacity', 'limits.rates.checks.burst', 'ownFeedRecovery.required']);
    const operations = read(path.join(DOCS, 'operations.md'));
    const missing = fields.filter((field) => !operations.includes(`\`${field}\``));
    expect(missing, 'node config fields not in docs/operations.md').to.deep.equal([]);
  });
});
