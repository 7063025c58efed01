// The browser model cache in headless Chromium: a model file by URL is copied into the Origin
// Private File System (OPFS) once, while it downloads, and every later load — resident, paged or
// streamed — reads it from there with no network read but the one-byte version check; a
// checkpoint converted in the page is cached there and loads paged and streamed too. Stale
// versions are deleted once a newer one is complete, never while a model reads them; a full quota
// loads uncached (reported in info.cache) or, where only the entry could be read at offsets, fails
// with E_CACHE_FULL; aborted and crashed writers leave nothing behind; without OPFS the Cache API
// is used. Vectors are the fixture's: f32 max |Δ| ≤ 1e-5, int8 cosine ≥ 0.999.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';

import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { launchChromium } from './helpers.mjs';
import { assertClose, caseOptions, convertedModel, cosine, fixtureDir, loadExpected, repoRoot, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const MIN_COSINE = 0.999;
const exp = loadExpected();
const allCases = exp.texts.flatMap((t) => t.cases.map((c) => ({ text: t.text, options: caseOptions(c), want: c.embedding })));
// The tests about the cache's mechanics check a few vectors; the parity tests check every case.
const someCases = allCases.filter((_, i) => i % 31 === 0);

const DIR = '/build/test-opfs';
const dir = path.join(repoRoot, 'build', 'test-opfs');
const servers = {};
/** Requests the servers saw: { server, method, path, range }. */
const requests = [];
let browser;
const sizes = {};

before(async () => {
  fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true });
  fs.copyFileSync(await convertedModel('f32'), path.join(dir, 'model.jv3'));
  fs.copyFileSync(await convertedModel('int8'), path.join(dir, 'model-int8.jv3'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
    fs.copyFileSync(path.join(fixtureDir, f), path.join(dir, 'ckpt', f));
  }
  sizes.f32 = fs.statSync(path.join(dir, 'model.jv3')).size;
  sizes.int8 = fs.statSync(path.join(dir, 'model-int8.jv3')).size;
  const log = (server) => (req) => requests.push({ server, method: req.method, path: new URL(req.url, 'http://x').pathname, range: req.headers.range ?? null });
  servers.isolated = await startStaticServer({ root: repoRoot, isolation: true, onRequest: log('isolated') });
  // A host that ignores Range requests (200 with the whole file).
  servers.noRange = await startStaticServer({ root: repoRoot, isolation: true, ranges: false, onRequest: log('noRange') });
  browser = await launchChromium(tempDir());
});

after(async () => {
  await browser?.close();
  for (const s of Object.values(servers)) s.server.close();
});

