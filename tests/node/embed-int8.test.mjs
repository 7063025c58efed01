// int8 model file vs the upstream f32 reference: cosine ≥ 0.999 for every case and Matryoshka size.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { caseOptions, cosine, loadExpected, loadModel } from '../helpers.mjs';

const MIN_COSINE = 0.999;
const exp = loadExpected();
let model;

before(async () => {
  model = await loadModel('int8');
});
after(() => model?.dispose());

test('the model file is int8', () => assert.equal(model.info.modelType, 'int8'));

test('every case, full size and Matryoshka sizes', async (t) => {
  let worst = { cos: 1 };
  for (const text of exp.texts) {
    for (const c of text.cases) {
      const label = `${text.id} / task ${c.task} / prepended ${c.instruction_prepended}`;
      const checks = [[c.embedding, undefined], ...Object.entries(c.matryoshka).map(([d, v]) => [v, Number(d)])];
      for (const [want, dimensions] of checks) {
        const { data } = await model.embed(text.text, { ...caseOptions(c), dimensions });
        const cos = cosine(data[0].embedding, want);
        if (cos < worst.cos) worst = { cos, label, dimensions };
        assert.ok(cos >= MIN_COSINE, `${label} / dimensions ${dimensions ?? 'full'}: cosine ${cos.toFixed(6)}`);
      }
    }
  }
  t.diagnostic(`lowest cosine ${worst.cos.toFixed(6)} (${worst.label}, dimensions ${worst.dimensions ?? 'full'})`);
});

test('batches', async () => {
  assert.ok(exp.batches.length > 0, 'the fixture has batches');
  for (const batch of exp.batches) {
    const { data } = await model.embed(batch.texts, { task: batch.task });
    assert.equal(data.length, batch.embeddings.length, `${batch.name}: one embedding per text`);
    for (const [i, item] of data.entries()) {
      const cos = cosine(item.embedding, batch.embeddings[i]);
      assert.ok(cos >= MIN_COSINE, `${batch.name}[${i}]: cosine ${cos.toFixed(6)}`);
    }
  }
});
