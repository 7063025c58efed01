// The demo page in each browser engine (helpers.mjs): loads the fixture model, embeds three texts,
// and checks that the bars and the heatmap show the returned vectors (which must match the
// fixture), that a bad file shows its error, and saves screenshots at desktop and phone widths to
// test-artifacts/ (web-demo-<size>-<engine>.png). The page is driven through the DOM (values set,
// input and change events, element.click()), the same way in every engine; files are picked
// through each driver's own file-input command.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { convertedModel, cosine, fixtureDir, loadExpected, maxAbsDiff, repoRoot, tempDir } from '../helpers.mjs';
import { launchBrowser, selectedEngines, singleThreadVariant, threadedVariant } from './helpers.mjs';

const artifacts = path.join(repoRoot, 'test-artifacts');
let url, plainUrl;
const servers = [];

before(async () => {
  // The page fetches the model by URL, so it must lie under the served root.
  const modelDir = path.join(repoRoot, 'build', 'test-web-demo');
  fs.mkdirSync(modelDir, { recursive: true });
  fs.copyFileSync(await convertedModel('f32'), path.join(modelDir, 'model.jv3'));
  const isolated = await startStaticServer({ root: repoRoot });
  const plain = await startStaticServer({ root: repoRoot, isolation: false });
  servers.push(isolated.server, plain.server);
  ({ url } = isolated);
  ({ url: plainUrl } = plain);
  fs.mkdirSync(artifacts, { recursive: true });
});

after(() => {
  for (const s of servers) s.close();
});

/** The demo's controls, through the DOM. */
const ui = {
  text: (page, selector) => page.evaluate((s) => {
    const el = document.querySelector(s);
    if (!el) throw new Error(`no element ${s}`);
    return el.textContent;
  }, selector),
  /** Sets an input's, textarea's or select's value, with the events typing or choosing sends. */
  set: (page, selector, value) => page.evaluate(({ s, value }) => {
    const el = document.querySelector(s);
    if (!el) throw new Error(`no element ${s}`);
    if (el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === value)) throw new Error(`${s} has no option ${value}`);
    el.value = value;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, { s: selector, value }),
  /** Clicks a button or radio; a disabled or hidden one is an error, as for a user. */
  click: (page, selector) => page.evaluate((s) => {
    const el = document.querySelector(s);
    if (!el) throw new Error(`no element ${s}`);
    if (el.disabled) throw new Error(`${s} is disabled`);
    if (!el.getClientRects().length) throw new Error(`${s} is not shown`);
    el.click();
  }, selector),
  disabled: (page, selector) => page.evaluate((s) => document.querySelector(s).disabled, selector),
  waitFor: (page, selector, timeout) => page.waitFor((s) => document.querySelector(s) !== null, selector, timeout),
};

