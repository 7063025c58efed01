// Cloudflare Workers, locally: workerd (from npm) runs tests/runtimes/workerd/worker.mjs with the package's
// modules and a single-thread wasm imported as a module (relaxed SIMD; SIMD128 once); its vectors
// must match the fixture, in every memory mode (paged and streamed read the model through a binding with Range requests).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { startWorkerd } from '../../scripts/lib/workerd.mjs';
import { assertClose, caseOptions, convertedModel, loadExpected, tempDir } from '../helpers.mjs';

const TOL = 1e-5;
const exp = loadExpected();
let workerd, url;

before(async () => {
  const dir = fs.mkdtempSync(path.join(tempDir(), 'workerd-'));
  fs.copyFileSync(await convertedModel('f32'), path.join(dir, 'model.jv3'));
  workerd = await startWorkerd({ worker: 'tests/runtimes/workerd/worker.mjs', filesDir: dir, configDir: dir });
  url = workerd.url;
});

after(() => workerd?.stop());

const RUNS = [['relaxed', 'resident'], ['relaxed', 'paged'], ['relaxed', 'streamed'], ['simd128', 'resident']];
for (const [build, memory] of RUNS) {
  const variant = build === 'relaxed' ? 'wasm-st-relaxed' : 'wasm-st';
  test(`workerd: ${variant} from an imported wasm module, ${memory} memory, fixture vectors`, async () => {
    for (const text of exp.texts.slice(0, 3)) {
      for (const c of text.cases) {
        const res = await fetch(url, { method: 'POST', body: JSON.stringify({ input: [text.text], options: caseOptions(c), memory, build }) });
        const body = await res.text();
        assert.equal(res.status, 200, `${body}\n${workerd.output()}`);
        const json = JSON.parse(body);
        assert.equal(json.variant, variant);
        assert.equal(json.threads, 1);
        assert.equal(json.memory, memory);
        assertClose(json.rows[0], c.embedding, TOL, `${memory} / ${text.id} / ${c.task}`);
      }
    }
  });
}
