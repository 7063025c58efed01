// The package in each browser engine (helpers.mjs: Chromium, Firefox, WebKit), on a page and in a
// Web Worker: cross-origin isolated (pthreads build, relaxed SIMD where the engine validates it, 2
// threads) and not (single-thread build chosen by feature detection). Every vector is compared with
// the fixture (f32 model, max |Δ| ≤ 1e-5; the int8 model, whose kernels differ by build, cosine ≥ 0.999).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { CAN, launchBrowser, selectedEngines, singleThreadVariant, threadedVariant } from './helpers.mjs';
import { assertClose, caseOptions, convertedModel, cosine, fixtureDir, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
// Every text × task case at full size, plus one Matryoshka size and a batch of three texts (one call).
const cases = exp.texts.flatMap((t) => t.cases.map((c) => ({ text: t.text, options: caseOptions(c), want: [c.embedding] })));
const [dim, wantDim] = Object.entries(exp.texts[0].cases[0].matryoshka)[0];
cases.push({ text: exp.texts[0].text, options: { ...caseOptions(exp.texts[0].cases[0]), dimensions: Number(dim) }, want: [wantDim] });
const batch = exp.texts.slice(1, 4).map((t) => ({ text: t.text, c: t.cases.find((c) => c.task === 'text-matching') }));
cases.push({ text: batch.map((b) => b.text), options: caseOptions(batch[0].c), want: batch.map((b) => b.c.embedding) });
/** Every vector the cases return, in order. */
const wants = cases.flatMap((c) => c.want);

const servers = {};
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
});

after(() => {
  for (const s of Object.values(servers)) s.server.close();
});

/** Opens the test page on `server` in `browser` and runs one job there (see tests/browser/page/run.mjs). */
async function run(browser, server, job) {
  const page = await browser.newPage();
  try {
    await page.goto(`${servers[server].url}/tests/browser/page/index.html`);
    await page.waitFor(() => window.jv3Ready === true);
    const cs = cases.map(({ text, options }) => ({ text, options }));
    return await page.evaluate(
      ({ job, cs }) => window.jv3RunJob({ ...job, cases: cs }),
      { job: { url: modelPath, ...job }, cs },
    );
  } catch (err) {
    let errors;
    try {
      errors = (await page.errors()).join('\n');
    } catch (e) {
      errors = `(not read: ${e.message})`;
    }
    throw new Error(`${browser.engine}: ${err.message}\npage errors: ${errors || 'none'}`);
  } finally {
    await page.close();
  }
}

function checkVectors(result, label) {
  assert.equal(result.vectors.length, wants.length, `${label}: vector count`);
  for (const [i, want] of wants.entries()) assertClose(result.vectors[i], want, TOL, `${label}: vector ${i}`);
  assert.ok(result.progressEvents > 0, 'progress events arrived');
}

