// The module graph of js/ and bin/, read from the sources: no import cycles, no import that does not
// resolve or is not used, and the wasm build (dist/ and the Embind API) reached from js/engine.mjs only.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENGINE = 'js/engine.mjs';
/** Names that only the Embind boundary has: the classes and the settings engine.mjs hands the factory. */
const EMBIND_NAMES = ['ModelLoader', 'StreamConverter', 'errorCodes', 'jv3Variant', 'jv3Workers'];

/**
 * Source without comments: block comments, and line comments that start a line or follow
 * whitespace (so `https://` in a string and `\/\/` in a regex stay).
 */
function stripComments(source) {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

/** Import clauses are identifiers, braces, commas, `*` and `as`: they never span a statement. */
const STATIC_IMPORT = /^[ \t]*(import|export)\s+([\w$\s{},*]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const BARE_IMPORT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The local names an import clause binds (`a`, `{ b, c as d }`, `* as e`). */
function boundNames(clause) {
  const names = [];
  const braces = /\{([^}]*)\}/.exec(clause);
  if (braces) {
    for (const part of braces[1].split(',').map((s) => s.trim()).filter(Boolean)) names.push(part.split(/\s+as\s+/).at(-1));
  }
  const rest = clause.replace(/\{[^}]*\}/, '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const part of rest) names.push(part.startsWith('*') ? part.split(/\s+as\s+/)[1] : part);
  return names;
}

/** Every module of js/ and bin/ with its imports: `{ file, code, imports: [{ specifier, kind, names }] }`. */
function readModules() {
  const files = ['js', 'bin'].flatMap((dir) =>
    fs.readdirSync(path.join(repoRoot, dir)).filter((f) => f.endsWith('.mjs')).map((f) => `${dir}/${f}`));
  return files.map((file) => {
    const code = stripComments(fs.readFileSync(path.join(repoRoot, file), 'utf8'));
    const imports = [];
    for (const [, keyword, clause, specifier] of code.matchAll(STATIC_IMPORT)) {
      imports.push({ specifier, kind: keyword, names: keyword === 'import' ? boundNames(clause) : [] });
    }
    for (const [, specifier] of code.matchAll(BARE_IMPORT)) imports.push({ specifier, kind: 'import', names: [] });
    for (const [, specifier] of code.matchAll(DYNAMIC_IMPORT)) imports.push({ specifier, kind: 'dynamic', names: [] });
    return { file, code, imports };
  });
}

const modules = readModules();
const byFile = new Map(modules.map((m) => [m.file, m]));

/** Repository-relative path of a relative specifier, or null for `node:` and package imports. */
function resolve(from, specifier) {
  if (!specifier.startsWith('.')) return null;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
}

test('the parse finds the imports (a broken parse would pass everything below)', () => {
  const relative = modules.flatMap((m) => m.imports.filter((i) => i.kind === 'import' && i.specifier.startsWith('.')));
  assert.ok(relative.length >= 10, `only ${relative.length} relative imports found in js/ and bin/`);
  assert.ok(byFile.get('js/index.mjs')?.imports.some((i) => i.kind === 'export'), 'js/index.mjs re-exports nothing?');
  assert.ok(byFile.get(ENGINE)?.imports.some((i) => i.kind === 'dynamic' && i.specifier.startsWith('../dist/')), `${ENGINE} imports no dist/ build?`);
});

test('every relative import resolves to a file', () => {
  for (const m of modules) {
    for (const { specifier } of m.imports) {
      const target = resolve(m.file, specifier);
      if (target === null || target.startsWith('dist/')) continue;
      assert.ok(fs.existsSync(path.join(repoRoot, target)), `${m.file} imports ${specifier}, which does not exist`);
    }
  }
});

test('no import cycles', () => {
  const edges = new Map(modules.map((m) => [m.file, m.imports.map((i) => resolve(m.file, i.specifier)).filter((t) => byFile.has(t))]));
  const state = new Map(); // file -> 'visiting' | 'done'
  const visit = (file, trail) => {
    if (state.get(file) === 'done') return;
    assert.notEqual(state.get(file), 'visiting', `import cycle: ${[...trail.slice(trail.indexOf(file)), file].join(' -> ')}`);
    state.set(file, 'visiting');
    for (const next of edges.get(file)) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of edges.keys()) visit(file, []);
});

test('every imported name is used', () => {
  for (const m of modules) {
    const body = m.code.replace(STATIC_IMPORT, '');
    for (const { specifier, names } of m.imports) {
      for (const name of names) {
        assert.match(body, new RegExp(`(?<![\\w$.])${name.replace(/\$/g, '\\$')}(?![\\w$])`), `${m.file} imports ${name} from ${specifier} without using it`);
      }
    }
  }
});

test(`only ${ENGINE} imports the wasm build or touches the Embind API`, () => {
  for (const m of modules) {
    if (m.file === ENGINE) continue;
    const distImports = m.imports.filter((i) => resolve(m.file, i.specifier)?.startsWith('dist/'));
    assert.deepEqual(distImports.map((i) => i.specifier), [], `${m.file} imports the wasm build`);
    assert.ok(!/['"`][^'"`]*dist\/jina-v3-wasm/.test(m.code), `${m.file} names a dist/ file`);
    for (const name of EMBIND_NAMES) assert.ok(!new RegExp(`\\b${name}\\b`).test(m.code), `${m.file} uses ${name}`);
  }
});

test('only the worker entry imports index.mjs inside js/: the rest import what they use', () => {
  const importers = modules.filter((m) => m.file.startsWith('js/') && m.imports.some((i) => resolve(m.file, i.specifier) === 'js/index.mjs'));
  assert.deepEqual(importers.map((m) => m.file), ['js/worker.mjs']);
});
