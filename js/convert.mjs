// The official checkpoint (config.json, tokenizer.json, tokenizer_config.json, model.safetensors)
// as published: converted in wasm while model.safetensors streams in, straight into the engine, and
// cached (keyed by the source's identity) so the next load skips conversion; or, in Node, converted
// from a folder into a model file (convertCheckpoint).
import { cacheError, entryName, openCache, openEntry, openEntryPages, pendingPages } from './cache.mjs';
import { convertFile, convertIntoEngine, loadModelFile } from './engine.mjs';
import { hasNodeBuiltins } from './env.mjs';
import { EmbeddingError, raceAbort } from './errors.mjs';
import { fetchSource, isLocalPath, NO_HTTP_CACHE, openSource, probeUrl, readSourceText, versionOf } from './sources.mjs';

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
 * What identifies the converted bytes without reading them, as `{ source, version }` for
 * cache.mjs's entryName: the source is the weights' location (URL, path, File name, or your
 * `cacheKey`) and the dtype; the version is theirs (ETag / Last-Modified / size for URLs, size and
 * mtime for files and Blobs), the small files' text and the converter revision. null when the
 * weights have no stable identity (streams, in-memory bytes), unless `cacheKey` names one.
 * @param {{ tag: string | null, size: number | null } | null} remote the weights' version and size, when they are a URL
 */
async function identity(ckpt, remote, texts, dtype, cacheKey) {
  let where = null;
  let version = null;
  const w = ckpt.weights;
  if (cacheKey) [where, version] = [`key:${cacheKey}`, ''];
  else if (remote) {
    if (remote.tag) [where, version] = [`url:${new URL(w, globalThis.location?.href).href}`, `${remote.tag}|${remote.size ?? ''}`];
  } else if (typeof File !== 'undefined' && w instanceof File) [where, version] = [`file:${w.name}`, `${w.size}|${w.lastModified}`];
  else if ((typeof w === 'string' || w instanceof URL) && isLocalPath(w)) {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const p = path.resolve(w instanceof URL ? fileURLToPath(w) : w);
    const st = fs.statSync(p);
    [where, version] = [`path:${p}`, `${st.size}|${st.mtimeMs}`];
  }
  if (!where) return null;
  return {
    source: ['checkpoint', where, dtype].join('\u0000'),
    version: [version, CONVERTER_REVISION, texts.config, texts.tokenizer, texts.tokenizerConfig].join('\u0000'),
  };
}

/**
 * Converts the checkpoint while its weights stream in, or loads the cached conversion. Paged and
 * streamed memory read the cache entry at offsets, so they need one: without a cache (or an
 * identity) they are E_INVALID_ARGUMENT, with a cache that cannot take the entry E_CACHE_FULL (or
 * E_IO). Resolves to `{ engine, cache }`, `cache` the entry's status
 * (`{ store, status: 'hit' | 'stored' | 'failed', error? }`) or null when not cached.
 * @param {any} Module a module instance from engine.mjs's loadModule
 * @param {{ config: any, tokenizer: any, tokenizerConfig: any, weights: any }} ckpt from checkpointSource
 * @param {{ nThreads: number, onProgress?: (progress: any) => void, signal?: AbortSignal,
 *   dtype?: 'int8' | 'f32', cache?: boolean | string, cacheKey?: string,
 *   memory?: 'resident' | 'paged' | 'streamed', rowCache?: number }} options
 * @returns {Promise<{ engine: import('./engine.mjs').Engine, cache: object | null }>}
 */
