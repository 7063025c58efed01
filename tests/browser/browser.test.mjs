// The package in headless Chromium, on a page and in a Web Worker: cross-origin isolated (pthreads
// build, relaxed SIMD where Chromium validates it, 2 threads) and not (single-thread build chosen
// by feature detection). Every vector is compared with the fixture (f32 model, max |Δ| ≤ 1e-5; the
// int8 model, whose kernels differ by build, cosine ≥ 0.999).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { launchChromium } from './helpers.mjs';
import { assertClose, caseOptions, convertedModel, cosine, fixtureDir, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
// Every text × task case at full size, plus one Matryoshka size and a 2-text batch.
const cases = exp.texts.flatMap((t) => t.cases.map((c) => ({ text: t.text, options: caseOptions(c), want: c.embedding })));
const [dim, wantDim] = Object.entries(exp.texts[0].cases[0].matryoshka)[0];
cases.push({ text: exp.texts[0].text, options: { ...caseOptions(exp.texts[0].cases[0]), dimensions: Number(dim) }, want: wantDim });

const servers = {};
let browser;
const modelPath = '/build/test-browser/model.jv3';

before(async () => {
  // Served from the repository root, so the page imports js/ and dist/ as a user's bundle would.
  const dir = path.join(repoRoot, 'build', 'test-browser');
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(await convertedModel('f32'), path.join(dir, 'model.jv3'));
  fs.copyFileSync(await convertedModel('int8'), path.join(dir, 'model-int8.jv3'));
  // The checkpoint as published, for the streaming conversion in the page.
  fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
    fs.copyFileSync(path.join(fixtureDir, f), path.join(dir, 'ckpt', f));
  }
  servers.isolated = await startStaticServer({ root: repoRoot, isolation: true, index: '/tests/browser/page/' });
  servers.plain = await startStaticServer({ root: repoRoot, isolation: false, index: '/tests/browser/page/' });
  browser = await launchChromium(tempDir());
});

after(async () => {
  await browser?.close();
  for (const s of Object.values(servers)) s.server.close();
});

/**
 * Opens the test page on `server` and runs one job there (see tests/browser/page/run.mjs);
 * `initScript` runs in the page before any of its scripts.
 */
async function run(server, job, { initScript } = {}) {
  const page = await browser.newPage();
  if (initScript) await page.addInitScript(initScript);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  try {
    await page.goto(`${servers[server].url}/tests/browser/page/index.html`);
    await page.waitForFunction(() => window.jv3Ready === true);
    const cs = cases.map(({ text, options }) => ({ text, options }));
    return await page.evaluate(
      async ({ job, cs }) => (await import('./run.mjs')).runJob({ ...job, cases: cs }),
      { job: { url: modelPath, ...job }, cs },
    );
  } catch (err) {
    throw new Error(`${err.message}\npage errors: ${errors.join('\n') || 'none'}`);
  } finally {
    await page.close();
  }
}

function checkVectors(result, label) {
  assert.equal(result.vectors.length, cases.length);
  for (const [i, c] of cases.entries()) assertClose(result.vectors[i], c.want, TOL, `${label}: case ${i}`);
  assert.ok(result.progressEvents > 0, 'progress events arrived');
}

describe('cross-origin isolated (pthreads)', () => {
  for (const where of ['page', 'worker']) {
    test(`${where}: feature detection picks a threaded build, 2 threads, fixture vectors`, async () => {
      const r = await run('isolated', { where, load: { threads: 2 } });
      assert.equal(r.isolated, true);
      // Chromium validates relaxed SIMD, so the probe picks that build.
      assert.equal(r.variant, 'wasm-relaxed');
      assert.equal(r.threads, 2);
      checkVectors(r, `isolated ${where}`);
    });
  }
  test('page: the SIMD128 pthreads build, forced', async () => {
    const r = await run('isolated', { where: 'page', load: { threads: 2, variant: 'wasm' } });
    assert.equal(r.variant, 'wasm');
    assert.equal(r.threads, 2);
    checkVectors(r, 'isolated page, wasm');
  });
});