/** Opens the test page; `call(fn, ...args)` runs an export of page/opfs.mjs, `job(job)` page/run.mjs's runJob. */
async function openPage(server = 'isolated', { initScript } = {}) {
  const page = await browser.newPage();
  if (initScript) await page.addInitScript(initScript);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${servers[server].url}/tests/browser/page/index.html`);
  await page.waitForFunction(() => window.jv3Ready === true);
  const wrap = (promise) => promise.catch((err) => {
    throw new Error(`${err.message}\npage errors: ${errors.join('\n') || 'none'}`);
  });
  return {
    page,
    origin: servers[server].url,
    call: (fn, ...args) => wrap(page.evaluate(async ({ fn, args }) => (await import('./opfs.mjs'))[fn](...args), { fn, args })),
    job: (job, cases = allCases) => wrap(page.evaluate(
      async ({ job, cs }) => (await import('./run.mjs')).runJob({ ...job, cases: cs }),
      { job, cs: cases.map(({ text, options }) => ({ text, options })) },
    )),
    close: () => page.close(),
  };
}

/** Requests for `file` since `mark` (an index into `requests`). */
const requestsFor = (file, mark) => requests.slice(mark).filter((r) => r.path === `${DIR}/${file}`);

/** Fixture parity: every vector of `vectors` against `cases` (f32: max |Δ|; int8: cosine). */
function checkVectors(vectors, cases, dtype, label) {
  assert.equal(vectors.length, cases.length, `${label}: one vector per case`);
  for (const [i, c] of cases.entries()) {
    if (dtype === 'f32') assertClose(vectors[i], c.want, TOL, `${label}: case ${i}`);
    else {
      const cos = cosine(vectors[i], c.want);
      assert.ok(cos >= MIN_COSINE, `${label}: case ${i} cosine ${cos}`);
    }
  }
}

/** The cache folder's entries and other files. */
async function storeFiles(p) {
  const files = await p.call('listing');
  return { entries: files.filter((f) => /^[0-9a-f]{64}\.jv3$/.test(f.name)), others: files.filter((f) => !/^[0-9a-f]{64}\.jv3$/.test(f.name)) };
}

beforeEach(async () => {
  const p = await openPage();
  await p.call('clear');
  await p.close();
});

describe('a model file by URL, through OPFS', () => {
  for (const [dtype, file, where] of [['f32', 'model.jv3', 'page'], ['int8', 'model-int8.jv3', 'worker']]) {
    test(`${where}, ${dtype}: downloaded once into OPFS, then resident, paged and streamed read it there, fixture vectors`, async () => {
      const p = await openPage();
      try {
        const url = `${DIR}/${file}`;
        const load = { threads: 2 };
        // First load: paged, while the file downloads it is copied into OPFS; rows are read from there.
        let mark = requests.length;
        const first = await p.job({ where, url, load: { ...load, memory: 'paged' } });
        assert.deepEqual(first.cache, { store: 'opfs', status: 'stored' });
        assert.equal(first.memory, 'paged');
        checkVectors(first.vectors, allCases, dtype, `first load (${where}, paged)`);
        assert.ok(first.progressEvents > 0, 'progress while downloading');
        const sent = requestsFor(file, mark);
        assert.deepEqual(sent.map((r) => r.range), ['bytes=0-0', null], 'a one-byte probe, then one download, no Range reads');
        const { entries, others } = await storeFiles(p);
        assert.equal(entries.length, 1, `one entry: ${JSON.stringify(entries)}`);
        assert.equal(entries[0].size, sizes[dtype], 'the entry is the whole file');
        assert.deepEqual(others, [], 'no temporary file left');

        // Later loads, every mode: from the entry; the network only sees the version check.
        for (const memory of ['resident', 'paged', 'streamed']) {
          mark = requests.length;
          const r = await p.job({ where, url, load: { ...load, memory } });
          assert.deepEqual(r.cache, { store: 'opfs', status: 'hit' }, `${memory}: cache hit`);
          assert.equal(r.memory, memory);
          checkVectors(r.vectors, allCases, dtype, `${where}, ${memory}, from OPFS`);
          assert.deepEqual(requestsFor(file, mark).map((q) => q.range), ['bytes=0-0'], `${memory}: only the version check went to the network`);
          if (r.pageStats && memory !== 'resident') assert.ok(r.pageStats.bytesRead > 0, `${memory}: rows were read (from OPFS)`);
        }
        assert.equal((await storeFiles(p)).entries.length, 1, 'still one entry');
      } finally {
        await p.close();
      }
    });
  }

  test('a server that ignores Range: paged and streamed still work, from the entry', async () => {
    const p = await openPage('noRange');
    try {
      await p.call('clear');
      const url = `${DIR}/model.jv3`;
      let mark = requests.length;
      const first = await p.job({ where: 'page', url, load: { threads: 2, memory: 'streamed' } }, someCases);
      assert.deepEqual(first.cache, { store: 'opfs', status: 'stored' });
      checkVectors(first.vectors, someCases, 'f32', 'no Range, streamed');
      // The probe's answer (the whole file) was the download.
      assert.equal(requestsFor('model.jv3', mark).length, 1);
      mark = requests.length;
      const again = await p.job({ where: 'page', url, load: { threads: 2, memory: 'paged' } }, someCases);
      assert.deepEqual(again.cache, { store: 'opfs', status: 'hit' });
      checkVectors(again.vectors, someCases, 'f32', 'no Range, paged, from OPFS');
      assert.equal(requestsFor('model.jv3', mark).length, 1);
    } finally {
      await p.close();
    }
  });

  test('a tampered entry fails its checksums: it is dropped and the file downloaded again', async () => {
    const p = await openPage();
    try {
      const url = `${DIR}/model.jv3`;
      assert.equal((await p.job({ where: 'page', url, load: { threads: 2, memory: 'paged' } }, someCases)).cache.status, 'stored');
      const mark = requests.length;
      const r = await p.job({ where: 'page', url, tamperCache: true, load: { threads: 2, memory: 'paged' } }, someCases);
      assert.deepEqual(r.cache, { store: 'opfs', status: 'stored' }, 'stored again');
      checkVectors(r.vectors, someCases, 'f32', 'after a tampered entry');
      assert.ok(requestsFor('model.jv3', mark).some((q) => q.range === null), 'downloaded again');
      assert.equal((await storeFiles(p)).entries.length, 1);
    } finally {
      await p.close();
    }
  });
});

describe('stale entries', () => {
  test('a newer version, once complete, replaces the older one; an entry in use is kept until released', async () => {
    const file = path.join(dir, 'versioned.jv3');
    const url = `${DIR}/versioned.jv3`;
    const setVersion = (model, seconds) => {
      fs.copyFileSync(path.join(dir, model), file);
      const t = new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
      fs.utimesSync(file, t, t);
    };
    // One thread: two threaded models at once would need more pthread workers than a page starts.
    const PAGED = { threads: 1, memory: 'paged' };
    const p = await openPage();
    try {
      setVersion('model.jv3', 1);
      const v1 = await p.call('keep', 'v1', url, PAGED);
      assert.equal(v1.info.cache?.status, 'stored', JSON.stringify(v1));
      const [entry1] = (await storeFiles(p)).entries;
      assert.ok(entry1, 'the first version is stored');
      await p.call('disposeKept', 'v1');

      // Version 2 (another file at the same URL): stored, and version 1 deleted.
      setVersion('model-int8.jv3', 2);
      const v2 = await p.call('keep', 'v2', url, PAGED);
      assert.equal(v2.info.cache?.status, 'stored', JSON.stringify(v2));
      let { entries } = await storeFiles(p);
      assert.equal(entries.length, 1, `only the newer entry: ${JSON.stringify(entries)}`);
      assert.notEqual(entries[0].name, entry1.name);
      assert.equal(entries[0].size, sizes.int8);
      const entry2 = entries[0];
      checkVectors((await p.call('embedKept', 'v2', someCases.map(({ text, options }) => ({ text, options })))).vectors, someCases, 'int8', 'version 2');

      // Version 3 while version 2 is still loaded (paged, reading its entry): 2 is kept meanwhile.
      setVersion('model.jv3', 3);
      const v3 = await p.call('keep', 'v3', url, PAGED);
      assert.equal(v3.info.cache?.status, 'stored');
      ({ entries } = await storeFiles(p));
      assert.equal(entries.length, 2, 'the entry in use is not deleted');
      assert.ok(entries.some((e) => e.name === entry2.name));
      // …and still reads: rows of new tokens come from it.
      const reread = await p.call('embedKept', 'v2', someCases.map(({ text, options }) => ({ text, options })));
      checkVectors(reread.vectors, someCases, 'int8', 'version 2 while version 3 is stored');
      await p.call('disposeKept', 'v2');
      await p.call('disposeKept', 'v3');

      // The next load of version 3 (a hit) deletes what is left of the older ones.
      const again = await p.call('keep', 'v3b', url, PAGED);
      assert.equal(again.info.cache?.status, 'hit');
      ({ entries } = await storeFiles(p));
      assert.equal(entries.length, 1, `only version 3: ${JSON.stringify(entries)}`);
      assert.equal(entries[0].size, sizes.f32);
      checkVectors((await p.call('embedKept', 'v3b', someCases.map(({ text, options }) => ({ text, options })))).vectors, someCases, 'f32', 'version 3');
      await p.call('disposeKept', 'v3b');
    } finally {
      await p.close();
      fs.rmSync(file, { force: true });
    }
  });
});

describe('a full quota', () => {
  /** Runs `fn(p)` with the origin of `server` limited to 1 MiB (smaller than either model). */
  async function withQuota(server, fn) {
    const p = await openPage(server);
    const cdp = await p.page.context().newCDPSession(p.page);
    const origin = new URL(p.origin).origin;
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 << 20 });
    try {
      await p.call('clear');
      return await fn(p);
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin });
      await p.close();
    }
  }

  for (const where of ['page', 'worker']) {
    test(`${where}: the load goes on uncached, info.cache says E_CACHE_FULL, pages are read over HTTP`, async () => {
      await withQuota('isolated', async (p) => {
        const mark = requests.length;
        const r = await p.job({ where, url: `${DIR}/model.jv3`, load: { threads: 2, memory: 'paged' } }, someCases);
        assert.equal(r.cache?.status, 'failed', JSON.stringify(r.cache));
        assert.equal(r.cache.store, 'opfs');
        assert.equal(r.cache.error.code, 'E_CACHE_FULL');
        assert.match(r.cache.error.message, /no room/);
        checkVectors(r.vectors, someCases, 'f32', `${where}, quota full`);
        assert.ok(requestsFor('model.jv3', mark).filter((q) => q.range && q.range !== 'bytes=0-0').length > 0, 'rows read with Range requests');
        const { entries, others } = await storeFiles(p);
        assert.deepEqual([entries, others], [[], []], 'no entry, no temporary file');
      });
    });
  }

  test('a server that ignores Range: resident loads uncached; paged fails with E_CACHE_FULL', async () => {
    await withQuota('noRange', async (p) => {
      const url = `${DIR}/model.jv3`;
      const resident = await p.job({ where: 'page', url, load: { threads: 2, memory: 'resident' } }, someCases);
      assert.equal(resident.cache?.error?.code, 'E_CACHE_FULL');
      checkVectors(resident.vectors, someCases, 'f32', 'resident, quota full');
      const paged = await p.job({ where: 'page', url, load: { threads: 2, memory: 'paged' }, expectError: true });
      assert.equal(paged.error.code, 'E_CACHE_FULL');
      assert.match(paged.error.message, /ignores Range/);
      assert.deepEqual(await storeFiles(p), { entries: [], others: [] });
    });
  });

  test('a checkpoint: resident converts uncached; streamed fails with E_CACHE_FULL', async () => {
    await withQuota('isolated', async (p) => {
      const url = `${DIR}/ckpt/`;
      const resident = await p.job({ where: 'page', url, load: { threads: 2, dtype: 'f32', memory: 'resident' } }, someCases);
      assert.equal(resident.cache?.error?.code, 'E_CACHE_FULL');
      checkVectors(resident.vectors, someCases, 'f32', 'checkpoint, quota full');
      const streamed = await p.job({ where: 'page', url, load: { threads: 2, dtype: 'f32', memory: 'streamed' }, expectError: true });
      assert.equal(streamed.error.code, 'E_CACHE_FULL');
      assert.deepEqual(await storeFiles(p), { entries: [], others: [] });
    });
  });
});

describe('a checkpoint converted in the page, cached in OPFS', () => {
  test('paged on the first load (converted), streamed and paged from the entry, fixture vectors', async () => {
    const p = await openPage();
    try {
      const url = `${DIR}/ckpt/`;
      let mark = requests.length;
      const first = await p.job({ where: 'page', url, load: { threads: 2, dtype: 'f32', memory: 'paged' } });
      assert.deepEqual(first.cache, { store: 'opfs', status: 'stored' });
      assert.deepEqual(requestsFor('ckpt/model.safetensors', mark).map((q) => q.range), ['bytes=0-0', null], 'the probe, then the download');
      assert.ok(first.phases.includes('converting'));
      assert.equal(first.memory, 'paged');
      checkVectors(first.vectors, allCases, 'f32', 'checkpoint, paged, converted');
      assert.equal((await storeFiles(p)).entries.length, 1);
      for (const [where, memory] of [['page', 'streamed'], ['worker', 'paged']]) {
        mark = requests.length;
        const r = await p.job({ where, url, load: { threads: 2, dtype: 'f32', memory } });
        assert.deepEqual(r.cache, { store: 'opfs', status: 'hit' });
        assert.ok(!r.phases.includes('converting'), `${where} ${memory}: phases ${r.phases}`);
        assert.equal(r.memory, memory);
        checkVectors(r.vectors, allCases, 'f32', `checkpoint, ${where}, ${memory}, from OPFS`);
        // Of the weights, only the first byte is asked for: its headers name the version.
        assert.deepEqual(requestsFor('ckpt/model.safetensors', mark).map((q) => q.range), ['bytes=0-0']);
      }
    } finally {
      await p.close();
    }
  });
});

describe('lifetimes', () => {
  test('dispose while calls read the entry: the calls answer, the entry is released, later calls are E_DISPOSED', async () => {
    const p = await openPage();
    try {
      const url = `${DIR}/model.jv3`;
      assert.equal((await p.job({ where: 'page', url, load: { threads: 2 } }, someCases)).cache.status, 'stored');
      const cs = allCases.map(({ text, options }) => ({ text, options }));
      const r = await p.call('disposeWhileReading', url, { threads: 2, memory: 'streamed', rowCache: 1 }, cs);
      assert.equal(r.locksLoaded.length, 1, `a shared lock on the entry while loaded: ${JSON.stringify(r.locksLoaded)}`);
      assert.equal(r.locksLoaded[0].mode, 'shared');
      assert.deepEqual(r.errors, []);
      assert.ok(r.statuses.every((s) => s === 'fulfilled'));
      checkVectors(r.vectors, allCases, 'f32', 'calls queued before dispose');
      assert.deepEqual(r.locksAfter, [], 'released by dispose');
      assert.equal(r.late?.code, 'E_DISPOSED');

      // A worker's lock goes with the worker.
      const w = await p.call('workerLocks', url, { threads: 2, memory: 'paged' });
      assert.equal(w.cache.status, 'hit');
      assert.equal(w.during.length, 1, JSON.stringify(w.during));
      assert.deepEqual(w.after, []);
    } finally {
      await p.close();
    }
  });

  test('two tabs download the same version at once: both load, one entry is kept, nothing else is left', async () => {
    const [a, b] = [await openPage(), await openPage()];
    try {
      const url = `${DIR}/model.jv3`;
      const job = { where: 'page', url, load: { threads: 1, memory: 'paged' } };
      const [ra, rb] = await Promise.all([a.job(job, someCases), b.job(job, someCases)]);
      for (const [r, tab] of [[ra, 'a'], [rb, 'b']]) {
        assert.equal(r.cache?.status, 'stored', `tab ${tab}: ${JSON.stringify(r.cache)}`);
        checkVectors(r.vectors, someCases, 'f32', `tab ${tab}`);
      }
      const { entries, others } = await storeFiles(a);
      assert.equal(entries.length, 1);
      assert.equal(entries[0].size, sizes.f32);
      assert.deepEqual(others, []);
      assert.equal((await a.job(job, someCases)).cache.status, 'hit');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an aborted download leaves no entry and no temporary file; a dead writer\'s file is removed, a live one\'s kept until it ends', async () => {
    const p = await openPage();
    try {
      const url = `${DIR}/model.jv3`;
      const aborted = await p.call('abortedLoad', url, { threads: 2, memory: 'paged' }, 2);
      assert.equal(aborted.error?.code, 'E_ABORTED', JSON.stringify(aborted));
      // The temporary file is removed as the load unwinds: allow it a moment.
      let files;
      for (let i = 0; i < 50; i++) {
        files = await storeFiles(p);
        if (!files.entries.length && !files.others.length) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(files, { entries: [], others: [] });

      const name = 'ab'.repeat(32);
      const dead = await p.call('fakeTempFile', name);
      const live = await p.call('fakeTempFile', name, { hold: true });
      assert.equal((await storeFiles(p)).others.length, 2);
      // The next writer removes the file whose writer is gone, not the one whose lock is held.
      assert.equal((await p.job({ where: 'page', url, load: { threads: 2 } }, someCases)).cache.status, 'stored');
      const after = (await storeFiles(p)).others.map((f) => f.name);
      assert.ok(!after.includes(dead.name), `the dead writer's file is removed: ${after}`);
      assert.deepEqual(after, [live.name]);
      await p.call('releaseTemp');
      // A cache hit tidies up too: the writer that held it has ended now.
      assert.equal((await p.job({ where: 'page', url, load: { threads: 2 } }, someCases)).cache.status, 'hit');
      assert.deepEqual((await storeFiles(p)).others, [], 'removed by the hit');
    } finally {
      await p.close();
    }
  });
});

describe('without OPFS', () => {
  test('the Cache API holds the entry; paged reads it from there', async () => {
    const noOpfs = () => {
      delete StorageManager.prototype.getDirectory;
    };
    const p = await openPage('isolated', { initScript: noOpfs });
    try {
      const url = `${DIR}/model.jv3`;
      const first = await p.job({ where: 'page', url, load: { threads: 2, memory: 'paged' } }, someCases);
      assert.deepEqual(first.cache, { store: 'cache-api', status: 'stored' });
      checkVectors(first.vectors, someCases, 'f32', 'Cache API, stored');
      const mark = requests.length;
      const again = await p.job({ where: 'page', url, load: { threads: 2, memory: 'paged' } }, someCases);
      assert.deepEqual(again.cache, { store: 'cache-api', status: 'hit' });
      checkVectors(again.vectors, someCases, 'f32', 'Cache API, paged');
      assert.deepEqual(requestsFor('model.jv3', mark).map((q) => q.range), ['bytes=0-0']);
      const entries = await p.call('cacheApiListing');
      assert.equal(entries.length, 1);
      assert.equal(entries[0].size, sizes.f32);
    } finally {
      await p.call('clear').catch(() => {});
      await p.close();
    }
  });
});
