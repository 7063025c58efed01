// Paged memory (the word-embedding table left in the file) and streamed memory (the layers too,
// read per pass). Vectors must be bit-identical to the resident model's (and so match the fixture
// as it does), from every random-access source; a file that changes after load, a failing read or
// a source that cannot seek must give clear codes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { JinaEmbeddings } from '../../js/index.mjs';
import { assertCode, caseOptions, convertedModel, cosine, fixtureDir, loadExpected, maxAbsDiff, tempDir, testThreads } from '../helpers.mjs';

const exp = loadExpected();
const F32_TOL = 1e-5;
const MIN_COSINE = 0.999;

/** Every embed() of the fixture's cases (all sizes), batches and late chunking, as [label, input, options]. */
function calls() {
  const out = [];
  for (const text of exp.texts) {
    for (const c of text.cases) {
      out.push([`${text.id}/${c.task}/${c.instruction_prepended}`, text.text, caseOptions(c), c.embedding]);
      for (const [d, v] of Object.entries(c.matryoshka)) {
        out.push([`${text.id}/${c.task}/${d}`, text.text, { ...caseOptions(c), dimensions: Number(d) }, v]);
      }
    }
  }
  for (const b of exp.batches) out.push([`batch ${b.name}`, b.texts, { task: b.task }, b.embeddings]);
  const texts = exp.texts.map((t) => t.text);
  out.push(['tasks per text', texts, { task: texts.map((_, i) => ['retrieval.query', 'text-matching', null][i % 3]) }, null]);
  out.push(['late chunking', texts.slice(0, 3), { task: 'retrieval.passage', lateChunking: true }, null]);
  return out;
}

/** Where a tensor's bytes are in a model file (format: 24-byte preamble, JSON header, 64-aligned data). */
function tensorBytes(file, name) {
  const headerLength = Number(file.readBigUInt64LE(16));
  const header = JSON.parse(file.subarray(24, 24 + headerLength).toString('utf8'));
  const dataStart = Math.ceil((24 + headerLength) / 64) * 64;
  const t = header.tensors.find((e) => e.name === name);
  assert.ok(t, `${name} in the header`);
  return { start: dataStart + t.offset, end: dataStart + t.offset + t.size };
}

/** The bytes of every vector of a response, for a bit-for-bit comparison. */
function bytesOf(response) {
  return Buffer.concat(response.data.map((d) => Buffer.from(d.embedding.buffer, d.embedding.byteOffset, d.embedding.byteLength)));
}

const resident = {};
before(async () => {
  for (const dtype of ['int8', 'f32']) {
    const model = await JinaEmbeddings.load(await convertedModel(dtype), { threads: testThreads });
    resident[dtype] = [];
    for (const [, input, options] of calls()) resident[dtype].push(bytesOf(await model.embed(input, options)));
    await model.dispose();
  }
});

/** Embeds every call with `model` and checks each against the resident bytes and the fixture. */
async function checkAll(model, dtype) {
  const list = calls();
  assert.equal(resident[dtype].length, list.length);
  for (const [i, [label, input, options, want]] of list.entries()) {
    const res = await model.embed(input, options);
    assert.ok(bytesOf(res).equals(resident[dtype][i]), `${label}: paged vectors differ from resident ones`);
    if (!want) continue;
    const wants = Array.isArray(input) ? want : [want];
    assert.equal(res.data.length, wants.length, `${label}: one vector per text`);
    for (const [j, d] of res.data.entries()) {
      if (dtype === 'f32') assert.ok(maxAbsDiff(d.embedding, wants[j]) <= F32_TOL, `${label}[${j}]`);
      else assert.ok(cosine(d.embedding, wants[j]) >= MIN_COSINE, `${label}[${j}]`);
    }
  }
}