export async function loadCheckpoint(Module, ckpt, { nThreads, onProgress, signal, dtype = 'int8', cache = true, cacheKey, memory = 'resident', rowCache }) {
  checkDtype(dtype);
  const [config, tokenizer, tokenizerConfig] = await Promise.all([
    readText(ckpt.config, 'config.json', false, signal),
    readText(ckpt.tokenizer, 'tokenizer.json', false, signal),
    readText(ckpt.tokenizerConfig, 'tokenizer_config.json', true, signal),
  ]);

  // Weights by URL: their version and size from their first byte (or the whole download, from a
  // server that ignores Range), to know their identity; a cacheKey is that identity.
  const url = (typeof ckpt.weights === 'string' || ckpt.weights instanceof URL) && !isLocalPath(ckpt.weights) ? ckpt.weights : null;
  const first = url && cache !== false && !cacheKey ? await raceAbort(() => probeUrl(url, signal), signal) : null;
  let response = first?.response ?? null;
  const texts = { config, tokenizer, tokenizerConfig };
  const remote = first && { tag: versionOf(first.headers), size: first.size };
  const id = cache === false ? null : await identity(ckpt, remote, texts, dtype, cacheKey);
  const store = id ? await openCache(typeof cache === 'string' ? cache : undefined) : null;
  const paged = memory !== 'resident';
  if (paged && !store) {
    response?.body?.cancel().catch(() => {});
    const why = cache === false ? 'with cache: false' : id ? 'and this runtime has no model cache' : 'and these weights have no identity to cache them by (pass cacheKey)';
    throw new EmbeddingError('E_INVALID_ARGUMENT', `${memory} memory reads the converted model file from the cache, ${why}: convert the checkpoint first (\`jina-v3-wasm convert\`)`);
  }
  let name = store ? await entryName(id.source, id.version) : null;

  if (store) {
    const hit = await store.get(name).catch(() => null);
    if (hit) {
      const entry = await openEntry(hit, memory, signal);
      try {
        // The loader checks the header's and every tensor's CRC-32 as the bytes arrive.
        const engine = await loadModelFile(Module, entry.chunks, nThreads, { onProgress, signal, memory, rowCache, pages: entry.pages });
        response?.body?.cancel().catch(() => {});
        await store.tidy(name);
        return { engine, cache: { store: store.kind, status: 'hit' } };
      } catch (err) {
        entry.pages?.close();
        if (err.code === 'E_ABORTED') throw err;
        // A corrupt or stale entry is dropped (released first, so that its lock is free) and rebuilt below.
        await hit.release();
        await store.remove(name);
      }
    }
  }

  if (url && !response) {
    // Into the cache, the HTTP cache keeps no copy (NO_HTTP_CACHE); without it, as any download.
    response = await fetchSource(url, signal, store ? NO_HTTP_CACHE : {});
    const tag = versionOf(response.headers);
    if (store && !cacheKey && tag !== remote.tag) {
      // Changed since the probe: the entry is named after what is downloaded.
      const size = response.headers.get('content-encoding') ? null : Number(response.headers.get('content-length')) || null;
      const changed = await identity(ckpt, { tag, size }, texts, dtype, cacheKey);
      if (changed) name = await entryName(changed.source, changed.version);
    }
  }
  const weightsSource = response ?? ckpt.weights;
  const status = store ? { store: store.kind, status: 'stored' } : null;
  /** The entry cannot be written: the load goes on without it (reported in `status`), unless it needs it. */
  const failed = (err) => {
    const e = cacheError(err, store.kind);
    Object.assign(status, { status: 'failed', error: { code: e.code, message: e.message } });
    if (paged) return new EmbeddingError(e.code, `${memory} memory reads the converted model file from the cache: ${e.message}`, { cause: e });
    return null;
  };
  const weights = await openSource(weightsSource, signal);
  let entry = null;
  let writeError = null;
  if (store) {
    try {
      // Written (or buffered) at once: convertIntoEngine hands it views valid during the call only.
      entry = await store.writer(name, { sync: true });
    } catch (err) {
      const fatal = failed(err);
      if (fatal) {
        weights.cancel();
        throw fatal;
      }
    }
  }
  const later = paged ? pendingPages() : null;
  let engine;
  try {
    // The model file goes into the loader (and the cache entry) tensor by tensor.
    engine = await convertIntoEngine(Module, { ...texts, dtype }, weights, nThreads, {
      onProgress,
      signal,
      memory,
      rowCache,
      pages: later?.pages,
      onChunk: entry ? (bytes) => {
        if (writeError) return;
        try {
          entry.write(bytes);
        } catch (err) {
          writeError = err;
          // Stops the conversion when the load needs the entry; else it goes on uncached.
          if (paged) throw err;
        }
      } : undefined,
    });
  } catch (err) {
    later?.pages.close();
    await entry?.discard();
    throw writeError ? failed(writeError) ?? err : err;
  }
  if (entry) {
    let fatal = null;
    try {
      if (writeError) throw writeError;
      await entry.commit();
    } catch (err) {
      await entry.discard().catch(() => {});
      fatal = failed(err);
    }
    if (!fatal && later) {
      try {
        const hit = await store.get(name);
        if (!hit) throw new EmbeddingError('E_IO', 'the cache entry vanished once written');
        later.set(await openEntryPages(hit, signal));
      } catch (err) {
        fatal = err;
      }
    }
    if (fatal) {
      engine.delete();
      throw fatal;
    }
  }
  return { engine, cache: status };
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
