// f32 model file vs the upstream reference: single texts for every task and Matryoshka size,
// padded and mixed-task batches, and late chunking in both span conventions (max |Δ| ≤ 1e-5).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertClose, caseOptions, loadExpected, loadModel } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
let model;

before(async () => {
  model = await loadModel('f32');
});
after(() => model?.dispose());

/** Embeds `texts` (string or list) and returns the vectors. */
async function vectors(texts, options) {
  return (await model.embed(texts, options)).data.map((d) => d.embedding);
}

test('info describes the fixture', () => {
  const { info } = model;
  assert.equal(info.modelType, 'f32');
  assert.deepEqual(info.tasks, exp.model.tasks);
  assert.deepEqual(info.dimensions, exp.model.matryoshka_dimensions);
  assert.equal(info.maxLength, exp.model.max_length);
  for (const task of exp.model.tasks) assert.equal(info.instructions[task], exp.model.task_instructions[task]);
});

describe('single texts, every task case', () => {
  for (const text of exp.texts) {
    test(text.id, async () => {
      for (const c of text.cases) {
        const label = `${text.id} / task ${c.task} / prepended ${c.instruction_prepended}`;
        const [full] = await vectors(text.text, caseOptions(c));
        assertClose(full, c.embedding, TOL, label);
        for (const [dim, want] of Object.entries(c.matryoshka)) {
          const [got] = await vectors(text.text, { ...caseOptions(c), dimensions: Number(dim) });
          assertClose(got, want, TOL, `${label} / dimensions ${dim}`);
        }
      }
    });
  }
});

describe('padded batches', () => {
  for (const batch of exp.batches) {
    test(batch.name, async () => {
      const response = await model.embed(batch.texts, { task: batch.task });
      assert.equal(response.data.length, batch.texts.length);
      const tokens = batch.padded_input_ids.reduce((n, _, k) => n + batch.attention_mask[k].reduce((a, b) => a + b, 0), 0);
      assert.equal(response.usage.total_tokens, tokens);
      const tasks = Array.isArray(batch.task) ? batch.task : batch.texts.map(() => batch.task);
      for (const [i, item] of response.data.entries()) {
        assert.equal(item.index, i);
        assertClose(item.embedding, batch.embeddings[i], TOL, `${batch.name}[${i}] batched vs expected`);
        assertClose(item.embedding, batch.embeddings_unbatched[i], TOL, `${batch.name}[${i}] batched vs expected unbatched`);
        const [alone] = await vectors(batch.texts[i], { task: tasks[i] });
        assertClose(item.embedding, alone, TOL, `${batch.name}[${i}] batched vs our unbatched`);
      }
    });
  }
});

describe('late chunking', () => {
  const lc = exp.late_chunking;
  const chunks = lc.chunks.map((c) => c.text);
  const options = { task: lc.task, lateChunking: true };

  test('chunks joined give the document', () => assert.equal(chunks.join(''), lc.document));

  test("spanConvention 'exact'", async () => {
    const response = await model.embed(chunks, options);
    assert.equal(response.data.length, chunks.length);
    for (const [c, chunk] of lc.chunks.entries()) {
      assertClose(response.data[c].embedding, chunk.embedding, TOL, `chunk ${c}`);
    }
  });

  test("spanConvention 'late-chunking'", async () => {
    const got = await vectors(chunks, { ...options, spanConvention: 'late-chunking' });
    for (const [c, chunk] of lc.chunks.entries()) {
      assertClose(got[c], chunk.embedding_late_chunking, TOL, `chunk ${c}`);
    }
  });

  test('the whole document embedded normally', async () => {
    const [doc] = await vectors(lc.document, { task: lc.task });
    assertClose(doc, lc.document_embedding, TOL, 'document_embedding');
  });
});
