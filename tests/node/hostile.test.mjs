// Hostile inputs and failure: the malformed-input table of docs/robustness.md "Malformed inputs"
// (every row must end in its error code, never a crash or a hang), per-call limits (E_LIMIT), wasm
// memory exhaustion reported as E_OUT_OF_MEMORY with the instance still usable, and state
// (interleaved concurrent calls with failures, failed and aborted loads leaving the module usable).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { convertCheckpoint, JinaEmbeddings, loadModule } from '../../js/index.mjs';
import { assertCode, convertedModel, fixtureDir, tempDir, testThreads } from '../helpers.mjs';

const NO_HANG = { timeout: 120_000 };
const enc = new TextEncoder();

/** Splits a model file into its header JSON and data section (layout in src/model_file.h). */
function splitModel(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(16, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + len)));
  return { header, data: bytes.subarray(Math.ceil((24 + len) / 64) * 64) };
}

/** A model file with `json` as its header (raw text, correct CRC and padding) and `data` after it. */
function buildModel(json, data = new Uint8Array(0), { version = 1, crc } = {}) {
  const h = enc.encode(json);
  const start = Math.ceil((24 + h.length) / 64) * 64;
  const out = new Uint8Array(start + data.length).fill(0x20, 24 + h.length, start);
  out.set(enc.encode('JV3WASM\0'));
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, crc ?? zlib.crc32(h), true);
  view.setBigUint64(16, BigInt(h.length), true);
  out.set(h, 24);
  out.set(data, start);
  return out;
}

/** The good file with its header changed by `edit(header)` (tensor bytes untouched). */
function editHeader(good, edit) {
  const { header, data } = splitModel(good);
  edit(header);
  return buildModel(JSON.stringify(header), data);
}

/** Rewrites every tensor's offset back to back (64-aligned) and data_size after a shape edit. */
function relayout(header) {
  let offset = 0;
  for (const t of header.tensors) {
    offset = Math.ceil(offset / 64) * 64;
    t.offset = offset;
    t.size = t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'f32' ? 4 : 1);
    offset += t.size;
  }
  header.data_size = offset;
}

/** A safetensors file from `{name: {dtype, shape, bytes}}` entries, or a raw header text. */
function safetensors(header, data = new Uint8Array(0)) {
  const h = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const fixtureFile = (name) => fs.readFileSync(path.join(fixtureDir, name));

/** A checkpoint folder: the fixture's files with `replace` ({name: bytes|string}) swapped in. */
let checkpoints = 0;
function checkpoint(replace) {
  const dir = path.join(tempDir(), `ckpt-${checkpoints++}`);
  fs.mkdirSync(dir);
  for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) {
    if (name in replace) fs.writeFileSync(path.join(dir, name), replace[name]);
    else fs.symlinkSync(path.join(fixtureDir, name), path.join(dir, name));
  }
  return dir;
}

const configWith = (patch) => JSON.stringify({ ...JSON.parse(fixtureFile('config.json')), ...patch });
const tokenizerWith = (edit) => {
  const t = JSON.parse(fixtureFile('tokenizer.json'));
  edit(t);
  return JSON.stringify(t);
};

