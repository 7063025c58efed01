// The one module that touches the Emscripten build: it imports the factories from dist/ and is the
// only caller of the Embind API (wasm/README.md). The rest of js/ holds a module instance only as an
// opaque handle, and gets plain results (or EmbeddingErrors) back from here.
import { defaultThreads } from './env.mjs';
import { abortError, EmbeddingError, raceAbort, unwrap } from './errors.mjs';
import { CHUNK_BYTES, readRanges } from './sources.mjs';
import { detectVariant, isThreaded, VARIANTS } from './variant.mjs';

/**
 * Imports a build's Emscripten factory. Literal specifiers, so that bundlers (Vite, wrangler) see
 * each file and emit its .wasm asset next to it.
 * @param {'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed'} variant
 */
function importFactory(variant) {
  switch (variant) {
    case 'wasm': return import('../dist/jina-v3-wasm.mjs');
    case 'wasm-relaxed': return import('../dist/jina-v3-wasm-relaxed.mjs');
    case 'wasm-st': return import('../dist/jina-v3-wasm-st.mjs');
    case 'wasm-st-relaxed': return import('../dist/jina-v3-wasm-st-relaxed.mjs');
    default: return Promise.reject(new TypeError(`unknown wasm variant "${variant}" (one of ${VARIANTS.join(', ')})`));
  }
}

/** Streamed memory: bytes of a layer handed to the engine at a time when it arrives as a stream. */
const STAGE_BYTES = 1 << 20;

/** Per variant: the promise of its Emscripten factory (each dist file is imported once). */
const factories = new Map();
/** Per variant: the shared module instance. */
const sharedModules = new Map();
/** Per compiled WebAssembly.Module (Cloudflare Workers): the shared module instance. */
const sharedByWasm = new WeakMap();

function factoryFor(variant) {
  if (!factories.has(variant)) {
    factories.set(variant, importFactory(variant).then(
      (m) => m.default,
      (err) => {
        factories.delete(variant);
        throw new EmbeddingError('E_STATE', `cannot load the ${variant} build from dist/ (build it with \`npm run build\`): ${err.message}`, { cause: err });
      },
    ));
  }
  return factories.get(variant);
}

/**
 * Module settings for a precompiled WebAssembly.Module: runtimes that forbid compiling wasm from
 * bytes (Cloudflare Workers) import the .wasm as a module at build time and hand it over.
 */
function wasmModuleOverrides(wasmModule) {
  return {
    instantiateWasm(imports, done) {
      WebAssembly.instantiate(wasmModule, imports).then((instance) => done(instance, wasmModule));
      return {};
    },
  };
}

/**
 * Instantiates the wasm module. Without overrides every caller shares one instance per build (one
 * wasm heap and one pthread pool per process, which is what keeps several loaded models cheap);
 * with `moduleOverrides` (e.g. `locateFile` for a custom .wasm URL) a new, unshared instance is
 * made. `variant` picks the build (default: feature detection, see variant.mjs); `wasmModule` is
 * a precompiled WebAssembly.Module of a single-thread build (shared per module), which says itself
 * whether it is the SIMD128 or the relaxed one (the two share their glue).
 * @param {Record<string, unknown>} [moduleOverrides]
 * @param {{ variant?: 'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed', wasmModule?: WebAssembly.Module }} [options]
 * @returns {Promise<any>}
 */
export function loadModule(moduleOverrides, { variant, wasmModule } = {}) {
  variant ??= wasmModule ? 'wasm-st' : detectVariant();
  if (!VARIANTS.includes(variant)) {
    return Promise.reject(new EmbeddingError('E_INVALID_ARGUMENT', `variant must be one of ${VARIANTS.join(', ')}, got ${variant}`));
  }
  if (wasmModule && isThreaded(variant)) {
    return Promise.reject(new EmbeddingError('E_INVALID_ARGUMENT', `wasmModule must be a single-thread build (wasm-st or wasm-st-relaxed), not ${variant}`));
  }
  const threaded = isThreaded(variant);
  const make = (overrides) => Promise.all([factoryFor(variant), threaded ? defaultThreads() : 1]).then(([factory, threads]) =>
    // pthreadpool waits for its workers to start, which a browser main thread cannot do while it
    // blocks: so a threaded instance spawns the default thread count's workers up front.
    factory({ jv3Workers: threads - 1, ...(wasmModule ? wasmModuleOverrides(wasmModule) : {}), ...overrides, jv3Variant: variant }))
    .then((Module) => {
      // A module handed in is whichever single-thread build the caller imported.
      if (wasmModule) Module.jv3Variant = Module.simdLevel() === 'relaxed' ? 'wasm-st-relaxed' : 'wasm-st';
      return Module;
    })
    .catch((err) => {
      throw startError(variant, err);
    });
  if (moduleOverrides) return make(moduleOverrides);
  const cache = wasmModule ? sharedByWasm : sharedModules;
  const key = wasmModule ?? variant;
  if (!cache.has(key)) {
    // A failed instantiation is not cached, so a later call can retry.
    cache.set(key, make({}).catch((err) => {
      cache.delete(key);
      throw err;
    }));
  }
  return cache.get(key);
}