for (const engine of selectedEngines()) {
  describe(engine, () => {
    let browser;
    before(async () => {
      browser = await launchBrowser(engine, tempDir());
    });
    after(async () => {
      await browser?.close();
    });

    async function openDemo(viewport, base = url) {
      const page = await browser.newPage(viewport);
      await page.goto(`${base}/web-demo/`);
      await page.waitFor(() => document.querySelector('#runtime').textContent !== '');
      return page;
    }

    test('loads a model, embeds three texts, bars and heatmap follow the vectors', { timeout: 120_000 }, async () => {
      const expected = loadExpected();
      const cases = expected.texts.slice(0, 3).map((t) => ({ text: t.text, c: t.cases.find((c) => c.task === 'text-matching') }));
      const page = await openDemo({ width: 1280, height: 800 });
      try {
        assert.match(await ui.text(page, '#runtime'), /multi-threaded/, 'served with COOP/COEP: threads');
        await ui.set(page, '#model-url', '/build/test-web-demo/model.jv3');
        await ui.click(page, '#load-button');
        await ui.waitFor(page, '#embed-button:not([disabled])', 60_000);
        assert.match(await ui.text(page, '#model-info'), /f32 weights, hidden size 256/);
        assert.match(await ui.text(page, '#runtime'), new RegExp(`^Running the ${threadedVariant(engine)} build, multi-threaded, \\d+ threads\\.$`));

        await ui.set(page, '#texts', cases.map((x) => x.text).join('\n'));
        await ui.set(page, '#task', 'text-matching');
        await ui.set(page, '#dimensions', '256');
        await ui.click(page, '#embed-button');
        await page.waitFor(() => document.querySelectorAll('#cards .card').length === 3, null, 60_000);
        await ui.click(page, '#copy-button');
        await ui.waitFor(page, '#json', 10_000);
        const shown = JSON.parse(await ui.text(page, '#json'));

        // The vectors the page got are the fixture's (f32 model: within 1e-5).
        assert.equal(shown.vectors.length, 3);
        shown.vectors.forEach((v, i) => assert.ok(maxAbsDiff(v, cases[i].c.embedding) <= 1e-5, `text ${i} vector`));

        // Bars: 8 per text, value, sign and height proportional to |value| / max |value|.
        const bars = await page.evaluate(() => [...document.querySelectorAll('#cards .card')].map((card) =>
          [...card.querySelectorAll('rect.bar')].map((r) => ({ value: Number(r.dataset.value), height: Number(r.getAttribute('height')),
            neg: r.classList.contains('neg') }))));
        assert.equal(bars.length, 3);
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
        const cells = await page.evaluate(() => [...document.querySelectorAll('#heatmap tr')].slice(1)
          .map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
        assert.equal(cells.length, 3);
        cells.forEach((row, i) => {
          assert.equal(row.length, 3, `heatmap row ${i}`);
          row.forEach((text, j) => assert.equal(text, cosine(shown.vectors[i], shown.vectors[j]).toFixed(3), `cell ${i},${j}`));
        });

        await page.screenshot(path.join(artifacts, `web-demo-1280x800-${engine}.png`), { fullPage: true });
        await page.setViewport({ width: 390, height: 844 });
        await page.screenshot(path.join(artifacts, `web-demo-390x844-${engine}.png`), { fullPage: true });
        assert.deepEqual(await page.errors(), []);
      } finally {
        await page.close();
      }
    });

    test('a bad model file shows its error on the page', { timeout: 60_000 }, async () => {
      const bad = path.join(fs.mkdtempSync(path.join(tempDir(), 'bad-')), 'model.jv3');
      fs.writeFileSync(bad, 'this is not a model file, just some text that is long enough');
      const page = await openDemo({ width: 1280, height: 800 });
      try {
        await ui.click(page, 'input[name=source][value=files]');
        await page.setInputFiles('#model-files', [bad]);
        assert.equal(await page.evaluate(() => document.querySelector('#model-files').files.length), 1);
        await ui.click(page, '#load-button');
        await ui.waitFor(page, '#model-error:not([hidden])', 30_000);
        assert.match(await ui.text(page, '#model-error'), /^E_MODEL_FORMAT: /);
        assert.equal(await ui.disabled(page, '#embed-button'), true);
        await page.screenshot(path.join(artifacts, `web-demo-error-${engine}.png`));
      } finally {
        await page.close();
      }
    });

    test('the checkpoint files picked from disk are converted while they load', { timeout: 120_000 }, async () => {
      const page = await openDemo({ width: 1280, height: 800 });
      try {
        await ui.click(page, 'input[name=source][value=files]');
        await page.setInputFiles('#model-files', ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']
          .map((f) => path.join(fixtureDir, f)));
        assert.equal(await page.evaluate(() => document.querySelector('#model-files').files.length), 4);
        await ui.click(page, '#load-button');
        await ui.waitFor(page, '#embed-button:not([disabled])', 90_000);
        assert.match(await ui.text(page, '#model-info'), /int8 weights, hidden size 256/);
        assert.deepEqual(await page.errors(), []);
      } finally {
        await page.close();
      }
    });

    test('without cross-origin isolation the page runs single-threaded and says so', { timeout: 120_000 }, async () => {
      const page = await openDemo({ width: 1280, height: 800 }, plainUrl);
      try {
        assert.match(await ui.text(page, '#runtime'), /single-threaded/);
        await ui.set(page, '#model-url', '/build/test-web-demo/model.jv3');
        await ui.click(page, '#load-button');
        await ui.waitFor(page, '#embed-button:not([disabled])', 60_000);
        assert.match(await ui.text(page, '#model-info'), /1 thread\(s\)/);
        assert.match(await ui.text(page, '#runtime'), new RegExp(`^Running the ${singleThreadVariant(engine)} build, single-threaded\\.$`));
        await ui.click(page, '#embed-button');
        await page.waitFor(() => document.querySelectorAll('#cards .card').length === 3, null, 60_000);
        assert.match(await ui.text(page, '#run-stats'), /on 1 thread\(s\), single-threaded\.$/);
        assert.deepEqual(await page.errors(), []);
      } finally {
        await page.close();
      }
    });
  });
}