describe('malformed-input table', () => {
  let good;
  let model;
  before(async () => {
    good = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
    model = await JinaEmbeddings.load(await convertedModel('int8'), { threads: testThreads });
  });
  after(() => model?.dispose());

  const load = (bytes) => JinaEmbeddings.load(bytes, { threads: testThreads });
  // [input, expected code, make the model file bytes]: docs/robustness.md lists these rows.
  const modelFiles = [
    ['empty file', 'E_MODEL_TRUNCATED', () => new Uint8Array(0)],
    ['random bytes', 'E_MODEL_FORMAT', () => Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)],
    ['format version 2', 'E_MODEL_VERSION', () => buildModel('{}', undefined, { version: 2 })],
    ['header length 2^40', 'E_MODEL_FORMAT', () => {
      const b = buildModel('{}');
      new DataView(b.buffer).setBigUint64(16, 1n << 40n, true);
      return b;
    }],
    ['header CRC mismatch', 'E_MODEL_CHECKSUM', () => buildModel('{}', undefined, { crc: 1 })],
    ['header not JSON', 'E_MODEL_FORMAT', () => buildModel('{"format": "jina-v3-wasm", ')],
    ['header JSON not an object', 'E_MODEL_FORMAT', () => buildModel('[1, 2, 3]')],
    ['header with unclosed nesting (100k brackets)', 'E_MODEL_FORMAT', () => buildModel('['.repeat(100000))],
    ['header config nested 100k levels deep', 'E_MODEL_FORMAT', () => {
      const { header, data } = splitModel(good);
      const json = JSON.stringify(header).replace('"config":{', `"deep":${'['.repeat(1e5)}${']'.repeat(1e5)},"config":{`);
      return buildModel(json, data);
    }],
    ['config num_hidden_layers 10^9', 'E_MODEL_FORMAT', () => editHeader(good, (h) => { h.config.num_hidden_layers = 1e9; })],
    ['config hidden_size a float', 'E_MODEL_FORMAT', () => editHeader(good, (h) => { h.config.hidden_size = 256.5; })],
    ['config rotary_emb_base 1e300', 'E_MODEL_FORMAT', () => editHeader(good, (h) => { h.config.rotary_emb_base = 1e300; })],
    ['a tensor missing from the table', 'E_MODEL_TENSOR', () => editHeader(good, (h) => { h.tensors.pop(); })],
    ['a tensor with the wrong shape', 'E_MODEL_TENSOR', () => editHeader(good, (h) => { h.tensors[3].shape = [1, 2]; })],
    ['tensor offset near 2^64 (overflow)', 'E_MODEL_FORMAT', () => editHeader(good, (h) => {
      h.tensors[1].offset = 18446744073709551552;
    })],
    ['overlapping tensors', 'E_MODEL_TENSOR', () => editHeader(good, (h) => { h.tensors[1].offset = 0; })],
    ['tensor size a float', 'E_MODEL_FORMAT', () => editHeader(good, (h) => { h.tensors[0].size = 1.5; })],
    ['vocab_size 2^24 (a 4 GiB f32 tensor)', 'E_MODEL_FORMAT', () => editHeader(good, (h) => {
      h.dtype = 'f32';
      h.config.vocab_size = 2 ** 24;
      for (const t of h.tensors) t.dtype = 'f32';
      h.tensors = h.tensors.filter((t) => !t.name.endsWith('weight_scale'));
      h.tensors[0].shape = [2 ** 24, h.config.hidden_size];
      h.tensors[1].shape = [5, 2 ** 24, 4];
      relayout(h);
    })],
    ['data_size 2^60', 'E_MODEL_FORMAT', () => editHeader(good, (h) => { h.data_size = 2 ** 60; })],
    ['tokenizer ids beyond vocab_size', 'E_MODEL_FORMAT', () => editHeader(good, (h) => {
      h.tokenizer.added_tokens.push({ id: 99999, content: '<x>', special: true });
    })],
    ['tokenizer of another type (BPE)', 'E_TOKENIZER', () => editHeader(good, (h) => { h.tokenizer.model.type = 'BPE'; })],
    ['file cut in the middle', 'E_MODEL_TRUNCATED', () => good.subarray(0, good.length >> 1)],
    ['one bit flipped in a tensor', 'E_MODEL_CHECKSUM', () => {
      const b = good.slice();
      b[b.length - 100] ^= 4;
      return b;
    }],
    ['bytes after the last tensor', 'E_MODEL_FORMAT', () => {
      const b = new Uint8Array(good.length + 1);
      b.set(good);
      return b;
    }],
  ];
  for (const [name, code, make] of modelFiles) {
    test(`model file: ${name} → ${code}`, NO_HANG, () => assertCode(load(make()), code));
  }

  const f32 = (values) => new Uint8Array(new Float32Array(values).buffer);
  const checkpoints = [
    ['model.safetensors shorter than 8 bytes', 'E_BAD_CHECKPOINT', { 'model.safetensors': new Uint8Array(3) }],
    ['safetensors header length beyond the file', 'E_BAD_CHECKPOINT', {
      'model.safetensors': (() => {
        const b = safetensors('{}');
        new DataView(b.buffer).setBigUint64(0, 1n << 50n, true);
        return b;
      })(),
    }],
    ['safetensors header not JSON', 'E_BAD_CHECKPOINT', { 'model.safetensors': safetensors('{"a": ') }],
    ['safetensors shape product overflowing int64', 'E_BAD_CHECKPOINT', {
      'model.safetensors': safetensors({ x: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 0], data_offsets: [0, 0] } }),
    }],
    ['safetensors negative dimension', 'E_BAD_CHECKPOINT', {
      'model.safetensors': safetensors({ x: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }, f32([1, 2, 3, 4])),
    }],
    ['safetensors data_offsets outside the file', 'E_BAD_CHECKPOINT', {
      'model.safetensors': safetensors({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 1600] } }, f32([1, 2, 3, 4])),
    }],
    ['safetensors without the model tensors', 'E_BAD_CHECKPOINT', {
      'model.safetensors': safetensors({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32([1, 2, 3, 4])),
    }],
    ['config.json not JSON', 'E_BAD_CHECKPOINT', { 'config.json': '{' }],
    ['config.json nested 100k levels deep', 'E_BAD_CHECKPOINT', {
      'config.json': configWith({}).replace('{', `{"deep":${'['.repeat(1e5)}${']'.repeat(1e5)},`),
    }],
    ['config.json hidden_size 10^12', 'E_BAD_CHECKPOINT', { 'config.json': configWith({ hidden_size: 1e12 }) }],
    ['config.json 10^9 layers', 'E_BAD_CHECKPOINT', { 'config.json': configWith({ num_hidden_layers: 1e9 }) }],
    ['config.json absolute position embeddings', 'E_BAD_CHECKPOINT', {
      'config.json': configWith({ position_embedding_type: 'absolute' }),
    }],
    ['tokenizer.json not JSON', 'E_BAD_CHECKPOINT', { 'tokenizer.json': '{"model": ' }],
    ['tokenizer.json WordPiece model', 'E_TOKENIZER', { 'tokenizer.json': tokenizerWith((t) => { t.model.type = 'WordPiece'; }) }],
    ['tokenizer.json corrupt precompiled_charsmap', 'E_TOKENIZER', {
      'tokenizer.json': tokenizerWith((t) => {
        t.normalizer.normalizers[0].precompiled_charsmap = Buffer.from('\u0010\u0000\u0000\u0000garbage-trie-bytes').toString('base64');
      }),
    }],
    ['tokenizer.json unsupported Replace regex', 'E_TOKENIZER', {
      'tokenizer.json': tokenizerWith((t) => { t.normalizer.normalizers[1].pattern = { Regex: '(a|b)*' }; }),
    }],
    ['tokenizer.json unk_id outside the vocab', 'E_BAD_CHECKPOINT', { 'tokenizer.json': tokenizerWith((t) => { t.model.unk_id = 1e6; }) }],
  ];
  for (const [name, code, files] of checkpoints) {
    test(`convert: ${name} → ${code}`, NO_HANG, async () => {
      const out = path.join(tempDir(), `bad-${name.replace(/\W+/g, '-')}.jv3`);
      await assertCode(convertCheckpoint(checkpoint(files), out), code);
    });
  }

  const calls = [
    ['a number among the texts', 'E_BAD_INPUT_TYPE', () => model.embed(['a', 5])],
    ['an empty list', 'E_EMPTY_INPUT', () => model.embed([])],
    ['8200 tokens without truncate', 'E_TOO_LONG', () => model.embed(['hello '.repeat(8200)])],
    ['10001 texts (default maxTexts)', 'E_LIMIT', () => model.embed(Array(10001).fill('a'))],
    ['maxTokens 100 for 3 × 40 tokens', 'E_LIMIT', () => model.embed(Array(3).fill('word '.repeat(38)), { maxTokens: 100 })],
    ['maxTexts 0', 'E_INVALID_ARGUMENT', () => model.embed(['a'], { maxTexts: 0 })],
    ['dimensions 33', 'E_BAD_DIMENSIONS', () => model.embed(['a'], { dimensions: 33 })],
    ['task "retrieval"', 'E_UNKNOWN_TASK', () => model.embed(['a'], { task: 'retrieval' })],
  ];
  for (const [name, code, call] of calls) {
    test(`embed: ${name} → ${code}`, NO_HANG, () => assertCode(call(), code));
  }

  test('texts with lone surrogates, NUL, invalid sequences embed like their U+FFFD form', NO_HANG, async () => {
    const texts = ['a\ud800b', '\udfff', 'x\u0000y', 'emoji cut \ud83d'];
    const fixed = texts.map((t) => t.toWellFormed());
    const [a, b] = await Promise.all([model.embed(texts), model.embed(fixed)]);
    assert.deepEqual(a.data.map((d) => Array.from(d.embedding)), b.data.map((d) => Array.from(d.embedding)));
  });
});

