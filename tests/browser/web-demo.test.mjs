// The demo page in headless Chromium: loads the fixture model, embeds three texts, and checks that
// the bars and the heatmap show the returned vectors (which must match the fixture), that a bad
// file shows its error, and saves screenshots at desktop and phone widths to test-artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { convertedModel, cosine, fixtureDir, loadExpected, maxAbsDiff, repoRoot, tempDir } from '../helpers.mjs';
import { launchChromium } from './helpers.mjs';

const artifacts = path.join(repoRoot, 'test-artifacts');
let server, url, plainServer, plainUrl, browser;

before(async () => {
  // The page fetches the model by URL, so it must lie under the served root.
  const modelDir = path.join(repoRoot, 'build', 'test-web-demo');
  fs.mkdirSync(modelDir, { recursive: true });
  fs.copyFileSync(await convertedModel('f32'), path.join(modelDir, 'model.jv3'));
  ({ server, url } = await startStaticServer({ root: repoRoot }));
  ({ server: plainServer, url: plainUrl } = await startStaticServer({ root: repoRoot, isolation: false }));
  browser = await launchChromium(tempDir());
  fs.mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
  plainServer?.close();
});

async function openDemo(viewport, base = url) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${base}/web-demo/`);
  return { page, errors };
}

test('loads a model, embeds three texts, bars and heatmap follow the vectors', { timeout: 120_000 }, async () => {
  const expected = loadExpected();
  const cases = expected.texts.slice(0, 3).map((t) => ({ text: t.text, c: t.cases.find((c) => c.task === 'text-matching') }));
  const { page, errors } = await openDemo({ width: 1280, height: 800 });
  assert.match(await page.textContent('#runtime'), /multi-threaded/, 'served with COOP/COEP: threads');
  await page.fill('#model-url', '/build/test-web-demo/model.jv3');
  await page.click('#load-button');
  await page.waitForSelector('#embed-button:not([disabled])', { timeout: 60_000 });
  assert.match(await page.textContent('#model-info'), /f32 weights, hidden size 256/);
  assert.match(await page.textContent('#runtime'), /^Running the wasm-relaxed build, multi-threaded, \d+ threads\.$/);

  await page.fill('#texts', cases.map((x) => x.text).join('\n'));
  await page.selectOption('#task', 'text-matching');
  await page.selectOption('#dimensions', '256');
  await page.click('#embed-button');
  await page.waitForFunction(() => document.querySelectorAll('#cards .card').length === 3, null, { timeout: 60_000 });
  await page.click('#copy-button');
  const shown = JSON.parse(await page.textContent('#json'));

  // The vectors the page got are the fixture's (f32 model: within 1e-5).
  shown.vectors.forEach((v, i) => assert.ok(maxAbsDiff(v, cases[i].c.embedding) <= 1e-5, `text ${i} vector`));

  // Bars: 8 per text, value, sign and height proportional to |value| / max |value|.
  const bars = await page.$$eval('#cards .card', (cards) => cards.map((card) =>
    [...card.querySelectorAll('rect.bar')].map((r) => ({ value: Number(r.dataset.value), height: Number(r.getAttribute('height')),
      neg: r.classList.contains('neg') }))));
  bars.forEach((row, i) => {
    assert.equal(row.length, 8);
    const v = shown.vectors[i].slice(0, 8);
    const maxAbs = Math.max(...v.map(Math.abs));
    const maxH = Math.max(...row.map((b) => b.height));
    row.forEach((b, j) => {
      assert.ok(Math.abs(b.value - v[j]) <= 1e-7, `bar ${i}/${j} value`);
      assert.equal(b.neg, v[j] < 0, `bar ${i}/${j} sign`);
      assert.ok(Math.abs(b.height / maxH - Math.abs(v[j]) / maxAbs) <= 1e-6, `bar ${i}/${j} height`);
    });
  });

  // Heatmap: each cell is the cosine of the two vectors, to 3 decimals.
  const cells = await page.$$eval('#heatmap tr', (rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  assert.equal(cells.length, 3);
  cells.forEach((row, i) => row.forEach((text, j) => assert.equal(text, cosine(shown.vectors[i], shown.vectors[j]).toFixed(3), `cell ${i},${j}`)));

  await page.screenshot({ path: path.join(artifacts, 'web-demo-1280x800.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(artifacts, 'web-demo-390x844.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a bad model file shows its error on the page', { timeout: 60_000 }, async () => {
  const { page } = await openDemo({ width: 1280, height: 800 });
  await page.check('input[name=source][value=files]');
  await page.setInputFiles('#model-files', { name: 'model.jv3', mimeType: 'application/octet-stream',
    buffer: Buffer.from('this is not a model file, just some text that is long enough') });
  await page.click('#load-button');
  await page.waitForSelector('#model-error:not([hidden])', { timeout: 30_000 });
  assert.match(await page.textContent('#model-error'), /^E_MODEL_FORMAT: /);
  assert.equal(await page.isDisabled('#embed-button'), true);
  await page.screenshot({ path: path.join(artifacts, 'web-demo-error.png') });
  await page.close();
});

test('the checkpoint files picked from disk are converted while they load', { timeout: 120_000 }, async () => {
  const { page, errors } = await openDemo({ width: 1280, height: 800 });
  await page.check('input[name=source][value=files]');
  await page.setInputFiles('#model-files', ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']
    .map((f) => path.join(fixtureDir, f)));
  await page.click('#load-button');
  await page.waitForSelector('#embed-button:not([disabled])', { timeout: 90_000 });
  assert.match(await page.textContent('#model-info'), /int8 weights, hidden size 256/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('without cross-origin isolation the page runs single-threaded and says so', { timeout: 120_000 }, async () => {
  const { page, errors } = await openDemo({ width: 1280, height: 800 }, plainUrl);
  assert.match(await page.textContent('#runtime'), /single-threaded/);
  await page.fill('#model-url', '/build/test-web-demo/model.jv3');
  await page.click('#load-button');
  await page.waitForSelector('#embed-button:not([disabled])', { timeout: 60_000 });
  assert.match(await page.textContent('#model-info'), /1 thread\(s\)/);
  assert.match(await page.textContent('#runtime'), /^Running the wasm-st-relaxed build, single-threaded\.$/);
  await page.click('#embed-button');
  await page.waitForFunction(() => document.querySelectorAll('#cards .card').length === 3, null, { timeout: 60_000 });
  assert.match(await page.textContent('#run-stats'), /on 1 thread\(s\), single-threaded\.$/);
  assert.deepEqual(errors, []);
  await page.close();
});
