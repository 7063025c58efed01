// Loading the official checkpoint (config.json, tokenizer.json, tokenizer_config.json,
// model.safetensors) as published: converted in wasm while model.safetensors streams in, straight
// into the engine, and cached (keyed by the source's identity) so the next load skips conversion.
import { openCache } from './cache.mjs';
// A cycle with index.mjs, safe: EmbeddingError is used only when functions run, after both loaded.
import { EmbeddingError } from './index.mjs';

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Bumped when the converter's output for the same checkpoint changes: old cache entries are then ignored. */
const CONVERTER_REVISION = 1;

const FILES = { config: 'config.json', tokenizer: 'tokenizer.json', tokenizerConfig: 'tokenizer_config.json', weights: 'model.safetensors' };

const isPlainSourceObject = (s) =>
  s && typeof s === 'object' && Object.getPrototypeOf(s) === Object.prototype && 'weights' in s;

/**
 * Recognizes a checkpoint source: `{ config, tokenizer, tokenizerConfig?, weights }` (each a URL,
 * path, Response, Blob, bytes or text), a URL prefix ending in `/`, or (Node) a folder path.
 * Returns null for a model-file source.
 * @returns {Promise<null | { config: any, tokenizer: any, tokenizerConfig: any, weights: any }>}
 */
export async function checkpointSource(source) {
  if (isPlainSourceObject(source)) return source;
  const str = source instanceof URL ? source.href : typeof source === 'string' ? source : null;
  if (str === null) return null;
  const isRemote = !isNode || /^https?:\/\//i.test(str);
  let prefix = null;
  if (isRemote && str.endsWith('/')) {
    prefix = new URL(str, globalThis.location?.href).href;
  } else if (!isRemote) {
    const fs = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const p = source instanceof URL ? fileURLToPath(source) : str;
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) prefix = p.endsWith('/') ? p : `${p}/`;
  }
  if (!prefix) return null;
  return Object.fromEntries(Object.entries(FILES).map(([k, name]) => [k, prefix + name]));
}

/** Text of a small checkpoint file from any source kind; `optional`: '' when it does not exist. */
async function readText(source, what, optional, { toChunkSource, signal }) {
  if (source === undefined || source === null || source === '') {
    if (optional) return '';
    throw new EmbeddingError('E_BAD_CHECKPOINT', `${what} is missing: pass it with the checkpoint`);
  }
  try {
    const chunks = await toChunkSource(source, signal);
    const parts = [];
    for (let c; (c = await chunks.next()) !== null;) parts.push(c);
    return new TextDecoder().decode(await new Blob(parts).arrayBuffer());
  } catch (err) {
    if (err.code === 'E_ABORTED') throw err;
    if (optional && /HTTP 404|ENOENT|no such file/i.test(err.message)) return '';
    throw new EmbeddingError('E_BAD_CHECKPOINT', `${what}: ${err.message}`, { cause: err });
  }
}

/**
 * What identifies the converted bytes without reading them: the weights' location and version
 * (ETag / Last-Modified / size for URLs, size and mtime for files and Blobs), the small files'
 * text, the dtype and the converter revision. null when the weights have no stable identity
 * (streams, in-memory bytes), unless `cacheKey` names one.
 */
