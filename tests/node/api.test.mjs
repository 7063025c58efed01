// The JS API itself: every kind of model source, progress, abort, the response shape, the
// per-instance call queue, dispose, and the converter's handling of bad checkpoints.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { convertCheckpoint, EmbeddingError, JinaEmbeddings } from '../../js/index.mjs';
import { assertCode, convertedModel, fixtureDir, loadExpected, loadModel, tempDir, testThreads } from '../helpers.mjs';

const exp = loadExpected();
const TEXTS = ['Hello world!', 'Die Straßenbahn fährt alle zehn Minuten.', ''];

/** Splits `bytes` into chunks of `size` (odd sizes exercise every boundary case of the loader). */
function* chunked(bytes, size) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('model sources', () => {
  let file;
  let bytes;
  let reference;
  before(async () => {
    file = await convertedModel('int8');
    bytes = new Uint8Array(fs.readFileSync(file));
    const model = await JinaEmbeddings.load(file, { threads: testThreads });
    reference = (await model.embed(TEXTS, { task: 'retrieval.query' })).data.map((d) => Array.from(d.embedding));
    await model.dispose();
  });

  const sources = {
    'Uint8Array': () => bytes,
    'ArrayBuffer': () => bytes.slice().buffer,
    'Buffer': () => Buffer.from(bytes),
    'URL of a file': () => pathToFileURL(file),
    'Response': () => new Response(bytes),
    'Blob': () => new Blob([bytes]),
    'ReadableStream of 65537-byte chunks': () => ReadableStream.from(chunked(bytes, 65537)),
    'async iterable of 1000-byte then 3 MiB chunks': () =>
      (async function* () {
        yield bytes.subarray(0, 1000);
        yield* chunked(bytes.subarray(1000), 3 << 20);
      })(),
  };
  for (const [name, make] of Object.entries(sources)) {
    test(name, async () => {
      const model = await JinaEmbeddings.load(make(), { threads: testThreads });
      const { data } = await model.embed(TEXTS, { task: 'retrieval.query' });
      assert.deepEqual(data.map((d) => Array.from(d.embedding)), reference);
      await model.dispose();
    });
  }

  test('a failed HTTP response: E_IO', async () => {
    await assertCode(JinaEmbeddings.load(new Response('not found', { status: 404 })), 'E_IO');
  });

  test('an unsupported source: E_INVALID_ARGUMENT', async () => {
    await assertCode(JinaEmbeddings.load(12345), 'E_INVALID_ARGUMENT');
  });

  test('bad threads: E_INVALID_ARGUMENT', async () => {
    await assertCode(JinaEmbeddings.load(bytes, { threads: 0 }), 'E_INVALID_ARGUMENT');
  });

  test('progress is reported up to the whole file', async () => {
    const events = [];
    const model = await JinaEmbeddings.load(file, { threads: testThreads, onProgress: (p) => events.push(p) });
    await model.dispose();
    assert.ok(events.length >= 2, `${events.length} progress events`);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].bytesLoaded >= events[i - 1].bytesLoaded);
    const last = events.at(-1);
    assert.equal(last.bytesLoaded, bytes.length);
    assert.equal(last.bytesTotal, bytes.length);
    assert.equal(last.tensorsReady, last.tensorsTotal);
    assert.ok(last.tensorsTotal > 0);
    assert.ok(events.every((p) => p.bytesTotal === bytes.length), 'bytesTotal known from the start (file size)');
  });

  test('abort during the load: E_ABORTED', async () => {
    const controller = new AbortController();
    const err = await assertCode(
      JinaEmbeddings.load(file, {
        threads: testThreads,
        signal: controller.signal,
        onProgress: () => controller.abort(new Error('user')),
      }),
      'E_ABORTED',
    );
    assert.equal(err.cause.message, 'user');
  });

  test('abort while waiting for a stalled stream: E_ABORTED at once', { timeout: 10_000 }, async () => {
    const controller = new AbortController();
    let cancelled = false;
    const stalled = new ReadableStream({
      start(c) {
        c.enqueue(bytes.subarray(0, 4096));
      },
      cancel() {
        cancelled = true;
      },
    });
    const loading = JinaEmbeddings.load(stalled, { threads: testThreads, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assertCode(loading, 'E_ABORTED');
    assert.ok(cancelled, 'the stream was cancelled');
  });

  test('an already aborted signal: E_ABORTED', async () => {
    await assertCode(JinaEmbeddings.load(file, { signal: AbortSignal.abort() }), 'E_ABORTED');
  });
});

