// Loading the official checkpoint as published, converted while model.safetensors streams from a
// local HTTP server (or a folder, or Blobs): the fixture's vectors (f32, max |Δ| ≤ 1e-5), progress
// events, the converted-model cache (hit, corrupt entry rebuilt, cache: false) and aborts that
// leave nothing behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { JinaEmbeddings } from '../../js/index.mjs';
import { assertClose, assertCode, caseOptions, fixtureDir, loadExpected, tempDir, testThreads } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const weightsSize = fs.statSync(path.join(fixtureDir, 'model.safetensors')).size;
let server, base;
const served = { weightsBytes: 0 };

before(async () => {
  // Serves the fixture folder slowly enough (64 KiB pieces) that a load can be aborted midway.
  server = http.createServer((req, res) => {
    const file = path.join(fixtureDir, path.basename(new URL(req.url, 'http://x').pathname));
    if (!fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const st = fs.statSync(file);
    res.writeHead(200, { 'content-length': st.size, etag: `"${st.size}-${st.mtimeMs}"` });
    const stream = fs.createReadStream(file, { highWaterMark: 64 << 10 });
    if (file.endsWith('.safetensors')) stream.on('data', (c) => { served.weightsBytes += c.length; });
    stream.pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
});
after(() => server?.close());

async function checkVectors(model, label) {
  for (const text of exp.texts.slice(0, 3)) {
    for (const c of text.cases) {
      const { data } = await model.embed(text.text, caseOptions(c));
      assertClose(data[0].embedding, c.embedding, TOL, `${label}: ${text.id} / ${c.task}`);
    }
  }
}

const cacheFiles = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);

test('URL prefix: converted while streaming, fixture vectors, progress, then a cache hit', async () => {
  const cache = path.join(tempDir(), 'cache-url');
  const events = [];
  served.weightsBytes = 0;
  const model = await JinaEmbeddings.load(base, { dtype: 'f32', cache, threads: testThreads, onProgress: (p) => events.push(p) });
  try {
    await checkVectors(model, 'streamed');
  } finally {
    await model.dispose();
  }
  const converting = events.filter((e) => e.phase === 'converting');
  assert.ok(converting.length > 1, 'several progress events while converting');
  assert.equal(converting.at(-1).bytesLoaded, weightsSize);
  assert.equal(converting.at(-1).bytesTotal, weightsSize);
  assert.equal(converting.at(-1).tensorsReady, converting.at(-1).tensorsTotal);
  assert.ok(converting.some((e) => e.tensorsReady > 0 && e.tensorsReady < e.tensorsTotal), 'tensors became ready while streaming');
  assert.equal(served.weightsBytes, weightsSize);
  const entries = cacheFiles(cache);
  assert.equal(entries.length, 1, `one complete cache entry, got ${entries}`);
  assert.match(entries[0], /^[0-9a-f]{64}\.jv3$/);

  // Second load: from the cache (the weights' body is not downloaded again).
  served.weightsBytes = 0;
  const again = await JinaEmbeddings.load(base, { dtype: 'f32', cache, threads: testThreads });
  try {
    await checkVectors(again, 'cached');
  } finally {
    await again.dispose();
  }
  assert.ok(served.weightsBytes < weightsSize, `cache hit: ${served.weightsBytes} weight bytes sent`);
});

test('a corrupt cache entry is detected by its checksums and rebuilt', async () => {
  const cache = path.join(tempDir(), 'cache-corrupt');
  await (await JinaEmbeddings.load(base, { dtype: 'f32', cache, threads: testThreads })).dispose();
  const [entry] = cacheFiles(cache);
  const file = path.join(cache, entry);
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - 100] ^= 0xff; // inside the last tensor
  fs.writeFileSync(file, bytes);
  const model = await JinaEmbeddings.load(base, { dtype: 'f32', cache, threads: testThreads });
  try {
    await checkVectors(model, 'after rebuild');
  } finally {
    await model.dispose();
  }
  assert.notDeepEqual(fs.readFileSync(file), bytes, 'the entry was rewritten');
});

test('cache: false writes nothing; abort leaves no partial entry', async () => {
  const cache = path.join(tempDir(), 'cache-none');
  await (await JinaEmbeddings.load(base, { dtype: 'f32', cache: false, threads: testThreads })).dispose();
  assert.deepEqual(cacheFiles(cache), []);

  const controller = new AbortController();
  await assertCode(JinaEmbeddings.load(base, {
    dtype: 'f32', cache, threads: testThreads, signal: controller.signal,
    onProgress: (p) => { if (p.bytesLoaded > weightsSize / 3) controller.abort(); },
  }), 'E_ABORTED');
  assert.deepEqual(cacheFiles(cache), [], 'no entry and no temporary file');
});

test('three files as Blobs and a folder path (int8) load too', async () => {
  const read = (name) => fs.readFileSync(path.join(fixtureDir, name));
  const blobs = await JinaEmbeddings.load({
    config: new Blob([read('config.json')]),
    tokenizer: new Blob([read('tokenizer.json')]),
    tokenizerConfig: new Blob([read('tokenizer_config.json')]),
    weights: new Blob([read('model.safetensors')]),
  }, { dtype: 'f32', threads: testThreads });
  try {
    await checkVectors(blobs, 'blobs');
  } finally {
    await blobs.dispose();
  }
  const folder = await JinaEmbeddings.load(fixtureDir, { cache: path.join(tempDir(), 'cache-folder'), threads: testThreads });
  try {
    assert.equal(folder.info.modelType, 'int8');
  } finally {
    await folder.dispose();
  }
});

test('a checkpoint whose weights are cut short fails with E_BAD_CHECKPOINT', async () => {
  const read = (name) => fs.readFileSync(path.join(fixtureDir, name));
  await assertCode(JinaEmbeddings.load({
    config: new Blob([read('config.json')]),
    tokenizer: new Blob([read('tokenizer.json')]),
    weights: new Blob([read('model.safetensors').subarray(0, 100000)]),
  }, { threads: testThreads }), 'E_BAD_CHECKPOINT');
});
