// Tokenizer parity: the tokenizer stored in the model file gives exactly the ids of tokenizer.json
// (Hugging Face semantics, as upstream encode() uses) for every fixture text and model input.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertCode, loadExpected, loadModel } from '../helpers.mjs';

const exp = loadExpected();
let model;

before(async () => {
  model = await loadModel('int8');
});
after(() => model?.dispose());

test('input_ids of every fixture text', async (t) => {
  const ids = await model.tokenize(exp.texts.map((x) => x.text));
  for (const [i, text] of exp.texts.entries()) {
    await t.test(text.id, () => assert.deepEqual(Array.from(ids[i]), text.input_ids));
  }
});

test("input_ids of every case's model_input", async () => {
  for (const text of exp.texts) {
    const inputs = text.cases.map((c) => c.model_input);
    const ids = await model.tokenize(inputs);
    for (const [j, c] of text.cases.entries()) {
      assert.deepEqual(Array.from(ids[j]), c.input_ids, `${text.id} / task ${c.task} / prepended ${c.instruction_prepended}`);
    }
  }
});

test('tokenize with a task gives the ids embed() feeds the model', async () => {
  for (const text of exp.texts) {
    for (const c of text.cases.filter((x) => x.task !== null)) {
      const ids = await model.tokenize(text.text, { task: c.task, instruction: c.instruction_prepended });
      assert.deepEqual(Array.from(ids), c.input_ids, `${text.id} / ${c.task} / prepended ${c.instruction_prepended}`);
    }
  }
});

test('countTokens of a text and of a list', async () => {
  const texts = exp.texts.map((x) => x.text);
  assert.equal(await model.countTokens(texts[0]), exp.texts[0].input_ids.length);
  assert.deepEqual(await model.countTokens(texts), exp.texts.map((x) => x.input_ids.length));
});

test('long inputs and the late-chunking document', async () => {
  const [long, tooLong] = exp.long_inputs;
  assert.deepEqual(Array.from(await model.tokenize(long.model_input)), long.input_ids);
  const err = await assertCode(model.countTokens(tooLong.model_input), 'E_TOO_LONG');
  assert.match(err.message, new RegExp(`${tooLong.n_tokens_untruncated} tokens`));
  assert.deepEqual(Array.from(await model.tokenize(tooLong.model_input, { truncate: true })), tooLong.input_ids);
  assert.deepEqual(Array.from(await model.tokenize(exp.late_chunking.model_input)), exp.late_chunking.input_ids);
});
