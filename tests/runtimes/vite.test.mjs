// Bundlers: examples/vite built with Vite (from npm) and run in headless Chromium, isolated and
// not: the wasm assets must resolve with no manual copying, and the vector must match the fixture.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { launchChromium } from '../browser/helpers.mjs';
import { assertClose, caseOptions, convertedModel, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const text = exp.texts[0];
const c = text.cases.find((x) => x.task !== null && caseOptions(x).instruction) ?? text.cases[0];
const outDir = path.join(repoRoot, 'build', 'vite-example');
let browser;
const servers = [];

before(async () => {
  const vite = path.join(repoRoot, 'node_modules', '.bin', 'vite');
  assert.ok(fs.existsSync(vite), `${vite} missing: run npm ci`);
  await promisify(execFile)(vite, ['build', path.join(repoRoot, 'examples', 'vite'), '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { timeout: 120_000 });
  fs.copyFileSync(await convertedModel('f32'), path.join(outDir, 'model.jv3'));
  browser = await launchChromium(tempDir());
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.server.close();
});

for (const isolation of [false, true]) {
  test(`vite build runs in Chromium (${isolation ? 'isolated: threads' : 'not isolated: single thread'})`, async () => {
    // No wasm was copied by hand: the build emitted the assets it references.
    assert.ok(fs.readdirSync(path.join(outDir, 'assets')).some((f) => f.endsWith('.wasm')), 'wasm assets emitted');
    const s = await startStaticServer({ root: outDir, isolation, index: '/index.html' });
    servers.push(s);
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    try {
      const q = new URLSearchParams({ text: text.text, task: c.task ?? '' });
      await page.goto(`${s.url}/index.html?${q}`);
      const result = await (await page.waitForFunction(() => window.result, null, { timeout: 60_000 })).jsonValue();
      assert.equal(result.error, undefined, JSON.stringify(result.error) + errors.join('\n'));
      assert.equal(result.variant, isolation ? 'wasm-relaxed' : 'wasm-st-relaxed');
      assertClose(result.embedding, c.embedding, TOL, 'vite app vs fixture');
    } finally {
      await page.close();
    }
  });
}
