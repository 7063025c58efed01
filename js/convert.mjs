// The official checkpoint (config.json, tokenizer.json, tokenizer_config.json, model.safetensors)
// as published: converted in wasm while model.safetensors streams in, straight into the engine, and
// cached (keyed by the source's identity) so the next load skips conversion; or, in Node, converted
// from a folder into a model file (convertCheckpoint).
import { openCache } from './cache.mjs';
import { convertFile, convertIntoEngine, loadModelFile } from './engine.mjs';
import { hasNodeBuiltins } from './env.mjs';
import { EmbeddingError } from './errors.mjs';
import { fetchSource, isLocalPath, openSource, readSourceText } from './sources.mjs';

/** Bumped when the converter's output for the same checkpoint changes: old cache entries are then ignored. */
const CONVERTER_REVISION = 1;

const FILES = { config: 'config.json', tokenizer: 'tokenizer.json', tokenizerConfig: 'tokenizer_config.json', weights: 'model.safetensors' };

const isPlainSourceObject = (s) =>
  s && typeof s === 'object' && Object.getPrototypeOf(s) === Object.prototype && 'weights' in s;

function checkDtype(dtype) {
  if (dtype !== 'int8' && dtype !== 'f32') {
    throw new EmbeddingError('E_INVALID_ARGUMENT', `dtype must be "int8" or "f32", got ${dtype}`);
  }
}

/**
 * Recognizes a checkpoint source: `{ config, tokenizer, tokenizerConfig?, weights }` (each a URL,
 * path, Response, Blob, bytes or text), a URL prefix ending in `/`, or (Node) a folder path.
 * Returns null for a model-file source.
 * @returns {Promise<null | { config: any, tokenizer: any, tokenizerConfig: any, weights: any }>}
 */
export async function checkpointSource(source) {
  if (isPlainSourceObject(source)) return source;
  if (typeof source !== 'string' && !(source instanceof URL)) return null;
  let prefix = null;
  if (!isLocalPath(source)) {
    const str = source instanceof URL ? source.href : source;
    if (str.endsWith('/')) prefix = new URL(str, globalThis.location?.href).href;
  } else {
    const fs = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const p = source instanceof URL ? fileURLToPath(source) : source;
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) prefix = p.endsWith('/') ? p : `${p}/`;
  }
  if (!prefix) return null;
  return Object.fromEntries(Object.entries(FILES).map(([k, name]) => [k, prefix + name]));
}