describe('fallback when the chosen build cannot start', () => {
  // As on iOS Safari, which refuses large shared memories: every shared WebAssembly.Memory fails.
  const refuseSharedMemory = () => {
    const Memory = WebAssembly.Memory;
    WebAssembly.Memory = function (descriptor) {
      if (descriptor?.shared) throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      return new Memory(descriptor);
    };
    WebAssembly.Memory.prototype = Memory.prototype;
  };

  test('page: no shared memory, so the single-thread build runs, info.fallback says why, fixture vectors', async () => {
    const r = await run('isolated', { where: 'page', load: { threads: 2 } }, { initScript: refuseSharedMemory });
    assert.equal(r.isolated, true);
    assert.equal(r.variant, 'wasm-st');
    assert.equal(r.threads, 1);
    // Relaxed SIMD first (Chromium validates it), then with a smaller memory maximum, then SIMD128
    // likewise: each dropped with the memory error.
    assert.deepEqual(r.fallback.map((f) => [f.variant, f.maximumMemoryBytes ?? null]),
      [['wasm-relaxed', null], ['wasm-relaxed', 2 ** 30], ['wasm', null], ['wasm', 2 ** 30]]);
    for (const f of r.fallback) assert.match(f.reason, /could not allocate memory/);
    checkVectors(r, 'fallback to wasm-st');
  });

  test('page: a build asked for explicitly is exactly that build, with a clear error', async () => {
    const r = await run('isolated', { where: 'page', load: { threads: 2, variant: 'wasm-relaxed' }, expectError: true },
      { initScript: refuseSharedMemory });
    assert.equal(r.error.code, 'E_OUT_OF_MEMORY');
    assert.match(r.error.message, /the wasm-relaxed build cannot start here: .*could not allocate memory/);
  });
});

describe('int8 model: each build\'s own int8 kernel against the fixture', () => {
  // The relaxed-SIMD build's kernel (8-bit activations where Chromium's relaxed dot is exact for
  // them, 7-bit elsewhere) runs only in a browser; the others run in Node's tests too.
  const MIN_COSINE = 0.999;
  for (const [variant, threads] of [['wasm-relaxed', 1], ['wasm-relaxed', 2], ['wasm', 2]]) {
    test(`${variant}, ${threads} thread(s): cosine ≥ ${MIN_COSINE} on every case`, async (t) => {
      const r = await run('isolated', { where: 'page', url: '/build/test-browser/model-int8.jv3', load: { threads, variant } });
      assert.equal(r.variant, variant);
      let worst = 1;
      for (const [i, c] of cases.entries()) {
        const cos = cosine(r.vectors[i], c.want);
        assert.ok(cos >= MIN_COSINE, `${variant}: case ${i} cosine ${cos.toFixed(6)}`);
        worst = Math.min(worst, cos);
      }
      t.diagnostic(`lowest cosine ${worst.toFixed(6)}`);
    });
  }
});

describe('not isolated (single thread)', () => {
  for (const where of ['page', 'worker']) {
    test(`${where}: feature detection picks the single-thread build, fixture vectors`, async () => {
      const r = await run('plain', { where, load: { threads: 2 } });
      assert.equal(r.isolated, false);
      assert.equal(r.variant, 'wasm-st');
      assert.equal(r.threads, 1);
      checkVectors(r, `plain ${where}`);
      // In the worker the page kept running its timers while the calls ran.
      if (where === 'worker') assert.ok(r.ticks > 0, 'main thread stayed free');
    });
  }
});

describe('paged memory: the word table read per call', () => {
  // From a Blob (a File picked on disk) on the page; by URL with Range requests in a worker; the
  // vectors must be those of the fixture, as resident.
  for (const [where, blob] of [['page', true], ['worker', false]]) {
    test(`${where}, ${blob ? 'Blob' : 'URL with Range requests'}: fixture vectors`, async () => {
      // cache: false, so the rows are read over HTTP (opfs-cache.test.mjs reads them from the cache).
      const r = await run('isolated', { where, blob, load: { threads: 2, memory: 'paged', cache: false } });
      assert.equal(r.memory, 'paged');
      checkVectors(r, `paged ${where}`);
    });
  }
});

describe('checkpoint streamed and converted in the browser', () => {
  test('page: URL prefix converted while streaming (f32), cached (OPFS), a tampered entry rebuilt', async () => {
    const job = { where: 'page', url: '/build/test-browser/ckpt/', load: { dtype: 'f32', cacheKey: `fixture-${Date.now()}` } };
    const first = await run('plain', job);
    checkVectors(first, 'streamed conversion');
    const second = await run('plain', job);
    checkVectors(second, 'from the cache');
    assert.deepEqual(second.cache, { store: 'opfs', status: 'hit' });
    // The second load read the cached model file (its loader phases), not the converter's.
    assert.ok(second.phases.includes('done') && !second.phases.includes('converting'), `phases ${second.phases}`);
    assert.ok(first.phases.includes('converting'));
    // A tampered entry fails its checksum: it is dropped and the checkpoint converted again.
    const rebuilt = await run('plain', { ...job, tamperCache: true });
    checkVectors(rebuilt, 'after a tampered cache entry');
    assert.ok(rebuilt.phases.includes('converting'), `phases ${rebuilt.phases}`);
    const hit = await run('plain', job);
    assert.ok(!hit.phases.includes('converting'), `the rebuilt entry is used: phases ${hit.phases}`);
  });
});
