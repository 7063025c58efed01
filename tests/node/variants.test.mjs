// The four shipped wasm builds and embeddingType: the single-thread and relaxed-SIMD builds give
// the fixture's vectors too (f32 model, max |Δ| ≤ 1e-5), and the packed encodings match the floats.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { detectVariant, EMBEDDING_TYPES, hasRelaxedSimd, JinaEmbeddings } from '../../js/index.mjs';
import { relaxedDotIsExact } from '../../js/variant.mjs';
import { assertClose, assertCode, caseOptions, convertedModel, loadExpected, loadModel, tempDir } from '../helpers.mjs';

const execFileP = promisify(execFile);
const TOL = 1e-5;
const exp = loadExpected();
const firstCase = { text: exp.texts[0].text, c: exp.texts[0].cases[0] };
let model;

before(async () => {
  model = await loadModel('f32');
});
after(() => model?.dispose());

const nodeMajor = Number(process.versions.node.split('.')[0]);

test('node picks relaxed SIMD from node 22 on (validated, known-answer dot), SIMD128 pthreads on node 20', () => {
  // node 20 validates relaxed SIMD only behind a flag; node 22 and 24 validate it by default.
  assert.equal(hasRelaxedSimd(), nodeMajor >= 22);
  assert.equal(relaxedDotIsExact(), nodeMajor >= 22);
  assert.equal(detectVariant(), nodeMajor >= 22 ? 'wasm-relaxed' : 'wasm');
  assert.equal(detectVariant({ threads: 1 }), nodeMajor >= 22 ? 'wasm-relaxed' : 'wasm-st');
});

test('node 20 with the relaxed-SIMD flag: validated, but its first tier fails the known-answer dot', { skip: nodeMajor !== 20 && 'node 20 only' }, async () => {
  const script = `
    import { detectVariant, hasRelaxedSimd, relaxedDotIsExact } from ${JSON.stringify(new URL('../../js/variant.mjs', import.meta.url).href)};
    console.log(JSON.stringify({ validated: hasRelaxedSimd(), exact: relaxedDotIsExact(), variant: detectVariant() }));`;
  const file = path.join(tempDir(), 'relaxed-probe.mjs');
  fs.writeFileSync(file, script);
  const { stdout } = await execFileP(process.execPath, ['--experimental-wasm-relaxed-simd', file]);
  assert.deepEqual(JSON.parse(stdout), { validated: true, exact: false, variant: 'wasm' });
});

test('single-thread build: fixture vectors, one thread', async () => {
  const st = await JinaEmbeddings.load(await convertedModel('f32'), { variant: 'wasm-st', threads: 4 });
  try {
    assert.equal(st.info.threads, 1);
    for (const text of exp.texts.slice(0, 4)) {
      for (const c of text.cases) {
        const { data } = await st.embed(text.text, caseOptions(c));
        assertClose(data[0].embedding, c.embedding, TOL, `${text.id} / ${c.task}`);
      }
    }
  } finally {
    await st.dispose();
  }
});

