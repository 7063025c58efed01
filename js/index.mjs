// Thin ESM wrapper over the Embind module (wasm/README.md): streaming model load, typed errors,
// the Jina/OpenAI embeddings response shape, and the Node checkpoint converter.

import { EMBEDDING_TYPES, encodeEmbedding } from './encoding.mjs';
import { checkpointSource, loadCheckpoint } from './checkpoint.mjs';
import { detectVariant, importFactory, VARIANTS } from './variant.mjs';

export { EMBEDDING_TYPES } from './encoding.mjs';
export { canUseThreads, detectVariant, hasRelaxedSimd, VARIANTS } from './variant.mjs';

/** Bytes handed to `ModelLoader.push` at a time: small enough for smooth progress and prompt aborts. */
const CHUNK_BYTES = 1 << 20;

/** An in-memory source yields to the event loop this often (a multiple of CHUNK_BYTES). */
const YIELD_BYTES = 16 * CHUNK_BYTES;

/**
 * Node: bytes read from a model file at a time (then pushed CHUNK_BYTES at a time). The stream reads
 * the next block while the loader works on this one: with 1 MiB reads the loader still waited ~90 ms
 * for the file over the full model (591 MiB), with 4 MiB ~30 ms.
 */
const FILE_READ_BYTES = 4 * CHUNK_BYTES;

/** Upper bound of the default thread count: more threads than this give little on these model sizes. */
const MAX_DEFAULT_THREADS = 4;

/** The name reported in `model` of every response, as the Jina API does. */
const MODEL_NAME = 'jina-embeddings-v3';

const SPAN_CONVENTIONS = ['exact', 'late-chunking'];

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * Every failure of this package. `code` is one of the stable strings of the core (`Module.errorCodes`,
 * e.g. `E_MODEL_TRUNCATED`) or one added by this layer: `E_DISPOSED` (call after `dispose()`) and
 * `E_ABORTED` (load cancelled through its `signal`).
 */
export class EmbeddingError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message human-readable detail
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'EmbeddingError';
    /** @type {string} */
    this.code = code;
  }
}

/** Returns the payload of a module result, or throws its `{ error: { code, message } }` as an EmbeddingError. */
function unwrap(result) {
  if (result && typeof result === 'object' && result.error) {
    throw new EmbeddingError(result.error.code, result.error.message);
  }
  return result;
}

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
 * a precompiled WebAssembly.Module of that build (shared per module).
 * @param {Record<string, unknown>} [moduleOverrides]
 * @param {{ variant?: 'wasm' | 'wasm-relaxed' | 'wasm-st', wasmModule?: WebAssembly.Module }} [options]
 * @returns {Promise<any>}
 */
export function loadModule(moduleOverrides, { variant, wasmModule } = {}) {
  variant ??= wasmModule ? 'wasm-st' : detectVariant();
  if (!VARIANTS.includes(variant)) {
    return Promise.reject(new EmbeddingError('E_INVALID_ARGUMENT', `variant must be one of ${VARIANTS.join(', ')}, got ${variant}`));
  }
  const threaded = variant !== 'wasm-st';
  const make = (overrides) => Promise.all([factoryFor(variant), threaded ? defaultThreads() : 1]).then(([factory, threads]) =>
    // pthreadpool waits for its workers to start, which a browser main thread cannot do while it
    // blocks: so a threaded instance spawns the default thread count's workers up front.
    factory({ jv3Workers: threads - 1, ...(wasmModule ? wasmModuleOverrides(wasmModule) : {}), ...overrides, jv3Variant: variant }));
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

/** Default thread count: the machine's parallelism, capped (browsers: hardwareConcurrency). */
async function defaultThreads() {
  let n = globalThis.navigator?.hardwareConcurrency;
  if (!n && isNode) n = (await import('node:os')).availableParallelism();
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, n || 1));
}

function disposedError() {
  return new EmbeddingError('E_DISPOSED', 'the model has been disposed');
}

function abortError(signal) {
  return new EmbeddingError('E_ABORTED', 'model load aborted', { cause: signal.reason });
}

/**
 * A pull-based view of any supported source: `next()` resolves to the next chunk or null at the end;
 * `cancel()` releases the underlying stream or file early (on abort or error).
 * @typedef {{ next(): Promise<Uint8Array | null>, cancel(): void, sizeHint: number }} ChunkSource
 */

