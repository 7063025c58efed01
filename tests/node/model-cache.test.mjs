// The model cache with a folder (what browsers do with OPFS, here in Node): a model file by URL is
// stored while it downloads and then read from the folder in every memory mode (the server sees
// only the one-byte version check), also from a server that ignores Range; a newer version
// replaces the older entry; a cacheKey entry is used with no request; without a folder Node caches
// no download; a checkpoint is paged and streamed from its converted entry. Vectors against the
// fixture (f32: max |Δ| ≤ 1e-5).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { cacheError } from '../../js/cache.mjs';
import { JinaEmbeddings } from '../../js/index.mjs';
import { startStaticServer } from '../../scripts/dev/static-server.mjs';
import { assertClose, assertCode, caseOptions, convertedModel, fixtureDir, loadExpected, tempDir, testThreads } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const cases = exp.texts.flatMap((t) => t.cases.map((c) => ({ text: t.text, options: caseOptions(c), want: c.embedding })))
  .filter((_, i) => i % 16 === 0);

const root = path.join(tempDir(), 'served');
const requests = [];
const servers = {};
let dirs = 0;
const newCacheDir = () => path.join(tempDir(), `model-cache-${++dirs}`);
const entries = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

before(async () => {
  fs.mkdirSync(root, { recursive: true });
  fs.copyFileSync(await convertedModel('f32'), path.join(root, 'model.jv3'));
  const log = (req) => requests.push({ path: new URL(req.url, 'http://x').pathname, range: req.headers.range ?? null });
  servers.ranged = await startStaticServer({ root, isolation: false, onRequest: log });
  servers.plain = await startStaticServer({ root, isolation: false, ranges: false, onRequest: log });
});
after(() => {
  for (const s of Object.values(servers)) s.server.close();
});

async function checkModel(model, label) {
  assert.ok(cases.length > 0);
  for (const [i, c] of cases.entries()) {
    const res = await model.embed(c.text, c.options);
    assertClose(res.data[0].embedding, c.want, TOL, `${label}: case ${i}`);
  }
}

/** Loads, checks the vectors, disposes; resolves to info.cache and the requests for model.jv3. */
async function loadThrough(url, options, label) {
  const mark = requests.length;
  const model = await JinaEmbeddings.load(url, { threads: testThreads, ...options });
  try {
    assert.equal(model.info.memory, options.memory ?? 'resident');
    await checkModel(model, label);
    return { cache: model.info.cache, sent: requests.slice(mark).filter((r) => r.path === '/model.jv3').map((r) => r.range) };
  } finally {
    await model.dispose();
  }
}

for (const server of ['ranged', 'plain']) {
  test(`a URL (${server === 'ranged' ? 'Range answered' : 'Range ignored'}) into a cache folder: stored once, then every memory mode reads the folder`, async () => {
    const cache = newCacheDir();
    const url = `${servers[server].url}/model.jv3`;
    const first = await loadThrough(url, { cache, memory: 'paged' }, 'stored');
    assert.deepEqual(first.cache, { store: 'folder', status: 'stored' });
    // A host that ignores Range answers the probe with the whole file: that is the download.
    assert.deepEqual(first.sent, server === 'ranged' ? ['bytes=0-0', null] : ['bytes=0-0']);
    assert.equal(entries(cache).length, 1);
    assert.equal(fs.statSync(path.join(cache, entries(cache)[0])).size, fs.statSync(path.join(root, 'model.jv3')).size);
    for (const memory of ['resident', 'paged', 'streamed']) {
      const r = await loadThrough(url, { cache, memory }, `${server}, ${memory}`);
      assert.deepEqual(r.cache, { store: 'folder', status: 'hit' });
      assert.deepEqual(r.sent, ['bytes=0-0'], `${memory}: only the version check`);
    }
  });
}

