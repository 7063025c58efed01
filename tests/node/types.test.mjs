// The TypeScript declarations (js/*.d.ts) compile under strict settings against tests/types/usage.ts,
// which uses every public export of '.', './worker' and './server' and lists what must not compile.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

test('tsc --noEmit -p tests/types: no diagnostics', async () => {
  assert.ok(fs.existsSync(tsc), `${tsc} missing: run npm ci`);
  let result;
  try {
    result = await promisify(execFile)(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', path.join('tests', 'types')], {
      cwd: repoRoot,
      timeout: 120_000,
    });
  } catch (err) {
    assert.fail(`tsc failed (exit ${err.code}):\n${err.stdout}${err.stderr}`);
  }
  assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'tsc printed diagnostics');
});
