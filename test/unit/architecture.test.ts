// The layering rules the compiler does not check: no import cycle among the sources of the
// node, the SDK and the shared protocol code, grpc-js only where the transport lives
// (node/src/rpc/ and the SDK's transport module), and no folder index.ts nobody imports. Imports are read from the .ts sources with
// a small parser of their import/export-from statements, so a new file is covered at once.
//
// Type-only imports (`import type`, `export type … from`) count for both rules: they are
// erased when compiled, but a cycle through types is still two modules that cannot be
// understood apart (store/entry-pages.ts <-> store/ledger-store.ts was one), and a grpc-js type
// outside the transport is grpc-js knowledge leaking out of it.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const SOURCE_ROOTS = ['node/src', 'client-sdk/src', 'proto/ts'];
/** Where '@grpc/grpc-js' may be imported: folders end with '/'. */
const GRPC_ALLOWED = ['node/src/rpc/', 'client-sdk/src/transport.ts'];

export interface ImportRef {
  specifier: string;
  typeOnly: boolean;
}

/** Drops comments and the contents of template literals' text, keeping string literals intact. */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      const start = i++;
      while (i < source.length && source[i] !== c) i += source[i] === '\\' ? 2 : 1;
      out += source.slice(start, ++i);
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The module specifiers of a source's import, export-from, side-effect and dynamic imports. */
export function parseImports(source: string): ImportRef[] {
  const code = stripComments(source);
  const refs: ImportRef[] = [];
  // import x from '…' / import { a, type b } from '…' / import type … from '…' / export … from '…'
  const fromClause = /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?([^;'"`]*?)\s*from\s*(['"])([^'"]+)\4/g;
  for (const m of code.matchAll(fromClause)) {
    const clause = (m[3] ?? '').trim();
    // `import { type A, type B }`: every named binding type-only, no default import.
    const allTypeNamed = /^\{[^}]*\}$/.test(clause) && clause.slice(1, -1).split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '));
    refs.push({ specifier: m[5] as string, typeOnly: m[2] !== undefined || allTypeNamed });
  }
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(['"])([^'"]+)\1/g)) refs.push({ specifier: m[2] as string, typeOnly: false });
  for (const m of code.matchAll(/\b(?:import|require)\s*\(\s*(['"])([^'"]+)\1\s*\)/g)) refs.push({ specifier: m[2] as string, typeOnly: false });
  for (const m of code.matchAll(/\bimport\s+\w+\s*=\s*require\s*\(\s*(['"])([^'"]+)\1\s*\)/g)) refs.push({ specifier: m[2] as string, typeOnly: false });
  return refs;
}

/** A cycle of the directed graph as a path that ends where it starts, or undefined (iterative DFS, three colours). */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of [...graph.keys()].sort()) {
    if (state.has(start)) continue;
    const stack: { node: string; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { node: string; next: number };
      const edges = graph.get(top.node) ?? [];
      if (top.next >= edges.length) {
        state.set(top.node, 'done');
        stack.pop();
        continue;
      }
      const to = edges[top.next++] as string;
      const seen = state.get(to);
      if (seen === 'open') {
        const from = stack.findIndex((f) => f.node === to);
        return [...stack.slice(from).map((f) => f.node), to];
      }
      if (seen === undefined) {
        state.set(to, 'open');
        stack.push({ node: to, next: 0 });
      }
    }
  }
  return undefined;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A relative specifier resolved to a source file (repository-relative), or undefined when it leaves the sources. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`, base]) {
    if (candidate.endsWith('.ts') && fs.existsSync(path.join(ROOT, candidate))) return candidate;
  }
  return undefined;
}

interface Sources {
  /** Imports between the sources (type-only ones too): file → files it imports. */
  graph: Map<string, string[]>;
  /** Every import of a package, with the importing file. */
  packages: { file: string; specifier: string }[];
  files: number;
}

function readSources(): Sources {
  const graph = new Map<string, string[]>();
  const packages: Sources['packages'] = [];
  const files = SOURCE_ROOTS.flatMap(sourceFiles);
  for (const file of files) {
    const edges: string[] = [];
    for (const ref of parseImports(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (!ref.specifier.startsWith('.')) {
        packages.push({ file, specifier: ref.specifier });
        continue;
      }
      const target = resolveSpecifier(file, ref.specifier);
      if (target && SOURCE_ROOTS.some((r) => target.startsWith(`${r}/`))) edges.push(target);
    }
    graph.set(file, [...new Set(edges)]);
  }
  return { graph, packages, files: files.length };
}

const isGrpcJs = (specifier: string) => specifier === '@grpc/grpc-js' || specifier.startsWith('@grpc/grpc-js/');
const grpcAllowed = (file: string) => GRPC_ALLOWED.some((allowed) => (allowed.endsWith('/') ? file.startsWith(allowed) : file === allowed));

describe('architecture', () => {
  describe('the checks themselves', () => {
    it('reads every form of import, and tells type-only ones', () => {
      const refs = parseImports(
        [
          "import * as fs from 'node:fs';",
          "import type { A } from './a';",
          "import { type B, type C } from './b';",
          "import D, { type E } from './d';",
          "export { F } from './f';",
          "export type { G } from './g';",
          "export * from './h';",
          "import './side-effect';",
          "const lazy = await import('./lazy');",
          "// import { commented } from './commented';",
          "/* import { blocked } from './blocked'; */",
          "const text = 'import { quoted } from \"./quoted\"';",
          'import {\n  multi,\n  line,\n} from "./multi";',
        ].join('\n'),
      );
      expect(refs.map((r) => `${r.specifier}${r.typeOnly ? ':type' : ''}`).sort()).to.deep.equal(
        ['node:fs', './a:type', './b:type', './d', './f', './g:type', './h', './side-effect', './lazy', './multi'].sort(),
      );
    });

    it('finds a cycle in a small graph, and none in a graph without one', () => {
      const acyclic = new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
        ['d', ['a']],
      ]);
      expect(findCycle(acyclic)).to.equal(undefined);
      const cyclic = new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['d', 'a']],
        ['d', []],
      ]);
      expect(findCycle(cyclic)).to.deep.equal(['a', 'b', 'c', 'a']);
      expect(findCycle(new Map([['self', ['self']]]))).to.deep.equal(['self', 'self']);
    });
  });

  describe('the sources', () => {
    const sources = readSources();

    it('are found', () => {
      expect(sources.files).to.be.greaterThan(100);
      expect(sources.graph.get('node/src/exchange/node.ts')).to.be.an('array').that.is.not.empty;
    });

    it('have no import cycle among node/src, client-sdk/src and proto/ts', () => {
      const cycle = findCycle(sources.graph);
      expect(cycle, cycle && `import cycle: ${cycle.join(' -> ')}`).to.equal(undefined);
    });

    it('import @grpc/grpc-js only in node/src/rpc/ and the SDK transport', () => {
      const outside = sources.packages.filter((p) => isGrpcJs(p.specifier) && !grpcAllowed(p.file)).map((p) => p.file);
      expect(outside, `grpc-js imported outside ${GRPC_ALLOWED.join(', ')}`).to.deep.equal([]);
      expect(sources.packages.some((p) => isGrpcJs(p.specifier) && p.file.startsWith('node/src/rpc/'))).to.equal(true);
    });

    it('keep only folder index.ts files that something imports, or that package.json names as an entry point', () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string; exports: Record<string, string | { default?: string }> };
      const entryPoints = new Set(
        [pkg.main, ...Object.values(pkg.exports).map((e) => (typeof e === 'string' ? e : e.default))]
          .filter((p): p is string => typeof p === 'string' && p.endsWith('.js'))
          .map((p) => p.replace(/^\.?\/?dist\//, '').replace(/\.js$/, '.ts')),
      );
      const imported = new Set([...sources.graph.values()].flat());
      const unused = [...sources.graph.keys()].filter((f) => f.endsWith('/index.ts') && !imported.has(f) && !entryPoints.has(f));
      expect(unused, 'barrels nobody imports').to.deep.equal([]);
    });

    it('keep the SDK and the protocol code independent of node/', () => {
      const reaching = [...sources.graph]
        .filter(([file]) => !file.startsWith('node/src/'))
        .flatMap(([file, edges]) => edges.filter((e) => e.startsWith('node/src/')).map((e) => `${file} -> ${e}`));
      expect(reaching).to.deep.equal([]);
    });
  });
});
