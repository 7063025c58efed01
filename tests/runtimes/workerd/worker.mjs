// A Cloudflare Worker using the package as an app would: the single-thread build's wasm imported
// as a module (Workers refuse to compile wasm from bytes at run time), the model fetched once from
// a binding, then POST {input, options} -> the embedding rows.
import wasmModule from '../../../dist/jina-v3-wasm-st.wasm';
import { JinaEmbeddings } from '../../../js/index.mjs';

let model;

export default {
  async fetch(request, env) {
    try {
      model ??= await JinaEmbeddings.load(await env.FILES.fetch('http://files/model.jv3'), { wasmModule, cache: false });
      const { input, options } = await request.json();
      const res = await model.embed(input, options);
      return Response.json({ variant: model.info.variant, threads: model.info.threads, rows: res.data.map((d) => Array.from(d.embedding)) });
    } catch (err) {
      return Response.json({ error: { code: err.code ?? 'E_INTERNAL', message: String(err?.stack ?? err) } }, { status: 500 });
    }
  },
};