for (const engine of selectedEngines()) {
  const can = CAN[engine];
  const skipUnless = (feature) => (can[feature] === true ? false : can[feature]);
  const threaded = threadedVariant(engine);
  const single = singleThreadVariant(engine);

  describe(engine, () => {
    let browser;
    before(async () => {
      browser = await launchBrowser(engine, tempDir());
    });
    after(async () => {
      await browser?.close();
    });

    test('browser version', (t) => {
      t.diagnostic(browser.version);
    });

    describe('cross-origin isolated (pthreads)', () => {
      for (const where of ['page', 'worker']) {
        test(`${where}: feature detection picks ${threaded}, 2 threads, fixture vectors`, async () => {
          const r = await run(browser, 'isolated', { where, load: { threads: 2 } });
          assert.equal(r.isolated, true);
          assert.equal(r.variant, threaded);
          assert.equal(r.threads, 2);
          assert.deepEqual(r.fallback, []);
          checkVectors(r, `isolated ${where}`);
        });
      }
      test('page: the SIMD128 pthreads build, forced', { skip: threaded === 'wasm' && 'the build feature detection picks here' }, async () => {
        const r = await run(browser, 'isolated', { where: 'page', load: { threads: 2, variant: 'wasm' } });
        assert.equal(r.variant, 'wasm');
        assert.equal(r.threads, 2);
        checkVectors(r, 'isolated page, wasm');
      });
    });

    describe('fallback when the chosen build cannot start', () => {
      test('page: no shared memory, so the single-thread build runs, info.fallback says why, fixture vectors', async () => {
        const r = await run(browser, 'isolated', { where: 'page', load: { threads: 2 }, refuseSharedMemory: true });
        assert.equal(r.isolated, true);
        assert.equal(r.variant, single);
        assert.equal(r.threads, 1);
        // Each threaded build from the one detected (with a smaller memory maximum the second
        // time), each dropped with the memory error.
        const tried = can.relaxedSimd === true ? ['wasm-relaxed', 'wasm'] : ['wasm'];
        assert.deepEqual(r.fallback.map((f) => [f.variant, f.maximumMemoryBytes ?? null]),
          tried.flatMap((v) => [[v, null], [v, 2 ** 30]]));
        for (const f of r.fallback) assert.match(f.reason, /could not allocate memory/);
        checkVectors(r, `fallback to ${single}`);
      });

      test('page: a build asked for explicitly is exactly that build, with a clear error', async () => {
        const r = await run(browser, 'isolated', { where: 'page', load: { threads: 2, variant: threaded }, expectError: true, refuseSharedMemory: true });
        assert.equal(r.error.code, 'E_OUT_OF_MEMORY');
        assert.match(r.error.message, new RegExp(`the ${threaded} build cannot start here: .*could not allocate memory`));
      });

      if (can.relaxedSimd !== true) {
        test('page: the relaxed SIMD build asked for explicitly fails to compile, with a clear error', async () => {
          const r = await run(browser, 'isolated', { where: 'page', load: { threads: 2, variant: 'wasm-relaxed' }, expectError: true });
          assert.equal(r.error.code, 'E_BACKEND');
          assert.match(r.error.message, /^the wasm-relaxed build cannot start here: /);
        });
      }
    });

    describe('int8 model: each build\'s own int8 kernel against the fixture', () => {
      // The relaxed-SIMD build's kernel (8-bit activations where the engine's relaxed dot is exact
      // for them, 7-bit elsewhere) runs only in a browser; the others run in Node's tests too.
      const MIN_COSINE = 0.999;
      for (const [variant, threads] of [['wasm-relaxed', 1], ['wasm-relaxed', 2], ['wasm', 2], ['wasm-st-relaxed', 1], ['wasm-st', 1]]) {
        test(`${variant}, ${threads} thread(s): cosine ≥ ${MIN_COSINE} on every case`,
          { skip: variant.endsWith('relaxed') && skipUnless('relaxedSimd') }, async (t) => {
            const r = await run(browser, 'isolated', { where: 'page', url: '/build/test-browser/model-int8.jv3', load: { threads, variant } });
            assert.equal(r.variant, variant);
            assert.equal(r.vectors.length, wants.length, 'vector count');
            let worst = 1;
            for (const [i, want] of wants.entries()) {
              const cos = cosine(r.vectors[i], want);
              assert.ok(cos >= MIN_COSINE, `${variant}: vector ${i} cosine ${cos.toFixed(6)}`);
              worst = Math.min(worst, cos);
            }
            t.diagnostic(`lowest cosine ${worst.toFixed(6)}`);
          });
      }
    });

    describe('not isolated (single thread)', () => {
      for (const where of ['page', 'worker']) {
        test(`${where}: feature detection picks the single-thread build, fixture vectors`, async () => {
          const r = await run(browser, 'plain', { where, load: { threads: 2 } });
          assert.equal(r.isolated, false);
          assert.equal(r.variant, single);
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
          const r = await run(browser, 'isolated', { where, blob, load: { threads: 2, memory: 'paged', cache: false } });
          assert.equal(r.memory, 'paged');
          checkVectors(r, `paged ${where}`);
        });
      }
    });

    if (engine === 'webkit') {
      test('WebKitGTK as shipped, cross-origin isolated but without SharedArrayBuffer: the single-thread build, fixture vectors', async () => {
        const shipped = await launchBrowser('webkit', tempDir(), { sharedArrayBuffer: false });
        try {
          const r = await run(shipped, 'isolated', { where: 'page', load: { threads: 2 } });
          assert.equal(r.isolated, true);
          assert.equal(r.sharedArrayBuffer, false);
          assert.equal(r.variant, 'wasm-st');
          assert.equal(r.threads, 1);
          assert.deepEqual(r.fallback, []);
          checkVectors(r, 'WebKitGTK as shipped');
        } finally {
          await shipped.close();
        }
      });
    }

    describe('checkpoint streamed and converted in the browser', () => {
      const store = can.opfs === true ? 'opfs' : 'cache-api';
      test(`page: URL prefix converted while streaming (f32), cached (${store}), a tampered entry rebuilt`, async () => {
        const job = { where: 'page', url: '/build/test-browser/ckpt/', load: { dtype: 'f32', cacheKey: `fixture-${Date.now()}` } };
        const first = await run(browser, 'plain', job);
        checkVectors(first, 'streamed conversion');
        const second = await run(browser, 'plain', job);
        checkVectors(second, 'from the cache');
        assert.deepEqual(second.cache, { store, status: 'hit' });
        // The second load read the cached model file (its loader phases), not the converter's.
        assert.ok(second.phases.includes('done') && !second.phases.includes('converting'), `phases ${second.phases}`);
        assert.ok(first.phases.includes('converting'));
        // A tampered entry fails its checksum: it is dropped and the checkpoint converted again.
        const rebuilt = await run(browser, 'plain', { ...job, tamperCache: true });
        checkVectors(rebuilt, 'after a tampered cache entry');
        assert.ok(rebuilt.phases.includes('converting'), `phases ${rebuilt.phases}`);
        const hit = await run(browser, 'plain', job);
        assert.ok(!hit.phases.includes('converting'), `the rebuilt entry is used: phases ${hit.phases}`);
      });
    });
  });
}
