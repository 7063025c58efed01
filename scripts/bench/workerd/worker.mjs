// The benchmark's Worker (scripts/bench/workerd.mjs): loads the model through the FILES binding as
// a deployed Worker reads an R2 object (Range requests; resident: the body streamed in), counting
// every read, and embeds the workloads on request. POST { op: 'load' | 'embed' | 'vector', build,
// memory, reader: 'stream' | 'read' }.
import relaxedModule from '../../../dist/jina-v3-wasm-st-relaxed.wasm';
import simd128Module from '../../../dist/jina-v3-wasm-st.wasm';
import { JinaEmbeddings, loadModule } from '../../../js/index.mjs';
import { rangeReader } from '../../lib/range-reader.mjs';
import { textOfTokens, WORKLOADS } from '../workloads.mjs';

const MODEL_URL = 'http://files/model.jv3';
const reads = { bytes: 0, ranges: 0 };
const models = new Map();
let text = new Map();

const wasmModuleOf = (build) => (build === 'simd128' ? simd128Module : relaxedModule);

async function heapBytes(build) {
  return (await loadModule(undefined, { wasmModule: wasmModuleOf(build) })).HEAPU8.length;
}

/** The model through the binding, counting reads; `reader: 'read'` without stream(), as a reader that only reads ranges whole. */
async function source(env, reader) {
  const { stream, ...ranges } = await rangeReader(env.FILES, MODEL_URL, (length) => {
    reads.bytes += length;
    reads.ranges += 1;
  });
  return reader === 'read' ? ranges : { ...ranges, stream };
}

async function op(body, env) {
  const { build = 'relaxed', memory = 'streamed', reader = 'stream' } = body;
  const key = `${build}/${memory}`;
  reads.bytes = reads.ranges = 0;
  if (body.op === 'load') {
    const wasmModule = wasmModuleOf(build);
    const m = memory === 'resident'
      ? await JinaEmbeddings.load(await env.FILES.fetch(MODEL_URL), { wasmModule, cache: false })
      : await JinaEmbeddings.load(await source(env, reader), { wasmModule, memory });
    models.set(key, m);
    return { variant: m.info.variant, memory: m.info.memory, reads: { ...reads }, heapBytes: await heapBytes(build) };
  }
  const m = models.get(key);
  if (!m) throw new Error(`${key} is not loaded`);
  if (body.op === 'embed') {
    const [count, tokens] = WORKLOADS[body.workload];
    if (!text.has(tokens)) text.set(tokens, await textOfTokens(m, tokens));
    reads.bytes = reads.ranges = 0;
    const res = await m.embed(Array(count).fill(text.get(tokens)));
    return { texts: res.data.length, tokens: res.usage.total_tokens, reads: { ...reads }, heapBytes: await heapBytes(build) };
  }
  if (body.op === 'vector') {
    const res = await m.embed([body.text], { task: 'retrieval.query' });
    return { vector: Array.from(res.data[0].embedding) };
  }
  if (body.op === 'dispose') {
    await m.dispose();
    models.delete(key);
    return {};
  }
  throw new Error(`unknown op ${body.op}`);
}

export default {
  async fetch(request, env) {
    try {
      return Response.json(request.method === 'POST' ? await op(await request.json(), env) : {});
    } catch (err) {
      return Response.json({ error: { code: err.code ?? 'E_INTERNAL', message: String(err?.stack ?? err) } }, { status: 500 });
    }
  },
};