/** The builds tried after the first choice fails to start: relaxed → SIMD128 → single thread. */
const FALLBACKS = {
  'wasm-relaxed': ['wasm', 'wasm-st-relaxed', 'wasm-st'],
  wasm: ['wasm-st'],
  'wasm-st-relaxed': ['wasm-st'],
  'wasm-st': [],
};

/**
 * Shared-memory maximum of a threaded build's second try, where creating the default one (4 GiB,
 * the link setting) failed: enough for the full model resident and a long batch.
 */
const SMALLER_MAXIMUM_BYTES = 2 ** 30;

/** A threaded build whose workers have not all started by then counts as failed, not as a hang. */
const START_TIMEOUT_MS = 30_000;

/** Per build (and memory maximum): why it could not start in this process, so it is not retried. */
const startFailures = new Map();
/** Per threaded build: the shared instance started with the smaller memory maximum. */
const smallerMemoryModules = new Map();

/** True for a failure to create or grow memory (a RangeError, or an engine's own words for it). */
function isMemoryError(err) {
  return err instanceof RangeError || /out of memory|memory.*(allocat|reserve|maximum)|could not allocate/i.test(String(err?.message ?? err));
}

/** The failure of a build that cannot start, as an EmbeddingError that says which and why. */
function startError(variant, err) {
  if (err instanceof EmbeddingError) return err;
  const code = isMemoryError(err) ? 'E_OUT_OF_MEMORY' : 'E_BACKEND';
  return new EmbeddingError(code, `the ${variant} build cannot start here: ${err?.message ?? err}`, { cause: err });
}

/** A shared WebAssembly.Memory of a threaded build with a maximum of `maximumBytes`. */
function sharedMemory(maximumBytes) {
  const page = 65536;
  return new WebAssembly.Memory({ initial: (64 << 20) / page, maximum: maximumBytes / page, shared: true });
}