// Each relaxed-SIMD build, asked for by name or (single thread) handed in as a compiled module as
// Cloudflare Workers do, which then says itself which build it is.
for (const [variant, threads, how] of [['wasm-relaxed', 2, 'variant'], ['wasm-st-relaxed', 1, 'variant'], ['wasm-st-relaxed', 1, 'wasmModule']]) {
  test(`${variant} build (${how}): fixture vectors (node 20: with --experimental-wasm-relaxed-simd)`, async () => {
    // node 20 runs relaxed SIMD only behind this flag, so the build is exercised in a child process.
    const wasmFile = new URL(`../../dist/jina-${variant.replace('wasm', 'v3-wasm')}.wasm`, import.meta.url);
    const script = `
      import fs from 'node:fs';
      import { JinaEmbeddings, hasRelaxedSimd } from ${JSON.stringify(new URL('../../js/index.mjs', import.meta.url).href)};
      if (!hasRelaxedSimd()) throw new Error('probe says no relaxed SIMD under the flag');
      const options = ${JSON.stringify(how)} === 'wasmModule'
        ? { wasmModule: new WebAssembly.Module(fs.readFileSync(new URL(${JSON.stringify(wasmFile.href)}))) }
        : { variant: ${JSON.stringify(variant)}, threads: ${threads} };
      const m = await JinaEmbeddings.load(process.argv[2], options);
      const { data } = await m.embed(process.argv[3], JSON.parse(process.argv[4]));
      console.log(JSON.stringify({ threads: m.info.threads, variant: m.info.variant, v: [...data[0].embedding] }));
      await m.dispose();
      process.exit(0);`;
    // A file, not -e: the pthread workers inherit execArgv, and --input-type breaks their start.
    const file = path.join(tempDir(), `relaxed-child-${variant}-${how}.mjs`);
    fs.writeFileSync(file, script);
    const { stdout } = await execFileP(process.execPath, [
      ...(nodeMajor === 20 ? ['--experimental-wasm-relaxed-simd'] : []), file,
      await convertedModel('f32'), firstCase.text, JSON.stringify(caseOptions(firstCase.c)),
    ], { timeout: 60_000 });
    const got = JSON.parse(stdout);
    assert.equal(got.threads, threads);
    assert.equal(got.variant, variant);
    assertClose(got.v, firstCase.c.embedding, TOL, `${variant} build`);
  });
}

test('a SIMD128 wasmModule runs as wasm-st; a threaded build cannot be handed in as a module', async () => {
  const wasmModule = new WebAssembly.Module(fs.readFileSync(new URL('../../dist/jina-v3-wasm-st.wasm', import.meta.url)));
  const m = await JinaEmbeddings.load(await convertedModel('f32'), { wasmModule });
  try {
    assert.equal(m.info.variant, 'wasm-st');
    const { data } = await m.embed(firstCase.text, caseOptions(firstCase.c));
    assertClose(data[0].embedding, firstCase.c.embedding, TOL, 'wasm-st module');
  } finally {
    await m.dispose();
  }
  await assertCode(JinaEmbeddings.load(await convertedModel('f32'), { wasmModule, variant: 'wasm' }), 'E_INVALID_ARGUMENT');
});

test('the two single-thread builds share their glue (a module handed in runs under the SIMD128 one)', () => {
  const glue = (name) => fs.readFileSync(new URL(`../../dist/${name}.mjs`, import.meta.url), 'utf8').replaceAll(name, 'NAME');
  assert.equal(glue('jina-v3-wasm-st-relaxed'), glue('jina-v3-wasm-st'));
});

test('unknown variant is E_INVALID_ARGUMENT', async () => {
  await assertCode(JinaEmbeddings.load(await convertedModel('f32'), { variant: 'wasm64' }), 'E_INVALID_ARGUMENT');
});

test('embeddingType: base64, binary and ubinary pack the float vector as the Jina API does', async () => {
  assert.deepEqual(EMBEDDING_TYPES, ['float', 'base64', 'binary', 'ubinary']);
  const texts = [exp.texts[0].text, exp.texts[1].text];
  const floats = (await model.embed(texts, { task: 'text-matching' })).data.map((d) => d.embedding);
  const b64 = await model.embed(texts, { task: 'text-matching', embeddingType: 'base64' });
  const ub = await model.embed(texts, { task: 'text-matching', embeddingType: 'ubinary' });
  const bin = await model.embed(texts, { task: 'text-matching', embeddingType: 'binary' });
  for (const [i, f] of floats.entries()) {
    const decoded = new Float32Array(new Uint8Array(Buffer.from(b64.data[i].embedding, 'base64')).buffer);
    assert.deepEqual(decoded, f, 'base64 is the float32 little-endian bytes');
    const u = ub.data[i].embedding;
    assert.ok(u instanceof Uint8Array);
    assert.equal(u.length, f.length / 8);
    for (let d = 0; d < f.length; d++) {
      assert.equal((u[d >> 3] >> (7 - (d & 7))) & 1, f[d] > 0 ? 1 : 0, `bit ${d}`);
    }
    const s = bin.data[i].embedding;
    assert.ok(s instanceof Int8Array);
    assert.deepEqual([...s], [...u].map((x) => x - 128));
  }
  await assertCode(model.embed('x', { embeddingType: 'int4' }), 'E_INVALID_ARGUMENT');
});