async function identity(ckpt, weights, texts, dtype, cacheKey) {
  let where = null;
  const w = ckpt.weights;
  if (cacheKey) where = `key:${cacheKey}`;
  else if (weights.response) {
    const h = weights.response.headers;
    const version = h.get('etag') || h.get('last-modified');
    if (version) where = `url:${weights.response.url}|${version}|${h.get('content-length')}`;
  } else if (typeof File !== 'undefined' && w instanceof File) where = `file:${w.name}|${w.size}|${w.lastModified}`;
  else if (isNode && (typeof w === 'string' || w instanceof URL)) {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const p = path.resolve(w instanceof URL ? fileURLToPath(w) : w);
    const st = fs.statSync(p);
    where = `path:${p}|${st.size}|${st.mtimeMs}`;
  }
  if (!where) return null;
  const text = [where, dtype, CONVERTER_REVISION, texts.config, texts.tokenizer, texts.tokenizerConfig].join('\u0000');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Converts the checkpoint while its weights stream in, or loads the cached conversion.
 * `internals` are index.mjs helpers: toChunkSource, raceAbort, unwrap, abortError, loadModelFile.
 * @returns {Promise<any>} the engine
 */
export async function loadCheckpoint(Module, ckpt, options, internals) {
  const { nThreads, onProgress, signal, dtype = 'int8', cache = true, cacheKey } = options;
  const { toChunkSource, raceAbort, unwrap, abortError, loadModelFile } = internals;
  if (dtype !== 'int8' && dtype !== 'f32') {
    throw new EmbeddingError('E_INVALID_ARGUMENT', `dtype must be "int8" or "f32", got ${dtype}`);
  }
  const io = { toChunkSource, signal };
  const [config, tokenizer, tokenizerConfig] = await Promise.all([
    readText(ckpt.config, 'config.json', false, io),
    readText(ckpt.tokenizer, 'tokenizer.json', false, io),
    readText(ckpt.tokenizerConfig, 'tokenizer_config.json', true, io),
  ]);

  // Open the weights first (for a URL: the response headers), to know their identity.
  let response;
  let weightsSource = ckpt.weights;
  if ((typeof weightsSource === 'string' || weightsSource instanceof URL) && (!isNode || /^https?:\/\//i.test(String(weightsSource)))) {
    const url = new URL(weightsSource, globalThis.location?.href);
    try {
      response = await fetch(url, { signal });
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      throw new EmbeddingError('E_IO', `cannot download ${url}: ${err.message}`, { cause: err });
    }
    weightsSource = response;
  }
  const texts = { config, tokenizer, tokenizerConfig };
  const key = cache === false ? null : await identity(ckpt, { response }, texts, dtype, cacheKey);
  const store = key ? await openCache(typeof cache === 'string' ? cache : undefined) : null;

  if (store) {
    const hit = await store.get(key);
    if (hit) {
      try {
        // The loader checks the header's and every tensor's CRC-32 as the bytes arrive.
        const engine = await loadModelFile(Module, hit, nThreads, { onProgress, signal });
        response?.body?.cancel().catch(() => {});
        return engine;
      } catch (err) {
        if (err.code === 'E_ABORTED') throw err;
        // A corrupt or stale entry is dropped and rebuilt below.
        await store.remove(key);
      }
    }
  }

  const chunks = await raceAbort(() => toChunkSource(weightsSource, signal), signal);
  const conv = new Module.StreamConverter();
  const loader = new Module.ModelLoader();
  const entry = store ? await store.writer(key) : null;
  try {
    unwrap(conv.init({ config, tokenizer, tokenizerConfig, dtype, safetensorsSize: chunks.sizeHint }));
    for (;;) {
      const chunk = await raceAbort(() => chunks.next(), signal).catch((err) => {
        // e.g. the server closed the connection mid-body (fetch's TypeError "terminated")
        throw err instanceof EmbeddingError ? err : new EmbeddingError('E_IO', `cannot read model.safetensors: ${err.message}`, { cause: err });
      });
      if (chunk === null) break;
      if (signal?.aborted) throw abortError(signal);
      const progress = unwrap(conv.push(chunk));
      onProgress?.(progress);
    }
    if (signal?.aborted) throw abortError(signal);
    // The model file goes into the loader (and the cache entry) tensor by tensor.
    let writeError;
    unwrap(conv.finish(loader, entry ? (bytes) => {
      try {
        entry.write(bytes);
        return true;
      } catch (err) {
        writeError = err;
        return false;
      }
    } : undefined));
    if (writeError) throw writeError;
    const { engine } = unwrap(loader.finish(nThreads));
    try {
      await entry?.commit();
    } catch {
      // A cache that cannot be written is not a load failure: the next load converts again.
    }
    return engine;
  } catch (err) {
    chunks.cancel();
    await entry?.discard();
    throw err;
  } finally {
    conv.delete();
    loader.delete();
  }
}
