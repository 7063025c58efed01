// The app: load a model file by URL, embed the text of ?text=…, show the response. The package's
// wasm builds are found by Vite through their `new URL(…, import.meta.url)` references.
import { JinaEmbeddings } from 'jina-v3-wasm';

const params = new URLSearchParams(location.search);
const out = document.getElementById('out');
try {
  const model = await JinaEmbeddings.load(params.get('model') ?? './model.jv3', {
    onProgress: (p) => { out.textContent = `loading ${p.bytesLoaded} / ${p.bytesTotal} bytes`; },
  });
  const res = await model.embed(params.get('text') ?? 'Hello world!', { task: params.get('task') || null });
  window.result = { variant: model.info.variant, threads: model.info.threads, embedding: Array.from(res.data[0].embedding) };
  out.textContent = JSON.stringify(window.result, null, 1);
} catch (err) {
  window.result = { error: { code: err.code, message: err.message } };
  out.textContent = `${err.code}: ${err.message}`;
}
