// src/base/error_codes.def is the one list of error codes: the wasm module's errorCodes(), the codes
// of js/errors.mjs (JS layer, CLI), the ErrorCode type of js/index.d.ts and the README's table must
// all say the same, and js/ and bin/ may produce no code it lacks.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CLI_ERROR_CODES, JS_ERROR_CODES } from '../../js/errors.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (file) => fs.readFileSync(path.join(repoRoot, file), 'utf8');

const def = read('src/base/error_codes.def');
const core = [...def.matchAll(/^JV3_CORE_ERROR\(\s*k\w+\s*,\s*"(E_[A-Z0-9_]+)"\s*,/gm)].map((m) => m[1]);
const js = [...def.matchAll(/^JV3_JS_ERROR\(\s*"(E_[A-Z0-9_]+)"\s*,/gm)].map((m) => m[1]);
const cli = [...def.matchAll(/^JV3_CLI_ERROR\(\s*"(E_[A-Z0-9_]+)"\s*,/gm)].map((m) => m[1]);
const all = [...core, ...js, ...cli];

/** The single-thread build: enough to ask the core for its codes, without starting threads. */
const stBuild = path.join(repoRoot, 'dist', 'jina-v3-wasm-st.mjs');

/** Source without comments (block comments, and line comments after a line start or whitespace). */
const stripComments = (source) => source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');

test('error_codes.def parses: every kind found, no code twice', () => {
  assert.ok(core.length >= 18, `only ${core.length} JV3_CORE_ERROR lines parsed`);
  assert.ok(js.length >= 2, `only ${js.length} JV3_JS_ERROR lines parsed`);
  assert.ok(cli.length >= 2, `only ${cli.length} JV3_CLI_ERROR lines parsed`);
  // Every macro line was understood (a line the regexes miss would silently drop a code).
  const macroLines = def.split('\n').filter((l) => /^JV3_(CORE|JS|CLI)_ERROR\(/.test(l));
  assert.equal(macroLines.length, all.length, 'a JV3_*_ERROR line did not parse');
  assert.equal(new Set(all).size, all.length, `a code is listed twice: ${all.join(' ')}`);
});

test('the wasm module\'s errorCodes() is the core list, in order', { skip: !fs.existsSync(stBuild) && `dist/ has no build (${stBuild}): run scripts/build.sh` }, async () => {
  const { loadModule } = await import('../../js/index.mjs');
  const Module = await loadModule(undefined, { variant: 'wasm-st' });
  assert.deepEqual(Array.from(Module.errorCodes()), core);
});

test('JS_ERROR_CODES (js/errors.mjs) is the JS list', () => {
  assert.deepEqual(JS_ERROR_CODES, js);
});

test('CLI_ERROR_CODES (js/errors.mjs) is the CLI list, and the CLI and the server take them from there', () => {
  assert.deepEqual(CLI_ERROR_CODES, cli);
  for (const file of ['bin/jina-v3-wasm.mjs', 'js/server.mjs']) {
    const code = stripComments(read(file));
    assert.match(code, /from '\.\.?\/(js\/)?errors\.mjs'/, `${file} does not import js/errors.mjs`);
    for (const c of cli) assert.ok(!code.includes(`'${c}'`), `${file} spells '${c}' instead of importing it`);
  }
});

test('ErrorCode in js/index.d.ts is core + JS, in order (the CLI codes are never on an EmbeddingError)', () => {
  const dts = read('js/index.d.ts');
  const start = dts.indexOf('export type ErrorCode =');
  assert.notEqual(start, -1, 'js/index.d.ts has no `export type ErrorCode =`');
  const union = dts.slice(start, dts.indexOf(';', start));
  const members = [...union.matchAll(/'([^']+)'/g)].map((m) => m[1]);
  assert.deepEqual(members, [...core, ...js]);
});

test('the README\'s error table lists exactly every code', () => {
  const readme = read('README.md');
  const heading = /^#+ .*\berror/im.exec(readme);
  assert.ok(heading, 'README.md has no section about errors');
  const section = readme.slice(heading.index);
  // The first table of that section whose first column holds backticked E_ codes.
  const rows = [];
  for (const line of section.slice(section.indexOf('\n')).split('\n')) {
    const firstCell = /^\|([^|]*)\|/.exec(line)?.[1];
    const codes = firstCell ? [...firstCell.matchAll(/`(E_[A-Z0-9_]+)`/g)].map((m) => m[1]) : [];
    if (codes.length) rows.push(...codes);
    else if (rows.length && !line.startsWith('|')) break;
  }
  assert.ok(rows.length > 0, 'no table of `E_` codes in the README\'s errors section');
  assert.equal(new Set(rows).size, rows.length, `a code is listed twice: ${rows.join(' ')}`);
  assert.deepEqual([...rows].sort(), [...all].sort(),
    `missing: ${all.filter((c) => !rows.includes(c)).join(' ') || '-'}; not in error_codes.def: ${rows.filter((c) => !all.includes(c)).join(' ') || '-'}`);
});

test('js/ and bin/ produce no code that error_codes.def lacks', (t) => {
  const used = new Map();
  for (const dir of ['js', 'bin']) {
    for (const name of fs.readdirSync(path.join(repoRoot, dir)).filter((f) => f.endsWith('.mjs'))) {
      for (const [code] of stripComments(read(`${dir}/${name}`)).matchAll(/\bE_[A-Z][A-Z0-9_]*\b/g)) {
        if (!all.includes(code)) used.set(code, `${dir}/${name}`);
      }
    }
  }
  const missing = [...used.keys()];
  assert.deepEqual(missing, [], [...used].map(([code, file]) => `${code} (${file})`).join(', '));
});