describe('a loaded model', () => {
  let model;
  before(async () => {
    model = await loadModel('int8');
  });
  after(() => model?.dispose());

  test('the response has the Jina/OpenAI shape', async () => {
    const response = await model.embed(TEXTS, { task: 'text-matching', dimensions: 64 });
    assert.equal(response.model, 'jina-embeddings-v3');
    assert.equal(response.object, 'list');
    const ids = await model.tokenize(TEXTS);
    const tokens = ids.reduce((n, x) => n + x.length, 0);
    assert.deepEqual(response.usage, { total_tokens: tokens, prompt_tokens: tokens });
    assert.equal(response.data.length, TEXTS.length);
    const { buffer } = response.data[0].embedding;
    for (const [i, item] of response.data.entries()) {
      assert.deepEqual(Object.keys(item), ['object', 'index', 'embedding']);
      assert.equal(item.object, 'embedding');
      assert.equal(item.index, i);
      assert.ok(item.embedding instanceof Float32Array);
      assert.equal(item.embedding.length, 64);
      assert.equal(item.embedding.buffer, buffer, 'rows are views of one result array');
      assert.ok(Math.abs(Math.hypot(...item.embedding) - 1) < 1e-5, 'normalized');
    }
  });

  test('a single string gives a list of one', async () => {
    const { data } = await model.embed('Hello world!');
    assert.equal(data.length, 1);
    assert.equal(data[0].embedding.length, exp.model.hidden_size);
  });

  test('normalized: false keeps the raw mean', async () => {
    const { data } = await model.embed('Hello world!', { normalized: false });
    const [unit] = (await model.embed('Hello world!')).data;
    const norm = Math.hypot(...data[0].embedding);
    assert.ok(Math.abs(norm - 1) > 1e-3);
    for (let i = 0; i < unit.embedding.length; i++) assert.ok(Math.abs(data[0].embedding[i] / norm - unit.embedding[i]) < 1e-5);
  });

  test('concurrent calls are queued and give the sequential results', async () => {
    const sequential = [];
    for (const t of TEXTS) sequential.push(Array.from((await model.embed(t)).data[0].embedding));
    const concurrent = await Promise.all(TEXTS.map((t) => model.embed(t)));
    assert.deepEqual(concurrent.map((r) => Array.from(r.data[0].embedding)), sequential);
  });

  test('dispose waits for pending calls', async () => {
    const other = await loadModel('int8');
    const pending = other.embed(TEXTS);
    await other.dispose();
    assert.equal((await pending).data.length, TEXTS.length);
    await assertCode(other.embed(TEXTS), 'E_DISPOSED');
  });
});

describe('convertCheckpoint', () => {
  /** A copy of the fixture checkpoint (symlinks) without the files named in `omit`. */
  function partialCheckpoint(name, omit) {
    const dir = path.join(tempDir(), name);
    fs.mkdirSync(dir);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
      if (!omit.includes(f)) fs.symlinkSync(path.join(fixtureDir, f), path.join(dir, f));
    }
    return dir;
  }

  for (const missing of ['config.json', 'tokenizer.json', 'model.safetensors']) {
    test(`a missing ${missing}: E_BAD_CHECKPOINT naming it, no output`, async () => {
      const dir = partialCheckpoint(`without-${missing}`, [missing]);
      const out = path.join(dir, 'out.jv3');
      const err = await assertCode(convertCheckpoint(dir, out), 'E_BAD_CHECKPOINT');
      assert.match(err.message, new RegExp(missing.replace('.', '\\.')));
      assert.deepEqual(fs.readdirSync(dir).filter((f) => !f.includes('.json') && f !== 'model.safetensors'), []);
    });
  }

  test('a broken config.json fails without leaving a file', async () => {
    const dir = partialCheckpoint('broken-config', ['config.json']);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"hidden_size": ');
    const out = path.join(dir, 'out.jv3');
    const err = await convertCheckpoint(dir, out).catch((e) => e);
    assert.ok(err instanceof EmbeddingError, String(err));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  });

  test('a bad dtype: E_INVALID_ARGUMENT', async () => {
    await assertCode(convertCheckpoint(fixtureDir, path.join(tempDir(), 'x.jv3'), { dtype: 'f16' }), 'E_INVALID_ARGUMENT');
  });

  test('progress and result', async () => {
    const events = [];
    const out = path.join(tempDir(), 'progress.jv3');
    const result = await convertCheckpoint(fixtureDir, out, { onProgress: (p) => events.push(p) });
    assert.equal(result.path, out);
    assert.equal(result.bytesWritten, fs.statSync(out).size);
    assert.ok(events.length > 0);
    assert.deepEqual(events.at(-1), { tensorsDone: result.tensors, tensorsTotal: result.tensors });
  });
});
