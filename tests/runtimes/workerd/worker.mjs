// A Cloudflare Worker using the package as an app would: a single-thread build's wasm imported
// as a module (Workers refuse to compile wasm from bytes at run time), the model loaded once per
// build and memory mode from a binding, then POST {input, options, memory, build} -> the rows. Resident:
// the file's body streamed in; paged and streamed: read at offsets through the binding with Range
// requests, as a deployed Worker reads an R2 object.
import relaxedModule from '../../../dist/jina-v3-wasm-st-relaxed.wasm';
import simd128Module from '../../../dist/jina-v3-wasm-st.wasm';
import { JinaEmbeddings } from '../../../js/index.mjs';
import { rangeReader } from '../../../scripts/lib/range-reader.mjs';

const MODEL_URL = 'http://files/model.jv3';
const models = new Map();

async function load(env, memory, build) {
  const wasmModule = build === 'simd128' ? simd128Module : relaxedModule;
  if (memory === 'resident') return JinaEmbeddings.load(await env.FILES.fetch(MODEL_URL), { wasmModule, cache: false });
  return JinaEmbeddings.load(await rangeReader(env.FILES, MODEL_URL), { wasmModule, memory });
}

export default {
  async fetch(request, env) {
    try {
      const { input, options, memory = 'resident', build = 'relaxed' } = await request.json();
      const key = `${build}/${memory}`;
      if (!models.has(key)) models.set(key, await load(env, memory, build));
      const model = models.get(key);
      const res = await model.embed(input, options);
      return Response.json({ variant: model.info.variant, threads: model.info.threads, memory: model.info.memory,
        rows: res.data.map((d) => Array.from(d.embedding)) });
    } catch (err) {
      return Response.json({ error: { code: err.code ?? 'E_INTERNAL', message: String(err?.stack ?? err) } }, { status: 500 });
    }
  },
};