describe('limits and memory', () => {
  let model;
  before(async () => {
    model = await JinaEmbeddings.load(await convertedModel('int8'), { threads: testThreads, maxTexts: 4, maxTokens: 64 });
  });
  after(() => model?.dispose());

  test('load-time maxTexts / maxTokens apply to every call, a call may override them', NO_HANG, async () => {
    await assertCode(model.embed(['a', 'b', 'c', 'd', 'e']), 'E_LIMIT');
    await assertCode(model.embed(['word '.repeat(70)]), 'E_LIMIT');
    assert.equal((await model.embed(['a', 'b', 'c', 'd'])).data.length, 4);
    assert.equal((await model.embed(['a', 'b', 'c', 'd', 'e'], { maxTexts: 5 })).data.length, 5);
    assert.equal((await model.embed(['word '.repeat(70)], { maxTokens: 1000 })).data.length, 1);
  });

  test('wasm memory exhaustion is E_OUT_OF_MEMORY with advice, and the instance keeps working', NO_HANG, async () => {
    // Loaders whose header declares a 1 GiB tensor each reserve it up front: the 4 GiB wasm32
    // memory runs out by the fourth, while a loaded model shares the same module.
    const Module = await loadModule({});
    const own = await JinaEmbeddings.load(await convertedModel('int8'), { threads: 1, module: Module });
    const before = (await own.embed(['memory pressure'])).data[0].embedding;
    const good = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
    const { header } = splitModel(good);
    header.dtype = 'f32';
    header.config.vocab_size = 2 ** 20;  // word embeddings [2^20, 256] f32 = 1 GiB
    header.tensors = header.tensors.filter((t) => !t.name.endsWith('weight_scale'));
    for (const t of header.tensors) t.dtype = 'f32';
    header.tensors[0].shape = [2 ** 20, header.config.hidden_size];
    header.tensors[1].shape = [header.config.lora_adaptations.length, 2 ** 20, header.config.lora_rank];
    relayout(header);
    const hog = buildModel(JSON.stringify(header));
    const loaders = [];
    let error;
    try {
      for (let i = 0; i < 8 && !error; i++) {
        const loader = new Module.ModelLoader({});
        loaders.push(loader);
        error = loader.push(hog).error;
      }
    } finally {
      for (const l of loaders) l.delete();
    }
    assert.equal(error?.code, 'E_OUT_OF_MEMORY', `expected E_OUT_OF_MEMORY, got ${JSON.stringify(error)}`);
    assert.match(error.message, /free other models|int8/);
    const after = (await own.embed(['memory pressure'])).data[0].embedding;
    assert.deepEqual(Array.from(after), Array.from(before));
    // The freed reservations are reusable: a fresh load in the same module succeeds.
    const again = await JinaEmbeddings.load(await convertedModel('int8'), { threads: 1, module: Module });
    assert.deepEqual(Array.from((await again.embed(['memory pressure'])).data[0].embedding), Array.from(before));
    await again.dispose();
    await own.dispose();
  });
});