for (const [dtype, memory] of [['int8', 'paged'], ['f32', 'paged'], ['int8', 'streamed'], ['f32', 'streamed']]) {
  test(`${dtype}: ${memory} from a file path matches resident bit for bit, and the fixture`, async () => {
    const model = await JinaEmbeddings.load(await convertedModel(dtype), { threads: testThreads, memory });
    try {
      assert.equal(model.info.memory, memory);
      await checkAll(model, dtype);
      const stats = model.pageStats;
      assert.ok(stats.rowsRead > 0 && stats.bytesRead > 0 && stats.rangesRead > 0, JSON.stringify(stats));
    } finally {
      await model.dispose();
    }
  });
}

test('a resident model says so, and has no page stats', async () => {
  const model = await JinaEmbeddings.load(await convertedModel('int8'), { threads: testThreads });
  assert.equal(model.info.memory, 'resident');
  assert.equal(model.pageStats, null);
  await model.dispose();
});

test('a row cache of one row: rows evicted and read again, vectors unchanged', async () => {
  const model = await JinaEmbeddings.load(await convertedModel('int8'), { threads: testThreads, memory: 'paged', rowCache: 1 });
  try {
    await checkAll(model, 'int8');
    const before = model.pageStats.rowsRead;
    await model.embed(exp.texts[0].text);
    await model.embed(exp.texts[1].text);
    await model.embed(exp.texts[0].text);
    assert.ok(model.pageStats.rowsRead > before, 'rows evicted by the small cache are read again');
  } finally {
    await model.dispose();
  }
});

test('Uint8Array, Blob and { size, read } sources', async () => {
  const bytes = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  let reads = 0;
  const reader = { size: bytes.byteLength, read: async (o, n) => (reads++, bytes.slice(o, o + n)) };
  for (const [source, memory] of [[bytes, 'paged'], [new Blob([bytes]), 'paged'], [new Blob([bytes]), 'streamed'], [reader, 'paged'], [reader, 'streamed']]) {
    const model = await JinaEmbeddings.load(source, { threads: testThreads, memory });
    try {
      await checkAll(model, 'int8');
    } finally {
      await model.dispose();
    }
  }
  assert.ok(reads > 0);
});

/** A local HTTP server of `file`: with Range support, or ignoring Range (200, whole file). */
async function serveFile(file, { ranges }) {
  const server = http.createServer((req, res) => {
    const data = fs.readFileSync(file);
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!ranges || !m) {
      res.writeHead(200, { 'content-length': data.length });
      res.end(data);
      return;
    }
    const [start, end] = [Number(m[1]), Math.min(Number(m[2]), data.length - 1)];
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${data.length}`, 'content-length': end - start + 1 });
    res.end(data.subarray(start, end + 1));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/model.jv3`, close: () => server.close() };
}

test('a URL whose server answers Range requests', async () => {
  const server = await serveFile(await convertedModel('int8'), { ranges: true });
  try {
    const model = await JinaEmbeddings.load(server.url, { threads: testThreads, memory: 'streamed' });
    try {
      await checkAll(model, 'int8');
    } finally {
      await model.dispose();
    }
  } finally {
    server.close();
  }
});

test('a server that ignores Range: E_NO_RANGE for paged, resident loads still work', async () => {
  const server = await serveFile(await convertedModel('int8'), { ranges: false });
  try {
    await assertCode(JinaEmbeddings.load(server.url, { threads: testThreads, memory: 'paged' }), 'E_NO_RANGE');
    const model = await JinaEmbeddings.load(server.url, { threads: testThreads });
    assert.equal(model.info.memory, 'resident');
    await model.dispose();
  } finally {
    server.close();
  }
});

test('sources that cannot seek, checkpoints without a cache and unknown modes are refused with codes', async () => {
  const bytes = fs.readFileSync(await convertedModel('int8'));
  await assertCode(JinaEmbeddings.load(new Blob([bytes]).stream(), { memory: 'paged' }), 'E_NO_RANGE');
  // A checkpoint is paged from its cache entry: without a cache there is none.
  await assertCode(JinaEmbeddings.load(fixtureDir, { memory: 'paged', cache: false }), 'E_INVALID_ARGUMENT');
  await assertCode(JinaEmbeddings.load(bytes, { memory: 'swapped' }), 'E_INVALID_ARGUMENT');
  await assertCode(JinaEmbeddings.load(fixtureDir, { memory: 'streamed', cache: false }), 'E_INVALID_ARGUMENT');
  await assertCode(JinaEmbeddings.load(bytes, { memory: 'paged', rowCache: 0 }), 'E_INVALID_ARGUMENT');
});

