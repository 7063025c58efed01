// Bad model files and bad calls end in the documented error code: never a crash, never a hang.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { JinaEmbeddings } from '../../js/index.mjs';
import { assertCode, convertedModel, loadExpected, loadModel, tempDir, testThreads } from '../helpers.mjs';

/** A bad file or call must fail well within this; a hang fails the test instead of the run. */
const NO_HANG = { timeout: 60_000 };

/** Preamble and JSON header of a model file (layout in src/model_file.h). */
function readModelHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(16, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(24, 24 + headerLength)));
  return { header, dataStart: Math.ceil((24 + headerLength) / 64) * 64 };
}

const load = (source) => JinaEmbeddings.load(source, { threads: testThreads });

describe('bad model files', () => {
  let good;
  before(async () => {
    good = new Uint8Array(fs.readFileSync(await convertedModel('f32')));
  });

  test('garbage bytes: E_MODEL_FORMAT', NO_HANG, async () => {
    // A fixed xorshift sequence: reproducible garbage.
    const bytes = new Uint8Array(64 * 1024);
    let x = 2463534242;
    for (let i = 0; i < bytes.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    await assertCode(load(bytes), 'E_MODEL_FORMAT');
  });

  test('a text file: E_MODEL_FORMAT', NO_HANG, async () => {
    await assertCode(load(new TextEncoder().encode('{"not": "a model"}\n'.repeat(10))), 'E_MODEL_FORMAT');
  });

  test('file cut at 50%: E_MODEL_TRUNCATED', NO_HANG, async () => {
    const file = path.join(tempDir(), 'truncated.jv3');
    fs.writeFileSync(file, good.subarray(0, Math.floor(good.length / 2)));
    await assertCode(load(file), 'E_MODEL_TRUNCATED');
  });

  test('file cut inside the header: E_MODEL_TRUNCATED', NO_HANG, async () => {
    await assertCode(load(good.slice(0, 1000)), 'E_MODEL_TRUNCATED');
  });

  test("a bit flipped inside a tensor's data: E_MODEL_CHECKSUM", NO_HANG, async () => {
    const { header, dataStart } = readModelHeader(good);
    const largest = header.tensors.reduce((a, b) => (b.size > a.size ? b : a));
    const bytes = good.slice();
    bytes[dataStart + largest.offset + Math.floor(largest.size / 2)] ^= 0x10;
    const err = await assertCode(load(bytes), 'E_MODEL_CHECKSUM');
    assert.match(err.message, new RegExp(largest.name.replace(/[.]/g, '\\.')));
  });

  test('another format version: E_MODEL_VERSION', NO_HANG, async () => {
    const bytes = good.slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(8, view.getUint32(8, true) + 1, true);
    await assertCode(load(bytes), 'E_MODEL_VERSION');
  });

  test('a missing file: E_IO', NO_HANG, async () => {
    await assertCode(load(path.join(tempDir(), 'no-such-model.jv3')), 'E_IO');
  });
});

describe('bad calls', () => {
  const exp = loadExpected();
  let model;
  before(async () => {
    model = await loadModel('int8');
  });
  after(() => model?.dispose());

  test('unknown task: E_UNKNOWN_TASK', NO_HANG, async () => {
    await assertCode(model.embed('hello', { task: 'summarization' }), 'E_UNKNOWN_TASK');
    await assertCode(model.embed(['a', 'b'], { task: ['retrieval.query', 'summarization'] }), 'E_UNKNOWN_TASK');
    await assertCode(model.tokenize('hello', { task: 'summarization' }), 'E_UNKNOWN_TASK');
  });

  test('dimensions 33: E_BAD_DIMENSIONS', NO_HANG, async () => {
    await assertCode(model.embed('hello', { dimensions: 33 }), 'E_BAD_DIMENSIONS');
    await assertCode(model.embed('hello', { dimensions: 2048 }), 'E_BAD_DIMENSIONS');
    await assertCode(model.embed('hello', { dimensions: 32.5 }), 'E_BAD_DIMENSIONS');
  });

  test('empty list: E_EMPTY_INPUT', NO_HANG, async () => {
    await assertCode(model.embed([]), 'E_EMPTY_INPUT');
    await assertCode(model.tokenize([]), 'E_EMPTY_INPUT');
  });

  test('non-string items: E_BAD_INPUT_TYPE naming the index', NO_HANG, async () => {
    const err = await assertCode(model.embed(['fine', 42, 'also fine']), 'E_BAD_INPUT_TYPE');
    assert.match(err.message, /\[1\]/);
    await assertCode(model.embed(['fine', null]), 'E_BAD_INPUT_TYPE');
    await assertCode(model.embed(42), 'E_BAD_INPUT_TYPE');
    await assertCode(model.countTokens([{ text: 'x' }]), 'E_BAD_INPUT_TYPE');
  });

  test('over-long text without truncate: E_TOO_LONG', NO_HANG, async () => {
    const tooLong = exp.long_inputs.find((x) => x.truncated);
    await assertCode(model.embed(['short', tooLong.text]), 'E_TOO_LONG');
  });

  test('a task list of the wrong length: E_INVALID_ARGUMENT', NO_HANG, async () => {
    await assertCode(model.embed(['a', 'b'], { task: ['retrieval.query'] }), 'E_INVALID_ARGUMENT');
  });

  test('the model still works after failed calls', NO_HANG, async () => {
    const { data } = await model.embed('still alive');
    assert.equal(data.length, 1);
    assert.ok(data[0].embedding.every(Number.isFinite));
  });

  test('after dispose: E_DISPOSED', NO_HANG, async () => {
    const disposable = await loadModel('int8');
    await disposable.dispose();
    await assertCode(disposable.embed('hello'), 'E_DISPOSED');
    await assertCode(disposable.embed([]), 'E_DISPOSED');
    await assertCode(disposable.tokenize('hello'), 'E_DISPOSED');
    await assertCode(disposable.countTokens('hello'), 'E_DISPOSED');
    await assertCode(() => disposable.info, 'E_DISPOSED');
    await disposable.dispose();
  });
});