/** @returns {ChunkSource} */
function bytesSource(bytes) {
  let offset = 0;
  return {
    sizeHint: bytes.byteLength,
    async next() {
      if (offset >= bytes.byteLength) return null;
      // Every YIELD_BYTES, let timers and events run (a page's Cancel button, repaints): an
      // in-memory source would otherwise push the whole model without ever leaving microtasks.
      if (offset % YIELD_BYTES === 0 && offset > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      const chunk = bytes.subarray(offset, offset + CHUNK_BYTES);
      offset += chunk.byteLength;
      return chunk;
    },
    cancel() {},
  };
}

/** @returns {ChunkSource} */
function readableStreamSource(stream, sizeHint) {
  const reader = stream.getReader();
  return {
    sizeHint,
    async next() {
      const { done, value } = await reader.read();
      return done ? null : value;
    },
    // cancel() also settles a read() that is still pending, so an abort never waits for the network.
    cancel() {
      reader.cancel().catch(() => {});
    },
  };
}

/** @returns {ChunkSource} */
function asyncIterableSource(iterable, sizeHint) {
  const iterator = iterable[Symbol.asyncIterator]();
  return {
    sizeHint,
    async next() {
      const { done, value } = await iterator.next();
      return done ? null : value;
    },
    cancel() {
      Promise.resolve(iterator.return?.()).catch(() => {});
    },
  };
}

/** Node: a file read through a stream, FILE_READ_BYTES at a time, never the whole file at once. */
async function fileSource(filePath) {
  const fs = await import('node:fs');
  let size;
  try {
    size = (await fs.promises.stat(filePath)).size;
  } catch (err) {
    throw new EmbeddingError('E_IO', `cannot read model file ${filePath}: ${err.message}`, { cause: err });
  }
  const stream = fs.createReadStream(filePath, { highWaterMark: FILE_READ_BYTES });
  const source = asyncIterableSource(stream, size);
  return {
    ...source,
    async next() {
      try {
        return await source.next();
      } catch (err) {
        throw new EmbeddingError('E_IO', `cannot read model file ${filePath}: ${err.message}`, { cause: err });
      }
    },
    cancel: () => stream.destroy(),
  };
}

/** @returns {Promise<ChunkSource>} */
async function toChunkSource(source, signal) {
  if (typeof source === 'string' || source instanceof URL) {
    // Node: a path or file: URL is read from disk; everything else (and every string outside Node,
    // resolved against the page) is fetched.
    const isFile = isNode && (source instanceof URL ? source.protocol === 'file:' : !/^https?:\/\//i.test(source));
    if (isFile) return fileSource(source);
    const url = new URL(source, globalThis.location?.href);
    let response;
    try {
      response = await fetch(url, { signal });
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      throw new EmbeddingError('E_IO', `cannot download ${url}: ${err.message}`, { cause: err });
    }
    return toChunkSource(response, signal);
  }
  if (source instanceof ArrayBuffer) return bytesSource(new Uint8Array(source));
  if (ArrayBuffer.isView(source)) {
    return bytesSource(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
  }
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new EmbeddingError('E_IO', `model download failed: HTTP ${source.status} ${source.statusText} (${source.url || 'response'})`);
    // Content-Length is only a hint: it is the compressed size when the body is content-encoded.
    const sizeHint = Number(source.headers.get('content-length')) || 0;
    return source.body ? readableStreamSource(source.body, sizeHint) : bytesSource(new Uint8Array(0));
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) return readableStreamSource(source.stream(), source.size);
  if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) return readableStreamSource(source, 0);
  if (source && typeof source[Symbol.asyncIterator] === 'function') return asyncIterableSource(source, 0);
  throw new EmbeddingError(
    'E_INVALID_ARGUMENT',
    'model source must be a file path, Uint8Array, ArrayBuffer, Blob, Response, ReadableStream or async iterable of Uint8Array',
  );
}

/**
 * Resolves like `start()`, or rejects with E_ABORTED as soon as `signal` aborts. `start` is not
 * called at all once aborted, so no read is left pending (and later failing unobserved).
 */
function raceAbort(start, signal) {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const promise = start();
  if (!signal) return promise;
  let onAbort;
  const aborted = new Promise((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

function asTexts(input) {
  const texts = typeof input === 'string' ? [input] : input;
  if (!Array.isArray(texts)) {
    throw new EmbeddingError('E_BAD_INPUT_TYPE', `input must be a string or an array of strings, got ${typeof input}`);
  }
  if (texts.length === 0) throw new EmbeddingError('E_EMPTY_INPUT', 'input is an empty list');
  const bad = texts.findIndex((t) => typeof t !== 'string');
  if (bad !== -1) {
    throw new EmbeddingError('E_BAD_INPUT_TYPE', `input[${bad}] is ${texts[bad] === null ? 'null' : typeof texts[bad]}, expected a string`);
  }
  // Lone surrogates become U+FFFD here, as Hugging Face tokenizers sees them; Embind's UTF-8
  // conversion would otherwise pair a lone surrogate with the next code unit and swallow it.
  return texts.map((t) => t.toWellFormed());
}

/**
 * Streams a converted model file from `source` into a new ModelLoader; resolves to the engine.
 * The loader checks the header's and each tensor's CRC-32 as the bytes arrive.
 */
async function loadModelFile(Module, source, nThreads, { onProgress, signal }) {
  const chunks = await raceAbort(() => toChunkSource(source, signal), signal);
  const loader = new Module.ModelLoader();
  try {
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
    if (signal?.aborted) throw abortError(signal);
    const { engine } = unwrap(loader.finish(nThreads));
    return engine;
  } catch (err) {
    chunks.cancel();
    throw err;
  } finally {
    loader.delete();
  }
}

/** Lets the constructor be called only from `JinaEmbeddings.load`. */
const CONSTRUCT = Symbol('construct');

/**
 * A loaded model. Calls on one instance run one after another (a promise chain), so they never
 * interleave inside the engine; separate instances are independent.
 */
export class JinaEmbeddings {
  #engine;
  #info;
  #queue = Promise.resolve();
  #disposed = false;
  /** Per-call maxima from load() (E_LIMIT beyond them; undefined = the engine's defaults). */
  #limits = {};

  /** @private */
  constructor(token, engine, info) {
    if (token !== CONSTRUCT) throw new TypeError('use JinaEmbeddings.load()');
    this.#engine = engine;
    this.#info = info;
  }

  /**
   * Loads a converted model file, streaming it chunk by chunk into the engine (no whole-file buffer).
   * @param {string | URL | Uint8Array | ArrayBuffer | Blob | Response | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>} source
   * @param {import('./index.d.ts').LoadOptions} [options]
   * @returns {Promise<JinaEmbeddings>}
   */
  static async load(source, { threads, onProgress, signal, module, variant, wasmModule, dtype, cache, cacheKey, maxTexts, maxTokens } = {}) {
    if (signal?.aborted) throw abortError(signal);
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
      throw new EmbeddingError('E_INVALID_ARGUMENT', `threads must be a positive integer, got ${threads}`);
    }
    const Module = await raceAbort(
      async () => module ?? loadModule(undefined, { variant: variant ?? (wasmModule ? 'wasm-st' : detectVariant({ threads })), wasmModule }),
      signal,
    );
    // The single-thread build has no thread pool: it runs on the calling thread (info.threads = 1).
    const nThreads = Module.jv3Variant === 'wasm-st' ? 1 : threads ?? (await defaultThreads());
    const ckpt = await raceAbort(() => checkpointSource(source), signal);
    const engine = ckpt
      ? await loadCheckpoint(Module, ckpt, { nThreads, onProgress, signal, dtype, cache, cacheKey },
        { toChunkSource, raceAbort, unwrap, abortError, loadModelFile })
      : await loadModelFile(Module, source, nThreads, { onProgress, signal });
    let info;
    try {
      // Which build runs it (see variant.mjs): useful to check that threads really are on.
      info = { ...unwrap(engine.info()), variant: Module.jv3Variant ?? 'custom' };
    } catch (err) {
      engine.delete();
      throw err;
    }
    const model = new JinaEmbeddings(CONSTRUCT, engine, info);
    model.#limits = { maxTexts, maxTokens };
    return model;
  }

  /**
   * The model's metadata: config, tasks, instructions, Matryoshka dimensions, max length, dtype, threads.
   * @returns {import('./index.d.ts').ModelInfo}
   */
  get info() {
    if (this.#disposed) throw disposedError();
    return this.#info;
  }

  /** Runs `fn(engine)` after every earlier call on this instance has settled. */
  #run(fn) {
    if (this.#disposed) return Promise.reject(disposedError());
    const result = this.#queue.then(() => fn(this.#engine));
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Embeds one text or a batch. `task` is a task name, null (no adapter), or one entry per text.
   * With `lateChunking` the texts are consecutive chunks of one document: one forward pass, one
   * embedding per chunk.
   * @param {string | string[]} input
   * @param {import('./index.d.ts').EmbedOptions} [options]
   * @returns {Promise<import('./index.d.ts').EmbeddingResponse>}
   */
  embed(input, {
    task = null,
    dimensions,
    normalized = true,
    instruction = true,
    truncate = false,
    lateChunking = false,
    spanConvention = 'exact',
    embeddingType = 'float',
    maxTexts = this.#limits.maxTexts,
    maxTokens = this.#limits.maxTokens,
  } = {}) {
    if (this.#disposed) return Promise.reject(disposedError());
    let texts;
    const options = { normalized, instruction, truncate, lateChunking, spanConvention, dimensions: dimensions ?? 0, maxTexts, maxTokens };
    try {
      texts = asTexts(input);
      if (Array.isArray(task)) {
        if (task.length !== texts.length) {
          throw new EmbeddingError('E_INVALID_ARGUMENT', `task has ${task.length} entries for ${texts.length} texts`);
        }
        if (lateChunking) {
          throw new EmbeddingError('E_INVALID_ARGUMENT', 'late chunking embeds one document: pass a single task');
        }
        options.task = null;
        options.tasks = task;
      } else {
        options.task = task;
      }
      if (!Number.isInteger(options.dimensions) || options.dimensions < 0) {
        throw new EmbeddingError('E_BAD_DIMENSIONS', `dimensions must be a positive integer, got ${dimensions}`);
      }
      if (!EMBEDDING_TYPES.includes(embeddingType)) {
        throw new EmbeddingError('E_INVALID_ARGUMENT', `embeddingType must be one of ${EMBEDDING_TYPES.join(', ')}, got ${embeddingType}`);
      }
      if (!SPAN_CONVENTIONS.includes(spanConvention)) {
        throw new EmbeddingError('E_INVALID_ARGUMENT', `spanConvention must be one of ${SPAN_CONVENTIONS.join(', ')}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run((engine) => {
      const { embeddings, dim, totalTokens } = unwrap(engine.embed(texts, options));
      const data = [];
      for (let i = 0; i < embeddings.length / dim; i++) {
        // Views into the one fresh result array: no per-row copy for 'float'.
        const row = embeddings.subarray(i * dim, (i + 1) * dim);
        data.push({ object: 'embedding', index: i, embedding: encodeEmbedding(row, embeddingType) });
      }
      return { model: MODEL_NAME, object: 'list', usage: { total_tokens: totalTokens, prompt_tokens: totalTokens }, data };
    });
  }

  /** Tokenizes `texts`, prepending the task's instruction when asked (as embed() does). */
  #tokenize(input, { task = null, instruction = true, truncate = false }) {
    if (this.#disposed) return Promise.reject(disposedError());
    let texts;
    try {
      texts = asTexts(input);
      if (task !== null) {
        if (!this.#info.tasks.includes(task)) throw new EmbeddingError('E_UNKNOWN_TASK', `unknown task "${task}"`);
        // model_input = instruction + text, exactly as the engine builds it for embed().
        const prefix = this.#info.instructions?.[task] ?? '';
        if (instruction && prefix) texts = texts.map((t) => prefix + t);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#run((engine) => unwrap(engine.tokenize(texts, { truncate })).ids);
  }

  /**
   * Token ids (with `<s>` … `</s>`) of one text, or of each text of a list: exactly what embed()
   * feeds the model. With `task`, its instruction is prepended (unless `instruction` is false);
   * an over-long text fails with E_TOO_LONG unless `truncate` is set.
   * @param {string | string[]} input
   * @param {import('./index.d.ts').TokenizeOptions} [options]
   * @returns {Promise<Int32Array | Int32Array[]>}
   */
  async tokenize(input, options = {}) {
    const ids = await this.#tokenize(input, options);
    return typeof input === 'string' ? ids[0] : ids;
  }

  /**
   * Number of tokens (with `<s>`/`</s>`) of one text, or of each text of a list; options as tokenize().
   * @param {string | string[]} input
   * @param {import('./index.d.ts').TokenizeOptions} [options]
   * @returns {Promise<number | number[]>}
   */
  async countTokens(input, options = {}) {
    const ids = await this.#tokenize(input, options);
    return typeof input === 'string' ? ids[0].length : ids.map((x) => x.length);
  }

  /** Frees the engine once pending calls have finished; every later call fails with E_DISPOSED. */
  async dispose() {
    if (this.#disposed) return;
    const last = this.#queue;
    this.#disposed = true;
    await last;
    this.#engine.delete();
    this.#engine = null;
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
  if (!isNode) throw new EmbeddingError('E_INVALID_ARGUMENT', 'convertCheckpoint runs in Node only');
  if (dtype !== 'int8' && dtype !== 'f32') {
    throw new EmbeddingError('E_INVALID_ARGUMENT', `dtype must be "int8" or "f32", got ${dtype}`);
  }
  const fs = await import('node:fs');
  const path = await import('node:path');

  const readText = (name, required) => {
    const file = path.join(dir, name);
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT' && !required) return '';
      const why = err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.message})`;
      throw new EmbeddingError('E_BAD_CHECKPOINT', `${file} ${why}`, { cause: err });
    }
  };
  const config = readText('config.json', true);
  const tokenizer = readText('tokenizer.json', true);
  // Optional: it only supplies model_max_length, which the core then takes from config.json.
  const tokenizerConfig = readText('tokenizer_config.json', false);

  const weightsPath = path.join(dir, 'model.safetensors');
  let inFd;
  try {
    inFd = fs.openSync(weightsPath, 'r');
  } catch (err) {
    const why = err.code === 'ENOENT' ? 'is missing' : `cannot be read (${err.message})`;
    throw new EmbeddingError('E_BAD_CHECKPOINT', `${weightsPath} ${why}`, { cause: err });
  }

  const Module = await loadModule();
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
  // Callbacks run inside the synchronous convert() call, where a thrown JS exception would unwind
  // through wasm frames; so they record the first failure, and it is raised once convert() returns.
  let failure;
  try {
    outFd = io(`creating ${tmpPath}`, () => fs.openSync(tmpPath, 'w'));
    const result = Module.convert({
      config,
      tokenizer,
      tokenizerConfig,
      safetensorsSize: fs.fstatSync(inFd).size,
      dtype,
      read(offset, length) {
        const buf = new Uint8Array(Number(length));
        let done = 0;
        try {
          while (done < buf.length) {
            const n = fs.readSync(inFd, buf, done, buf.length - done, Number(offset) + done);
            if (n === 0) break;
            done += n;
          }
        } catch (err) {
          failure ??= new EmbeddingError('E_IO', `reading ${weightsPath}: ${err.message}`, { cause: err });
        }
        // A short result tells the core the file ended early.
        return buf.subarray(0, done);
      },
      // `chunk` is a view into the wasm heap, valid during this call only. The offset is sequential
      // except at the end, when the core rewrites the header with the checksums.
      // Returning false stops the conversion.
      write(chunk, offset) {
        if (failure) return false;
        try {
          for (let done = 0; done < chunk.length;) {
            done += fs.writeSync(outFd, chunk, done, chunk.length - done, Number(offset) + done);
          }
          return true;
        } catch (err) {
          failure = new EmbeddingError('E_IO', `writing ${tmpPath}: ${err.message}`, { cause: err });
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
    io(`writing ${tmpPath}`, () => {
      fs.fsyncSync(outFd);
      fs.closeSync(outFd);
    });
    outFd = undefined;
    io(`renaming ${tmpPath} to ${finalPath}`, () => fs.renameSync(tmpPath, finalPath));
    return { path: finalPath, bytesWritten: Number(bytesWritten), tensors };
  } catch (err) {
    if (outFd !== undefined) fs.closeSync(outFd);
    fs.rmSync(tmpPath, { force: true });
    throw err;
  } finally {
    fs.closeSync(inFd);
  }
}
