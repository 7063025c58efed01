// Deno (the npm `deno` package's binary): the package loads and embeds there with the vectors of
// the fixture (f32 model, max |Δ| ≤ 1e-5), on the single-thread build that feature detection picks.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';

import { assertClose, caseOptions, convertedModel, loadExpected, repoRoot } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const deno = path.join(repoRoot, 'node_modules', '.bin', 'deno');

for (const memory of ['resident', 'paged', 'streamed']) test(`deno: ${memory} memory, fixture vectors`, async () => {
  assert.ok(fs.existsSync(deno), `${deno} missing: run npm ci`);
  const cases = exp.texts.slice(0, 3).flatMap((t) => t.cases.map((c) => ({ text: t.text, options: caseOptions(c), want: c.embedding })));
  const { stdout } = await promisify(execFile)(deno, [
    'run', '--no-prompt', '--allow-read', '--allow-env', '--no-config', '--no-lock',
    path.join(repoRoot, 'tests', 'runtimes', 'deno', 'embed.mjs'), await convertedModel('f32'),
    JSON.stringify(cases.map(({ text, options }) => ({ text, options }))), memory,
  ], { timeout: 120_000, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: path.join(repoRoot, 'build', 'deno-cache') } });
  const { variant, threads, rows, memory: got } = JSON.parse(stdout);
  assert.equal(got, memory);
  assert.equal(variant, 'wasm-st-relaxed'); // Deno's V8 has relaxed SIMD
  assert.equal(threads, 1);
  for (const [i, c] of cases.entries()) assertClose(rows[i], c.want, TOL, `case ${i}`);
});