test('a file changed after load: E_MODEL_CHECKSUM, never a wrong vector; usable again once restored', async () => {
  const file = path.join(tempDir(), 'paged-changed.jv3');
  fs.copyFileSync(await convertedModel('int8'), file);
  const original = fs.readFileSync(file);
  const model = await JinaEmbeddings.load(file, { threads: testThreads, memory: 'paged', rowCache: 1 });
  try {
    const want = bytesOf(await model.embed('hello world'));
    // Flip every byte of the word table: any row read from it is changed.
    const tampered = Buffer.from(original);
    const { start, end } = tensorBytes(original, 'embeddings.word_embeddings.weight');
    for (let i = start; i < end; i++) tampered[i] ^= 0x5a;
    fs.writeFileSync(file, tampered);
    // Evicts the rows of 'hello world' (a cache of one row), and reads changed rows itself.
    await assertCode(model.embed('something else entirely'), 'E_MODEL_CHECKSUM');
    await assertCode(model.embed('hello world'), 'E_MODEL_CHECKSUM');
    fs.writeFileSync(file, original.subarray(0, 4096));
    await assertCode(model.embed('hello world'), 'E_IO');
    fs.writeFileSync(file, original);
    assert.ok(bytesOf(await model.embed('hello world')).equals(want));
  } finally {
    await model.dispose();
  }
});

test('a failing reader: E_IO, and the instance stays usable', async () => {
  const bytes = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  let fail = false;
  const reader = {
    size: bytes.byteLength,
    read: async (o, n) => {
      if (fail) throw new Error('connection reset');
      return bytes.slice(o, o + n);
    },
  };
  const model = await JinaEmbeddings.load(reader, { threads: testThreads, memory: 'paged', rowCache: 1 });
  try {
    const want = bytesOf(await model.embed('first text'));
    fail = true;
    await assertCode(model.embed('a text with other tokens'), 'E_IO');
    fail = false;
    await model.embed('a text with other tokens');
    assert.ok(bytesOf(await model.embed('first text')).equals(want));
  } finally {
    await model.dispose();
  }
});

test('concurrent calls on one paged instance give the sequential results; dispose waits for a pending read', async () => {
  const bytes = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  const reader = { size: bytes.byteLength, read: (o, n) => new Promise((resolve) => setTimeout(() => resolve(bytes.slice(o, o + n)), 5)) };
  const model = await JinaEmbeddings.load(reader, { threads: testThreads, memory: 'paged', rowCache: 4 });
  const texts = exp.texts.map((t) => t.text);
  const sequential = [];
  for (const t of texts) sequential.push(bytesOf(await model.embed(t)));
  const concurrent = await Promise.all(texts.map((t) => model.embed(t)));
  assert.equal(concurrent.length, texts.length);
  for (const [i, r] of concurrent.entries()) assert.ok(bytesOf(r).equals(sequential[i]), `text ${i}`);
  const pending = model.embed('a call still reading its rows when dispose() is called');
  const disposed = model.dispose();
  assert.equal((await pending).data.length, 1);
  await disposed;
  await assertCode(model.embed('after dispose'), 'E_DISPOSED');
});

