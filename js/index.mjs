// The package's entry point: JinaEmbeddings (a loaded model with the Jina/OpenAI embeddings
// response shape) and the public API gathered from the modules that implement it.
import { openCache } from './cache.mjs';
import { checkpointSource, loadCheckpoint } from './convert.mjs';
import { openCachedUrl } from './download.mjs';
import { EMBEDDING_TYPES, encodeEmbedding } from './encoding.mjs';
import { loadModelFile, loadModule, moduleVariant, startModule } from './engine.mjs';
import { defaultMemory, defaultThreads, hasNodeBuiltins } from './env.mjs';
import { abortError, disposedError, EmbeddingError, raceAbort } from './errors.mjs';
import { isLocalPath, openRandomAccess, openSource, randomAccessChunks } from './sources.mjs';
import { detectVariant, isThreaded } from './variant.mjs';

export { convertCheckpoint } from './convert.mjs';
export { EMBEDDING_TYPES } from './encoding.mjs';
export { loadModule } from './engine.mjs';
export { EmbeddingError } from './errors.mjs';
export { canUseThreads, detectVariant, hasRelaxedSimd, VARIANTS } from './variant.mjs';

/** The name reported in `model` of every response, as the Jina API does. */
const MODEL_NAME = 'jina-embeddings-v3';

const SPAN_CONVENTIONS = ['exact', 'late-chunking'];

/** Residency modes: how much of the model is held in memory (LoadOptions.memory). */
const MEMORY_MODES = ['resident', 'paged', 'streamed'];

/**
 * Opens a model file for loading in the memory mode asked for (or picked: defaultMemory()), and
 * resolves to what loadModelFile takes. Paged memory reads the file at offsets: a source that can
 * only stream is E_NO_RANGE when paged was asked for, and resident when it was only the default
 * (as are bytes, already in memory). A URL goes through the model cache where there is one
 * (browsers; Node with a cache folder): `cache` says how that went (see download.mjs).
 */
async function openModelFile(source, memory, signal, { cache, cacheKey }) {
  // Bytes already in memory gain nothing from paging unless asked for.
  const inMemory = source instanceof ArrayBuffer || ArrayBuffer.isView(source);
  const wanted = memory ?? (inMemory ? 'resident' : defaultMemory());
  // Node keeps its default cache for conversions: a download is cached only into a folder named.
  const cacheable = (typeof source === 'string' || source instanceof URL) && !isLocalPath(source) &&
    cache !== false && (!hasNodeBuiltins || typeof cache === 'string');
  if (cacheable) {
    const store = await raceAbort(() => openCache(typeof cache === 'string' ? cache : undefined), signal);
    const file = store && (await openCachedUrl(source, store, { memory: wanted, cacheKey, signal }));
    if (file) return file;
  }
  if (wanted !== 'resident') {
    let pages = null;
    try {
      pages = await openRandomAccess(source, signal);
    } catch (err) {
      if (memory || err?.code !== 'E_NO_RANGE') throw err;
    }
    if (pages) return { chunks: randomAccessChunks(pages), memory: wanted, pages, cache: null };
    if (memory) {
      throw new EmbeddingError('E_NO_RANGE', `${memory} memory reads the model file at offsets: pass a file path, a URL whose server answers Range requests, a Blob, bytes, or { size, read(offset, length) }, not a stream`);
    }
  }
  return { chunks: await openSource(source, signal), memory: 'resident', pages: null, cache: null };
}

/** Codes of a load that a damaged cache entry explains: the entry is then dropped and the file downloaded again. */
const ENTRY_FAULTS = ['E_MODEL_FORMAT', 'E_MODEL_VERSION', 'E_MODEL_TRUNCATED', 'E_MODEL_CHECKSUM', 'E_MODEL_TENSOR', 'E_TOKENIZER', 'E_IO'];

/**
 * Loads a model file (through the cache for a URL); resolves to `{ engine, cache }`, `cache` the
 * entry's status or null.
 */
async function loadFile(Module, source, nThreads, { onProgress, signal, memory, rowCache, cache, cacheKey }) {
  for (let attempt = 0; ; attempt++) {
    const file = await openModelFile(source, memory, signal, { cache, cacheKey });
    try {
      const engine = await loadModelFile(Module, file.chunks, nThreads, { onProgress, signal, memory: file.memory, rowCache, pages: file.pages });
      return { engine, cache: file.cache && { ...file.cache } };
    } catch (err) {
      file.pages?.close();
      if (!(file.drop && attempt === 0 && ENTRY_FAULTS.includes(err?.code))) throw err;
      await file.drop();
    }
  }
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
   * @param {import('./index.d.ts').ModelSource} source
   * @param {import('./index.d.ts').LoadOptions} [options]
   * @returns {Promise<JinaEmbeddings>}
   */
  static async load(source, { threads, onProgress, signal, module, variant, wasmModule, dtype, cache, cacheKey, maxTexts, maxTokens, memory, rowCache } = {}) {
    if (signal?.aborted) throw abortError(signal);
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
      throw new EmbeddingError('E_INVALID_ARGUMENT', `threads must be a positive integer, got ${threads}`);
    }
    if (memory !== undefined && !MEMORY_MODES.includes(memory)) {
      throw new EmbeddingError('E_INVALID_ARGUMENT', `memory must be one of ${MEMORY_MODES.join(', ')}, got ${memory}`);
    }
    if (rowCache !== undefined && !(Number.isSafeInteger(rowCache) && rowCache >= 1)) {
      throw new EmbeddingError('E_INVALID_ARGUMENT', `rowCache must be a positive integer, got ${rowCache}`);
    }
    // A build chosen by feature detection falls back to the next one that starts (engine.mjs); one
    // asked for (variant, wasmModule, module) is exactly that build.
    const { Module, fallback } = await raceAbort(async () => {
      if (module) return { Module: module, fallback: [] };
      if (variant || wasmModule) return { Module: await loadModule(undefined, { variant: variant ?? 'wasm-st', wasmModule }), fallback: [] };
      return startModule(detectVariant({ threads }));
    }, signal);
    const running = moduleVariant(Module);
    // The single-thread build has no thread pool: it runs on the calling thread (info.threads = 1).
    const nThreads = !isThreaded(running) ? 1 : threads ?? (await defaultThreads());
    const ckpt = await raceAbort(() => checkpointSource(source), signal);
    const options = { nThreads, onProgress, signal, memory, rowCache, cache, cacheKey };
    const { engine, cache: cached } = ckpt
      ? await loadCheckpoint(Module, ckpt, { ...options, dtype })
      : await loadFile(Module, source, nThreads, options);
    let info;
    try {
      // Which build runs it (see variant.mjs): useful to check that threads really are on.
      info = { ...engine.info(), variant: running, fallback, cache: cached };
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

  /**
   * Paged memory: what reading rows has cost so far (rows, bytes and ranges read, rows cached now);
   * null for a resident model.
   * @returns {import('./index.d.ts').PageStats | null}
   */
  get pageStats() {
    if (this.#disposed) throw disposedError();
    return this.#engine.pagedStats();
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
    return this.#run(async (engine) => {
      const { embeddings, dim, totalTokens } = await engine.embed(texts, options);
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
    return this.#run((engine) => engine.tokenize(texts, { truncate }));
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
