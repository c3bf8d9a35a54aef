/**
 * The rules of ARCHITECTURE.md that the import graph of `packages/server/src` can show: no
 * import cycles (type-only imports included: a cycle of types is still two modules that cannot
 * be understood apart), the layers point one way (the domain imports no adapter, backend or
 * command; HTTP imports no command), and the helpers every action shares are defined once.
 *
 * The graph is read from the source text: every `import … from '…'`, `export … from '…'` and
 * `import('…')` with a relative specifier (the server's own imports all end in `.ts`).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Every .ts file under src, as a path relative to it with `/` separators. */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return sources(full);
    return e.name.endsWith('.ts') ? [relative(SRC, full).split(sep).join('/')] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g;

/** The files of src each file imports (relative specifiers only; packages are not followed). */
function graph(): Map<string, string[]> {
  const files = sources();
  const known = new Set(files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const deps = new Set<string>();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith('.')) continue;
      const target = relative(SRC, resolve(SRC, dirname(file), spec)).split(sep).join('/');
      if (known.has(target)) deps.add(target);
    }
    edges.set(file, [...deps]);
  }
  return edges;
}

/** Every cycle, once each, as the list of its files (Tarjan's strongly connected components). */
function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of edges.keys()) if (!idx.has(v)) visit(v);
  return found;
}

test('the graph reader sees imports, type imports, re-exports and dynamic imports', () => {
  const edges = graph();
  // Known edges of each kind, so that a reader that saw none would not pass the tests below.
  assert.ok(edges.get('server.ts')!.includes('http/app.ts'), 'import { … } from');
  assert.ok(edges.get('http/app.ts')!.includes('core.ts'), 'import type { … } from');
  assert.ok(edges.get('index.ts')!.length > 0, 'export … from');
  assert.ok(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])).length === 1);
  assert.deepEqual(cycles(new Map([['a', ['b']], ['b', []]])), []);
});

test('no import cycles in packages/server/src (type-only imports included)', () => {
  assert.deepEqual(cycles(graph()), []);
});

test('layers: the domain imports no adapter, backend or command; HTTP imports no command', () => {
  const bad: string[] = [];
  for (const [file, deps] of graph()) {
    for (const dep of deps) {
      if (file.startsWith('domain/') && /^(http|ws|realtime|cli|storage|bus|presence|ops)\//.test(dep)) bad.push(`${file} → ${dep}`);
      if (file.startsWith('http/') && dep.startsWith('cli/')) bad.push(`${file} → ${dep}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('shared helpers are defined once: requireApp, ID_RE, the list cursors', () => {
  const where = new Map<string, string[]>();
  const DEF = /^(?:export\s+)?(?:async\s+)?(?:function\*?\s+|const\s+|let\s+)(requireApp|ID_RE|encodeCursor|decodeCursor)\b/gm;
  for (const file of sources()) {
    for (const m of readFileSync(join(SRC, file), 'utf8').matchAll(DEF)) where.set(m[1]!, [...(where.get(m[1]!) ?? []), file]);
  }
  for (const name of ['requireApp', 'ID_RE', 'encodeCursor', 'decodeCursor']) {
    assert.equal(where.get(name)?.length, 1, `${name} is defined in ${where.get(name)?.join(', ') ?? 'no file'}`);
  }
});

test('storage/sqlite has one store class per file', () => {
  const bad: string[] = [];
  for (const file of sources().filter((f) => f.startsWith('storage/sqlite/'))) {
    const stores = [...readFileSync(join(SRC, file), 'utf8').matchAll(/^export class (Sqlite\w*Store)\b/gm)].map((m) => m[1]!);
    if (stores.length > 1) bad.push(`${file}: ${stores.join(', ')}`);
  }
  assert.deepEqual(bad, []);
});