/** Text of a small checkpoint file from any source kind; `optional`: '' when it does not exist. */
async function readText(source, what, optional, signal) {
  if (source === undefined || source === null || source === '') {
    if (optional) return '';
    throw new EmbeddingError('E_BAD_CHECKPOINT', `${what} is missing: pass it with the checkpoint`);
  }
  try {
    return await readSourceText(source, signal);
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
 * @param {Response | undefined} response the weights' response, when they were fetched
 */
async function identity(ckpt, response, texts, dtype, cacheKey) {
  let where = null;
  const w = ckpt.weights;
  if (cacheKey) where = `key:${cacheKey}`;
  else if (response) {
    const h = response.headers;
    const version = h.get('etag') || h.get('last-modified');
    if (version) where = `url:${response.url}|${version}|${h.get('content-length')}`;
  } else if (typeof File !== 'undefined' && w instanceof File) where = `file:${w.name}|${w.size}|${w.lastModified}`;
  else if ((typeof w === 'string' || w instanceof URL) && isLocalPath(w)) {
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
 * @param {any} Module a module instance from engine.mjs's loadModule
 * @param {{ config: any, tokenizer: any, tokenizerConfig: any, weights: any }} ckpt from checkpointSource
 * @param {{ nThreads: number, onProgress?: (progress: any) => void, signal?: AbortSignal,
 *   dtype?: 'int8' | 'f32', cache?: boolean | string, cacheKey?: string }} options
 * @returns {Promise<import('./engine.mjs').Engine>}
 */
export async function loadCheckpoint(Module, ckpt, { nThreads, onProgress, signal, dtype = 'int8', cache = true, cacheKey }) {
  checkDtype(dtype);
  const [config, tokenizer, tokenizerConfig] = await Promise.all([
    readText(ckpt.config, 'config.json', false, signal),
    readText(ckpt.tokenizer, 'tokenizer.json', false, signal),
    readText(ckpt.tokenizerConfig, 'tokenizer_config.json', true, signal),
  ]);

  // Open the weights first (for a URL: the response headers), to know their identity.
  let response;
  let weightsSource = ckpt.weights;
  if ((typeof weightsSource === 'string' || weightsSource instanceof URL) && !isLocalPath(weightsSource)) {
    response = await fetchSource(weightsSource, signal);
    weightsSource = response;
  }
  const texts = { config, tokenizer, tokenizerConfig };
  const key = cache === false ? null : await identity(ckpt, response, texts, dtype, cacheKey);
  const store = key ? await openCache(typeof cache === 'string' ? cache : undefined) : null;

  if (store) {
    const hit = await store.get(key);
    if (hit) {
      try {
        // The loader checks the header's and every tensor's CRC-32 as the bytes arrive.
        const engine = await loadModelFile(Module, await openSource(hit, signal), nThreads, { onProgress, signal });
        response?.body?.cancel().catch(() => {});
        return engine;
      } catch (err) {
        if (err.code === 'E_ABORTED') throw err;
        // A corrupt or stale entry is dropped and rebuilt below.
        await store.remove(key);
      }
    }
  }

  const weights = await openSource(weightsSource, signal);
  let entry = null;
  try {
    entry = store ? await store.writer(key) : null;
  } catch (err) {
    weights.cancel();
    throw err;
  }
  try {
    // The model file goes into the loader (and the cache entry) tensor by tensor.
    const engine = await convertIntoEngine(Module, { ...texts, dtype }, weights, nThreads, {
      onProgress,
      signal,
      onChunk: entry ? (bytes) => {
        try {
          entry.write(bytes);
        } catch (err) {
          throw new EmbeddingError('E_IO', `writing the cache entry: ${err.message}`, { cause: err });
        }
      } : undefined,
    });
    try {
      await entry?.commit();
    } catch {
      // A cache that cannot be written is not a load failure: the next load converts again.
    }
    return engine;
  } catch (err) {
    await entry?.discard();
    throw err;
  }
}

/**
 * Node: converts a checkpoint folder as published (config.json, tokenizer.json,
 * tokenizer_config.json, model.safetensors) into one model file. model.safetensors is read at
 * random offsets on demand, never whole; the output is written sequentially to a temporary name
 * beside `outPath` and renamed when complete, so a failure never leaves a half-written model.
 * @param {string} dir
 * @param {string} outPath
 * @param {{ dtype?: 'int8' | 'f32', onProgress?: (p: { tensorsDone: number, tensorsTotal: number }) => void }} [options]
 * @returns {Promise<{ path: string, bytesWritten: number, tensors: number }>}
 */
export async function convertCheckpoint(dir, outPath, { dtype = 'int8', onProgress } = {}) {
  if (!hasNodeBuiltins) throw new EmbeddingError('E_INVALID_ARGUMENT', 'convertCheckpoint runs in Node only');
  checkDtype(dtype);
  const fs = await import('node:fs');
  const path = await import('node:path');

  const readFile = (name, required) => {
    const file = path.join(dir, name);
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT' && !required) return '';
      const why = err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.message})`;
      throw new EmbeddingError('E_BAD_CHECKPOINT', `${file} ${why}`, { cause: err });
    }
  };
  const config = readFile('config.json', true);
  const tokenizer = readFile('tokenizer.json', true);
  // Optional: it only supplies model_max_length, which the core then takes from config.json.
  const tokenizerConfig = readFile('tokenizer_config.json', false);

  const weightsPath = path.join(dir, 'model.safetensors');
  let inFd;
  try {
    inFd = fs.openSync(weightsPath, 'r');
  } catch (err) {
    const why = err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.message})`;
    throw new EmbeddingError('E_BAD_CHECKPOINT', `${weightsPath} ${why}`, { cause: err });
  }

  const finalPath = path.resolve(outPath);
  const tmpPath = path.join(
    path.dirname(finalPath),
    `.${path.basename(finalPath)}.jv3tmp-${process.pid}-${Math.random().toString(36).slice(2)}`,
  );
  /** Runs a file-system step, reporting its failure as E_IO. */
  const io = (what, fn) => {
    try {
      return fn();
    } catch (err) {
      throw new EmbeddingError('E_IO', `${what}: ${err.message}`, { cause: err });
    }
  };
  let outFd;
  try {
    outFd = io(`creating ${tmpPath}`, () => fs.openSync(tmpPath, 'w'));
    const { bytesWritten, tensors } = await convertFile({
      config,
      tokenizer,
      tokenizerConfig,
      safetensorsSize: fs.fstatSync(inFd).size,
      dtype,
      read(offset, length) {
        const buf = new Uint8Array(length);
        let done = 0;
        while (done < buf.length) {
          const n = io(`reading ${weightsPath}`, () => fs.readSync(inFd, buf, done, buf.length - done, offset + done));
          if (n === 0) break;
          done += n;
        }
        return buf.subarray(0, done);
      },
      write(chunk, offset) {
        for (let done = 0; done < chunk.length;) {
          done += io(`writing ${tmpPath}`, () => fs.writeSync(outFd, chunk, done, chunk.length - done, offset + done));
        }
      },
      onProgress,
    });
    io(`writing ${tmpPath}`, () => {
      fs.fsyncSync(outFd);
      fs.closeSync(outFd);
    });
    outFd = undefined;
    io(`renaming ${tmpPath} to ${finalPath}`, () => fs.renameSync(tmpPath, finalPath));
    return { path: finalPath, bytesWritten, tensors };
  } catch (err) {
    if (outFd !== undefined) fs.closeSync(outFd);
    fs.rmSync(tmpPath, { force: true });
    throw err;
  } finally {
    fs.closeSync(inFd);
  }
}