describe('state', () => {
  test('interleaved concurrent calls with failures give the sequential results', NO_HANG, async () => {
    const model = await JinaEmbeddings.load(await convertedModel('int8'), { threads: testThreads });
    const texts = ['one', 'two words', 'three little words'];
    const want = await model.embed(texts, { task: 'text-matching' });
    const wantIds = await model.tokenize(texts);
    const calls = [];
    for (let i = 0; i < 20; i++) {
      calls.push(model.embed(texts, { task: 'text-matching' }));
      calls.push(model.embed([], {}).catch((e) => e.code));
      calls.push(model.tokenize(texts));
      calls.push(model.embed(['x'], { dimensions: 7 }).catch((e) => e.code));
    }
    const results = await Promise.all(calls);
    for (let i = 0; i < results.length; i += 4) {
      assert.deepEqual(results[i].data.map((d) => Array.from(d.embedding)), want.data.map((d) => Array.from(d.embedding)));
      assert.equal(results[i + 1], 'E_EMPTY_INPUT');
      assert.deepEqual(results[i + 2].map((x) => Array.from(x)), wantIds.map((x) => Array.from(x)));
      assert.equal(results[i + 3], 'E_BAD_DIMENSIONS');
    }
    const pending = model.embed(texts);
    const disposed = model.dispose();
    assert.equal((await pending).data.length, 3);
    await disposed;
    await assertCode(model.embed(texts), 'E_DISPOSED');
  });

  test('a load that fails halfway or is aborted leaves the module usable for the next load', NO_HANG, async () => {
    const Module = await loadModule({});
    const good = new Uint8Array(fs.readFileSync(await convertedModel('int8')));
    const corrupt = good.slice();
    corrupt[corrupt.length >> 1] ^= 1;
    await assertCode(JinaEmbeddings.load(corrupt, { threads: 1, module: Module }), 'E_MODEL_CHECKSUM');
    await assertCode(JinaEmbeddings.load(good.subarray(0, good.length - 10), { threads: 1, module: Module }), 'E_MODEL_TRUNCATED');
    const controller = new AbortController();
    async function* slow() {
      yield good.subarray(0, good.length >> 1);
      controller.abort();
      await new Promise((r) => setTimeout(r, 10));
      yield good.subarray(good.length >> 1);
    }
    await assertCode(JinaEmbeddings.load(slow(), { threads: 1, module: Module, signal: controller.signal }), 'E_ABORTED');
    const model = await JinaEmbeddings.load(good, { threads: 1, module: Module });
    assert.equal((await model.embed(['still fine'])).data.length, 1);
    await model.dispose();
  });
});