test('a newer version at the URL replaces the older entry once stored', async () => {
  const cache = newCacheDir();
  const file = path.join(root, 'model.jv3');
  const url = `${servers.ranged.url}/model.jv3`;
  await loadThrough(url, { cache, memory: 'paged' }, 'v1');
  const [v1] = entries(cache);
  const later = new Date(fs.statSync(file).mtimeMs + 60_000);
  fs.utimesSync(file, later, later);
  const r = await loadThrough(url, { cache, memory: 'paged' }, 'v2');
  assert.equal(r.cache.status, 'stored');
  const now = entries(cache);
  assert.equal(now.length, 1, `only the new entry: ${now}`);
  assert.notEqual(now[0], v1);
  // Same source, so the first 16 hex digits are shared; the version digits differ.
  assert.equal(now[0].slice(0, 16), v1.slice(0, 16));
});

test('a cacheKey names the version: its entry is used without asking the server', async () => {
  const cache = newCacheDir();
  const r = await loadThrough(`${servers.ranged.url}/model.jv3`, { cache, cacheKey: 'fixture-f32', memory: 'paged' }, 'keyed, stored');
  assert.deepEqual(r.cache, { store: 'folder', status: 'stored' });
  // Port 1 refuses connections: the load must not need the network at all.
  const mark = requests.length;
  const offline = await loadThrough('http://127.0.0.1:1/model.jv3', { cache, cacheKey: 'fixture-f32', memory: 'streamed' }, 'keyed, offline');
  assert.deepEqual(offline.cache, { store: 'folder', status: 'hit' });
  assert.equal(requests.length, mark);
  await assertCode(JinaEmbeddings.load('http://127.0.0.1:1/model.jv3', { cache, cacheKey: 'another', threads: testThreads }), 'E_IO');
});

test('Node caches no download unless a folder is named', async () => {
  const dir = newCacheDir();
  const saved = process.env.JV3_MODEL_CACHE;
  process.env.JV3_MODEL_CACHE = dir;
  try {
    const r = await loadThrough(`${servers.ranged.url}/model.jv3`, { memory: 'paged' }, 'uncached');
    assert.equal(r.cache, null);
    assert.deepEqual(entries(dir), []);
    await assertCode(JinaEmbeddings.load(`${servers.plain.url}/model.jv3`, { memory: 'paged' }), 'E_NO_RANGE');
  } finally {
    if (saved === undefined) delete process.env.JV3_MODEL_CACHE;
    else process.env.JV3_MODEL_CACHE = saved;
  }
});

test('a checkpoint paged (converted) and streamed (from its entry), fixture vectors', async () => {
  const cache = newCacheDir();
  const first = await JinaEmbeddings.load(fixtureDir, { cache, dtype: 'f32', memory: 'paged', threads: testThreads });
  try {
    assert.deepEqual(first.info.cache, { store: 'folder', status: 'stored' });
    assert.equal(first.info.memory, 'paged');
    await checkModel(first, 'checkpoint, paged');
    assert.ok(first.pageStats.bytesRead > 0, 'rows read from the entry');
  } finally {
    await first.dispose();
  }
  const again = await JinaEmbeddings.load(fixtureDir, { cache, dtype: 'f32', memory: 'streamed', threads: testThreads });
  try {
    assert.deepEqual(again.info.cache, { store: 'folder', status: 'hit' });
    await checkModel(again, 'checkpoint, streamed');
  } finally {
    await again.dispose();
  }
  assert.equal(entries(cache).length, 1);
});

test('a full quota or disk is E_CACHE_FULL; other write failures E_IO', () => {
  const quota = Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
  assert.equal(cacheError(quota, 'opfs').code, 'E_CACHE_FULL');
  assert.equal(cacheError(Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'folder').code, 'E_CACHE_FULL');
  assert.equal(cacheError(Object.assign(new Error('quota'), { code: 'EDQUOT' }), 'folder').code, 'E_CACHE_FULL');
  assert.equal(cacheError(Object.assign(new Error('denied'), { code: 'EACCES' }), 'folder').code, 'E_IO');
});
