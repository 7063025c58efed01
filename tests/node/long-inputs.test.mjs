// Long inputs on the f32 model file: ~3000 tokens, and > 8194 tokens (truncated on request,
// E_TOO_LONG otherwise). These run seconds each: attention over 8194 tokens is the costly part.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClose, assertCode, caseOptions, loadExpected, loadModel } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
const [long, tooLong] = exp.long_inputs;
let model;

before(async () => {
  model = await loadModel('f32');
});
after(() => model?.dispose());

/** L2-normalised copy of the first `dim` values: Matryoshka truncation, then normalisation. */
function truncateNormalize(raw, dim) {
  const v = raw.slice(0, dim);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

test(`${long.name}: ${long.n_tokens_untruncated} tokens`, async () => {
  assert.equal(long.truncated, false);
  const response = await model.embed(long.text, caseOptions(long));
  assert.equal(response.usage.total_tokens, long.input_ids.length);
  assertClose(response.data[0].embedding, long.embedding, TOL, long.name);
});

test(`${long.name}: Matryoshka sizes from the unnormalised mean`, async () => {
  const { data } = await model.embed(long.text, { ...caseOptions(long), normalized: false });
  const raw = data[0].embedding;
  assert.ok(Math.abs(Math.hypot(...raw) - 1) > 1e-3, 'normalized: false returned a unit vector');
  for (const [dim, want] of Object.entries(long.matryoshka)) {
    assertClose(truncateNormalize(raw, Number(dim)), want, TOL, `${long.name} / dimensions ${dim}`);
  }
});

test(`${tooLong.name}: ${tooLong.n_tokens_untruncated} tokens without truncate is E_TOO_LONG`, { timeout: 60_000 }, async () => {
  await assertCode(model.embed(tooLong.text, caseOptions(tooLong)), 'E_TOO_LONG');
});

test(`${tooLong.name}: truncated to ${tooLong.max_length} tokens`, async () => {
  assert.equal(tooLong.truncated, true);
  const response = await model.embed(tooLong.text, { ...caseOptions(tooLong), truncate: true });
  assert.equal(response.usage.total_tokens, tooLong.max_length);
  assertClose(response.data[0].embedding, tooLong.embedding, TOL, tooLong.name);
});