test('streamed: a layer changed after load is E_MODEL_CHECKSUM, a read failing mid-pass E_IO; usable after both', async () => {
  const original = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  let bytes = original;
  let failAt = -1;
  let reads = 0;
  const reader = {
    size: original.byteLength,
    read: async (o, n) => {
      if (reads++ === failAt) throw new Error('connection reset');
      return bytes.slice(o, o + n);
    },
  };
  const model = await JinaEmbeddings.load(reader, { threads: testThreads, memory: 'streamed' });
  try {
    const want = bytesOf(await model.embed('hello world'));
    const { start, end } = tensorBytes(Buffer.from(original), 'encoder.layers.1.mlp.fc1.weight');
    bytes = original.slice();
    bytes[start + ((end - start) >> 1)] ^= 1;
    await assertCode(model.embed('hello world'), 'E_MODEL_CHECKSUM');
    bytes = original;
    failAt = reads + 1;  // the second layer, read ahead while the first one runs
    await assertCode(model.embed('hello world'), 'E_IO');
    assert.ok(bytesOf(await model.embed('hello world')).equals(want));
  } finally {
    await model.dispose();
  }
});

/** A ReadableStream of `bytes` in parts of `part` bytes (an R2 object body, a fetch body). */
function partsStream(bytes, part) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + part));
      at += part;
    },
  });
}

test('streamed: a reader with stream() is loaded as one stream and hands each layer over in parts; short, long and failing streams are E_IO', async () => {
  const bytes = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  let streams = 0;
  let reads = 0;
  let mode = 'ok';
  const reader = {
    size: bytes.byteLength,
    read: async (o, n) => (reads++, bytes.slice(o, o + n)),
    stream: async (o, n) => {
      streams++;
      if (mode === 'short') return partsStream(bytes.subarray(o, o + n - 1), 4099);
      if (mode === 'half') return partsStream(bytes.subarray(o, o + (n >> 1)), 4099);
      if (mode === 'long') return partsStream(bytes.subarray(o, o + n + 1), n + 1); // the extra byte inside a part
      if (mode === 'fail') {
        let sent = false;
        return new ReadableStream({
          pull(c) {
            if (sent) return c.error(new Error('connection reset'));
            sent = true;
            c.enqueue(bytes.slice(o, o + 1000));
          },
        });
      }
      return partsStream(bytes.subarray(o, o + n), 777);
    },
  };
  // The load reads the whole file as one stream; one that ends early or fails is E_IO.
  for (const bad of ['half', 'fail']) {
    mode = bad;
    await assertCode(JinaEmbeddings.load(reader, { threads: testThreads, memory: 'streamed' }), 'E_IO');
  }
  mode = 'ok';
  streams = 0;
  reads = 0;
  const model = await JinaEmbeddings.load(reader, { threads: testThreads, memory: 'streamed' });
  try {
    assert.equal(streams, 1, 'the load is one stream');
    assert.equal(reads, 0, 'and no read()');
    await checkAll(model, 'int8');
    assert.ok(streams >= 2 * calls().length, `every pass streams its layers (${streams} streams)`);
    const want = bytesOf(await model.embed('hello world'));
    for (const bad of ['short', 'long', 'fail']) {
      mode = bad;
      await assertCode(model.embed('hello world'), 'E_IO');
      mode = 'ok';
      assert.ok(bytesOf(await model.embed('hello world')).equals(want), `usable after a ${bad} stream`);
    }
  } finally {
    await model.dispose();
  }
  assert.ok(reads > 0, 'rows are read with read()');
});

test('streamed: dispose while a layer is being read ahead waits for the call, then frees', async () => {
  const bytes = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
  const reader = { size: bytes.byteLength, read: (o, n) => new Promise((resolve) => setTimeout(() => resolve(bytes.slice(o, o + n)), 2)) };
  const model = await JinaEmbeddings.load(reader, { threads: testThreads, memory: 'streamed' });
  const calls = [model.embed('one'), model.embed(['two', 'three']), model.embed('four', { task: 'retrieval.query' })];
  const disposed = model.dispose();
  const results = await Promise.all(calls);
  assert.deepEqual(results.map((r) => r.data.length), [1, 2, 1]);
  await disposed;
  await assertCode(model.embed('after dispose'), 'E_DISPOSED');
});