/** Rejects after START_TIMEOUT_MS unless `promise` settles first. */
function withStartTimeout(promise, variant) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`its workers did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts the first build that works, beginning with `first` (what feature detection chose): if it
 * fails to compile or instantiate, or its memory cannot be created (then a threaded build is tried
 * once more with a smaller maximum), or its workers never start, the next build of FALLBACKS is
 * tried. Resolves to { Module, fallback }: `fallback` lists each build dropped and why (empty when
 * the first choice runs). A failure is remembered, so later loads go straight to what works.
 * @param {'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed'} first
 * @returns {Promise<{ Module: any, fallback: Array<{ variant: string, maximumMemoryBytes?: number, reason: string }> }>}
 */
export async function startModule(first) {
  const attempts = [first, ...FALLBACKS[first]].flatMap((variant) =>
    isThreaded(variant) ? [{ variant }, { variant, maximumMemoryBytes: SMALLER_MAXIMUM_BYTES }] : [{ variant }]);
  const fallback = [];
  for (const [i, { variant, maximumMemoryBytes }] of attempts.entries()) {
    const key = `${variant}/${maximumMemoryBytes ?? 'default'}`;
    let failure = startFailures.get(key);
    if (!failure) {
      // The smaller maximum is only worth a try when the memory was the cause.
      if (maximumMemoryBytes && !isMemoryError(startFailures.get(`${variant}/default`)?.cause)) continue;
      try {
        let start;
        if (!maximumMemoryBytes) {
          start = loadModule(undefined, { variant });
        } else {
          if (!smallerMemoryModules.has(variant)) {
            smallerMemoryModules.set(variant, loadModule({ wasmMemory: sharedMemory(maximumMemoryBytes) }, { variant }));
          }
          start = smallerMemoryModules.get(variant);
        }
        const Module = await withStartTimeout(start, variant);
        return { Module, fallback };
      } catch (err) {
        if (maximumMemoryBytes) smallerMemoryModules.delete(variant);
        failure = startError(variant, err);
        // Only a failure of the build itself is remembered: a missing dist/ file is not one.
        if (failure.code !== 'E_STATE') startFailures.set(key, failure);
      }
    }
    if (i === attempts.length - 1 || failure.code === 'E_STATE') throw failure;
    fallback.push({ variant, ...(maximumMemoryBytes ? { maximumMemoryBytes } : {}), reason: failure.message });
  }
  throw new EmbeddingError('E_BACKEND', 'no wasm build can start here');
}

/**
 * The build a module instance runs, as loadModule() recorded it; 'custom' for one made otherwise.
 * @returns {'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed' | 'custom'}
 */
export function moduleVariant(Module) {
  return Module.jv3Variant ?? 'custom';
}

/**
 * A loaded model in the engine: the Embind Engine with every result unwrapped (failures thrown as
 * EmbeddingError). `delete()` frees it (and closes a paged model's source); no call may follow.
 * @typedef {{
 *   info(): Record<string, any>,
 *   embed(texts: string[], options: Record<string, unknown>): Promise<{ embeddings: Float32Array, dim: number, totalTokens: number }>,
 *   tokenize(texts: string[], options: { truncate: boolean }): Int32Array[],
 *   pagedStats(): { rowsRead: number, bytesRead: number, rangesRead: number, rowsCached: number } | null,
 *   delete(): void,
 * }} Engine
 */

/**
 * @param {import('./sources.mjs').RandomAccess | null} pages paged memory: where the rows are read
 * @returns {Engine}
 */
function wrapEngine(engine, pages) {
  // Streamed layers: two buffers, one read while the other is supplied (supply() has copied the
  // bytes out when it returns). Kept for the engine's life: allocating them per call left freed
  // ~14 MB blocks that the C allocator keeps from the system (peak RSS grew call after call).
  const buffers = [null, null];
  let turn = 0;
  // Streamed parts are gathered here (read straight into it where the stream allows) and supplied
  // STAGE_BYTES at a time: a stream's parts can be a few KiB, and a supply() per part would cost
  // more than the layer's matmuls.
  let stage = null;
  return {
    info: () => unwrap(engine.info()),
    // Paged and streamed memory: a call whose rows are not all cached answers { needs: ranges }, and
    // (streamed) then each layer in turn { needs, next, layer }: each supply() of the bytes asked
    // for moves it on, until it answers its result. The range after (`next`) is read while a layer
    // runs. A source that streams ranges hands a layer over in parts as they arrive.
    async embed(texts, options) {
      let result = unwrap(engine.embed(texts, options));
      const layerBuffer = (ranges) => {
        if (ranges.length !== 2 || !pages.readInto) return undefined;
        turn ^= 1;
        if (!(buffers[turn]?.length >= ranges[1])) buffers[turn] = new Uint8Array(ranges[1]);
        return buffers[turn];
      };
      // A read of `ranges` under way: { key, stream } or { key, bytes: Promise<Uint8Array> }.
      const start = (ranges, layer, reuse) => {
        if (layer && pages.stream) return { key: String(ranges), stream: pages.stream(ranges[0], ranges[1]) };
        const bytes = readRanges(pages, ranges, layer && reuse ? layerBuffer(ranges) : undefined);
        bytes.catch(() => {});  // awaited when its turn comes, unless a step fails first
        return { key: String(ranges), bytes };
      };
      const supplyStream = async (stream) => {
        // (A read that failed midway may have left the stage's buffer transferred away.)
        if (!(stage?.buffer.byteLength === STAGE_BYTES)) stage = new Uint8Array(STAGE_BYTES);
        let held = 0;
        const flush = () => {
          const r = unwrap(engine.supply(stage.subarray(0, held)));
          held = 0;
          return r;
        };
        const tooLong = () => new EmbeddingError('E_IO', 'the model source gave a layer more bytes than asked for');
        try {
          for (;;) {
            // Into the stage where the stream can (a BYOB reader): the stage's buffer comes back
            // transferred, with the bytes in place.
            const { inPlace, bytes, done } = await stream.readInto(new Uint8Array(stage.buffer, held, STAGE_BYTES - held));
            if (inPlace) {
              if (!bytes) throw new EmbeddingError('E_IO', 'the model source\'s stream kept the buffer it read into');
              stage = new Uint8Array(bytes.buffer);
              held += bytes.length;
              if (!done && held < STAGE_BYTES) continue;
            }
            if (done) {
              if (held) {
                const r = flush();
                if (!r.more) return r;
              }
              throw new EmbeddingError('E_IO', 'the model source ended a layer early (did the file change?)');
            }
            if (inPlace) {
              const r = flush();
              if (r.more) continue;
              return r;
            }
            const part = bytes;
            for (let at = 0; at < part.length;) {
              const take = Math.min(part.length - at, STAGE_BYTES - held);
              stage.set(part.subarray(at, at + take), held);
              held += take;
              at += take;
              if (held < STAGE_BYTES) continue;
              const r = flush();
              if (r.more) continue;
              if (at < part.length) throw tooLong();
              return r;
            }
          }
        } finally {
          stream.cancel();
        }
      };
      let ahead = null;
      try {
        while (result.needs) {
          const key = String(result.needs);
          let current = ahead;
          if (ahead?.key !== key) {
            // (A read ahead of something else may still be filling a buffer: then none is reused.)
            current = start(result.needs, result.layer, !ahead);
            ahead?.stream?.cancel();
          }
          ahead = null;
          if (current.stream) {
            if (result.next) ahead = start(result.next, true, true);
            result = await supplyStream(current.stream);
          } else {
            const bytes = await current.bytes;
            if (result.next) ahead = start(result.next, true, true);
            result = unwrap(engine.supply(bytes));
          }
        }
      } finally {
        // A call that fails with a read ahead in flight lets it land before the buffers serve the next.
        ahead?.stream?.cancel();
        if (ahead?.bytes) await ahead.bytes.catch(() => {});
      }
      return result;
    },
    tokenize: (texts, options) => unwrap(engine.tokenize(texts, options)).ids,
    pagedStats: () => unwrap(engine.pagedStats()),
    delete: () => {
      engine.delete();
      buffers.fill(null);
      pages?.close();
    },
  };
}

/**
 * The lifetime both loads share: `fill(loader)` pushes every byte into a new ModelLoader, which is
 * then finished into the engine. On failure `source` is cancelled; the loader is always freed.
 * @param {import('./sources.mjs').ChunkSource} source
 * @param {(loader: any) => Promise<void>} fill
 * @param {{ memory?: 'resident' | 'paged' | 'streamed', rowCache?: number, pages?: import('./sources.mjs').RandomAccess | null }} [memory]
 * @returns {Promise<Engine>}
 */
async function loadInto(Module, source, nThreads, signal, fill, { memory = 'resident', rowCache, pages = null } = {}) {
  const loader = new Module.ModelLoader({ memory, rowCache });
  try {
    await fill(loader);
    if (signal?.aborted) throw abortError(signal);
    return wrapEngine(unwrap(loader.finish(nThreads)).engine, memory === 'resident' ? null : pages);
  } catch (err) {
    source.cancel();
    throw err;
  } finally {
    loader.delete();
  }
}

/**
 * Streams a converted model file from `chunks` into a new ModelLoader; resolves to the engine.
 * The loader checks the header's and each tensor's CRC-32 as the bytes arrive. `chunks` is
 * cancelled on failure.
 * With `memory: 'paged'` the word-embedding table is checked as it passes but not kept: calls read
 * its rows from `pages` (the same file), which the engine closes when deleted; `'streamed'` keeps
 * the encoder layers out too, and every forward pass reads them from `pages`.
 * @param {import('./sources.mjs').ChunkSource} chunks
 * @param {number} nThreads
 * @param {{
 *   onProgress?: (progress: any) => void, signal?: AbortSignal,
 *   memory?: 'resident' | 'paged' | 'streamed', rowCache?: number, pages?: import('./sources.mjs').RandomAccess | null,
 * }} options
 * @returns {Promise<Engine>}
 */
export function loadModelFile(Module, chunks, nThreads, { onProgress, signal, memory, rowCache, pages }) {
  return loadInto(Module, chunks, nThreads, signal, async (loader) => {
    for (;;) {
      const chunk = await raceAbort(() => chunks.next(), signal);
      if (chunk === null) break;
      if (!(chunk instanceof Uint8Array)) {
        throw new EmbeddingError('E_INVALID_ARGUMENT', `model source yielded ${typeof chunk}, expected Uint8Array chunks`);
      }
      for (let off = 0; off < chunk.byteLength; off += CHUNK_BYTES) {
        if (signal?.aborted) throw abortError(signal);
        const progress = unwrap(loader.push(chunk.subarray(off, off + CHUNK_BYTES)));
        if (onProgress) {
          onProgress(progress.bytesTotal ? progress : { ...progress, bytesTotal: chunks.sizeHint });
        }
      }
    }
  }, { memory, rowCache, pages });
}

/**
 * Converts a checkpoint while its model.safetensors streams in from `weights`, straight into a new
 * ModelLoader; resolves to the engine. The model file is also handed to `onChunk` tensor by tensor
 * (a view valid during the call only), e.g. to write a cache entry. `weights` is cancelled on failure.
 * @param {{ config: string, tokenizer: string, tokenizerConfig: string, dtype: 'int8' | 'f32' }} files
 * @param {import('./sources.mjs').ChunkSource} weights
 * @param {number} nThreads
 * With `memory: 'paged'` or `'streamed'` the loader keeps what loadModelFile would, and calls read
 * `pages` (where the model file is written: the cache entry).
 * @param {{
 *   onProgress?: (progress: any) => void, signal?: AbortSignal, onChunk?: (bytes: Uint8Array) => void,
 *   memory?: 'resident' | 'paged' | 'streamed', rowCache?: number, pages?: import('./sources.mjs').RandomAccess | null,
 * }} options
 * @returns {Promise<Engine>}
 */
export function convertIntoEngine(Module, files, weights, nThreads, { onProgress, signal, onChunk, memory, rowCache, pages }) {
  return loadInto(Module, weights, nThreads, signal, async (loader) => {
    const conv = new Module.StreamConverter();
    try {
      unwrap(conv.init({ ...files, safetensorsSize: weights.sizeHint }));
      for (;;) {
        const chunk = await raceAbort(() => weights.next(), signal).catch((err) => {
          // e.g. the server closed the connection mid-body (fetch's TypeError "terminated")
          throw err instanceof EmbeddingError ? err : new EmbeddingError('E_IO', `cannot read model.safetensors: ${err.message}`, { cause: err });
        });
        if (chunk === null) break;
        if (signal?.aborted) throw abortError(signal);
        const progress = unwrap(conv.push(chunk));
        onProgress?.(progress);
      }
      if (signal?.aborted) throw abortError(signal);
      // onChunk runs inside the synchronous finish(), where a thrown JS exception would unwind through
      // wasm frames: its failure stops the conversion and is raised once finish() returns.
      let chunkError;
      const result = conv.finish(loader, onChunk ? (bytes) => {
        try {
          onChunk(bytes);
          return true;
        } catch (err) {
          chunkError = err;
          return false;
        }
      } : undefined);
      if (chunkError) throw chunkError;
      unwrap(result);
    } finally {
      conv.delete();
    }
  }, { memory, rowCache, pages });
}

/**
 * Runs the core's file converter (checkpoint -> model file) on the shared module instance.
 * `read(offset, length)` returns bytes of model.safetensors (fewer at its end); `write(chunk,
 * offset)` stores a view valid during the call only, sequentially except for the header rewritten
 * at offset 0 at the end. The callbacks run inside the synchronous convert(), where a thrown JS
 * exception would unwind through wasm frames: the first one thrown stops the conversion and is
 * raised once convert() returns.
 * @param {{
 *   config: string, tokenizer: string, tokenizerConfig: string, safetensorsSize: number, dtype: 'int8' | 'f32',
 *   read: (offset: number, length: number) => Uint8Array,
 *   write: (chunk: Uint8Array, offset: number) => void,
 *   onProgress?: (progress: { tensorsDone: number, tensorsTotal: number }) => void,
 * }} options
 * @returns {Promise<{ bytesWritten: number, tensors: number }>}
 */
export async function convertFile({ read, write, onProgress, ...files }) {
  const Module = await loadModule();
  let failure;
  const result = Module.convert({
    ...files,
    read(offset, length) {
      if (failure) return new Uint8Array(0);
      try {
        return read(Number(offset), Number(length));
      } catch (err) {
        failure = err;
        // A short result tells the core the file ended early: it stops.
        return new Uint8Array(0);
      }
    },
    // Returning false stops the conversion.
    write(chunk, offset) {
      if (failure) return false;
      try {
        write(chunk, Number(offset));
        return true;
      } catch (err) {
        failure = err;
        return false;
      }
    },
    onProgress(progress) {
      if (failure || !onProgress) return;
      try {
        onProgress({ tensorsDone: progress.tensorsDone, tensorsTotal: progress.tensorsTotal });
      } catch (err) {
        failure = err;
      }
    },
  });
  if (failure) throw failure;
  const { bytesWritten, tensors } = unwrap(result);
  return { bytesWritten: Number(bytesWritten), tensors };
}
