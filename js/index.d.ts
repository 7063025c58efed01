// Types of the jina-v3-wasm JavaScript API (js/index.mjs).

/**
 * The code of an {@link EmbeddingError}: those of the core (also listed at run time by the wasm
 * module's `errorCodes`), then the ones this layer adds, `E_DISPOSED`, `E_ABORTED`, `E_NO_RANGE` and `E_CACHE_FULL`, in the
 * order of src/base/error_codes.def. The command line's `E_USAGE` (bad command line) and
 * `E_INTERNAL` (an unexpected failure, also the HTTP server's 500) are not members: they appear
 * only in the CLI's and the server's JSON, never on an EmbeddingError.
 */
export type ErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_UNKNOWN_TASK'
  | 'E_BAD_DIMENSIONS'
  | 'E_EMPTY_INPUT'
  | 'E_BAD_INPUT_TYPE'
  | 'E_TOO_LONG'
  | 'E_BAD_CHECKPOINT'
  | 'E_MODEL_FORMAT'
  | 'E_MODEL_VERSION'
  | 'E_MODEL_TRUNCATED'
  | 'E_MODEL_CHECKSUM'
  | 'E_MODEL_TENSOR'
  | 'E_TOKENIZER'
  | 'E_OUT_OF_MEMORY'
  | 'E_BACKEND'
  | 'E_STATE'
  | 'E_IO'
  | 'E_LIMIT'
  | 'E_DISPOSED'
  | 'E_ABORTED'
  | 'E_NO_RANGE'
  | 'E_CACHE_FULL';

/** Every failure of this package; `code` is stable, `message` is for people. */
export class EmbeddingError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  readonly name: 'EmbeddingError';
  /** Stable and machine-readable: compare it, never the message. */
  readonly code: ErrorCode;
}

/** The task adapters of jina-embeddings-v3 (the model's `info.tasks` is authoritative). */
export type Task = 'retrieval.query' | 'retrieval.passage' | 'separation' | 'classification' | 'text-matching';

/** Progress of a streaming load, reported after each pushed chunk. */
export interface LoadProgress {
  /** Bytes consumed so far. */
  bytesLoaded: number;
  /** Size of the model file, from its header; before the header is parsed, the source's size if known, else 0. */
  bytesTotal: number;
  /** Tensors received, checked and packed so far. */
  tensorsReady: number;
  /** Tensors in the file (0 until the header is parsed). */
  tensorsTotal: number;
  /** The loader's current stage, as reported by the core. */
  phase: string;
}

/**
 * Where a model (a model file, or the checkpoint's files) comes from. A string or `URL` is, in
 * Node, a local path or `file:` URL unless it is http(s); elsewhere a URL resolved against the page.
 */
export type ModelSource =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | Response
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | RandomAccessReader
  | CheckpointFiles;

/**
 * A model file read at any offset, for paged and streamed memory: e.g. over a Cloudflare R2
 * binding, `{ size: head.size, read: async (offset, length) => new Uint8Array(await (await
 * bucket.get(key, { range: { offset, length } })).arrayBuffer()), stream: async (offset, length)
 * => (await bucket.get(key, { range: { offset, length } })).body }`.
 */
export interface RandomAccessReader {
  /** The file's size in bytes. */
  size: number;
  /** Exactly `length` bytes from `offset` (fewer, or a throw, is `E_IO`). */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: the same bytes as a stream, e.g. an R2 object's `body`. Streamed memory then hands
   * each layer (~14 MB) to the engine as it arrives instead of holding it whole in JS memory
   * (what keeps a Worker's isolate small). A stream that ends early, or errors, is `E_IO`.
   */
  stream?(offset: number, length: number): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
  /** Ranges closer than this many bytes are read as one. Default 65536. */
  mergeGap?: number;
  /** Called once the model is disposed. */
  close?(): void;
}

/**
 * How much of the model is held in memory. `'resident'`: all of it. `'paged'`: all but the
 * word-embedding table (about half of the int8 model), whose rows each call reads from the source
 * (a file path, a URL whose server answers Range requests, a Blob/File, bytes or a
 * {@link RandomAccessReader}) into a bounded cache, checked against per-row checksums.
 * `'streamed'`: paged, and the encoder layers too: every forward pass reads them from the source
 * one at a time (checked against the header's checksums), the next read while one runs.
 */
export type MemoryMode = 'resident' | 'paged' | 'streamed';

/** Paged memory: what reading rows has cost so far. */
export interface PageStats {
  rowsRead: number;
  bytesRead: number;
  /** Ranges the engine asked for (nearby ones may have been read together). */
  rangesRead: number;
  /** Rows in the cache now. */
  rowsCached: number;
}

/**
 * The official checkpoint's files, converted while `weights` (model.safetensors) streams in.
 * Each is a URL, a Node path, a Response, a Blob/File, bytes or a stream. A URL prefix ending in
 * `/` (or, in Node, a folder path) given as the source means these four files under it.
 */
export interface CheckpointFiles {
  config: ModelSource;
  tokenizer: ModelSource;
  /** Optional: only supplies model_max_length. */
  tokenizerConfig?: ModelSource;
  weights: ModelSource;
}

/**
 * The shipped wasm builds: pthreads + SIMD128, pthreads + relaxed SIMD, single-thread SIMD128,
 * single-thread relaxed SIMD.
 */
export type Variant = 'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed';

/** What each `embeddingType` makes of a vector (as the Jina API packs them). */
export interface EmbeddingValues {
  /** The vector itself. */
  float: Float32Array;
  /** Base64 of the little-endian float32 bytes (OpenAI's `encoding_format: 'base64'`). */
  base64: string;
  /** The `ubinary` bytes minus 128, as signed bytes (the Jina API's int8 packing). */
  binary: Int8Array;
  /** Sign bits, 8 dimensions per byte, first dimension in the high bit. */
  ubinary: Uint8Array;
}

/** How embed() returns each vector. */
export type EmbeddingType = keyof EmbeddingValues;

/**
 * A wasm module instance from {@link loadModule}: opaque, only to be passed as `LoadOptions.module`.
 */
export interface ModuleInstance {
  readonly [moduleInstance]: true;
}
declare const moduleInstance: unique symbol;

export interface LoadOptions {
  /** Worker threads for the forward pass. Default: the machine's parallelism, at most 4. */
  threads?: number;
  /** Called after every chunk handed to the engine. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborting rejects the load with code `E_ABORTED` and frees everything loaded so far. */
  signal?: AbortSignal;
  /** A module instance from `loadModule(overrides)`; default: the shared one. */
  module?: ModuleInstance;
  /**
   * Which wasm build to run. Default: feature detection (`detectVariant`): a pthreads build
   * where threads can run (Node; browsers only when cross-origin isolated, i.e. COOP/COEP), else
   * a single-thread one (Deno, Workers, other pages); relaxed SIMD where the engine validates it
   * and computes its int8 dot right (Node >= 22, Chromium, Firefox, Deno), else SIMD128 (Node 20,
   * Safari).
   */
  variant?: Variant;
  /**
   * A precompiled module of a single-thread build, for runtimes that forbid compiling wasm at
   * run time (Cloudflare Workers:
   * `import wasm from 'jina-v3-wasm/dist/jina-v3-wasm-st-relaxed.wasm'`, or `jina-v3-wasm-st.wasm`
   * for engines without relaxed SIMD). `info.variant` says which one it is.
   */
  wasmModule?: WebAssembly.Module;
  /** Checkpoint sources: the converted dtype. Default `'int8'`. */
  dtype?: 'int8' | 'f32';
  /**
   * The model cache: checkpoints are cached converted; model files by URL are cached as
   * downloaded in browsers (in Node only when this names a folder), and paged and streamed memory
   * then read the cached file. Node: a folder, default `$JV3_MODEL_CACHE` or
   * `~/.cache/jina-v3-wasm/models`, or the folder given here; browsers: the Origin Private File
   * System, else the Cache API. Entries are keyed by the source's identity (URL + ETag/Last-Modified,
   * path + size + mtime, File name + size + lastModified) and verified by their checksums while
   * loading; once one is complete, older versions of the same source are deleted. `false` opts out.
   * Default `true`. How it went: {@link ModelInfo.cache}.
   */
  cache?: boolean | string;
  /**
   * An identity for sources that have none (checkpoint streams or bytes; a URL without ETag or
   * Last-Modified), to cache them too. It replaces the source's version: a load that finds its
   * entry asks the server nothing (it works offline), and a new file needs a new key.
   */
  cacheKey?: string;
  /** Default for every embed() call's `maxTexts`. */
  maxTexts?: number;
  /** Default for every embed() call's `maxTokens`. */
  maxTokens?: number;
  /**
   * See {@link MemoryMode}. Default, when the source can be read at an offset and is
   * not bytes: `'streamed'` in Cloudflare Workers, `'paged'` on devices reporting ≤ 4 GiB
   * (`navigator.deviceMemory`), else `'resident'`. `'paged'` or `'streamed'` with a source that can
   * only stream is `E_NO_RANGE`. A cached model file (a URL in browsers, a checkpoint) is read
   * from its cache entry, so a server that ignores Range does too; a checkpoint without a cache
   * is `E_INVALID_ARGUMENT`, and an entry that does not fit in the cache `E_CACHE_FULL`.
   */
  memory?: MemoryMode;
  /** Paged memory: rows kept between calls (a call that needs more keeps its own). Default 16384 (about 18 MB for the real model). */
  rowCache?: number;
}

export interface EmbedOptions<T extends EmbeddingType = EmbeddingType> {
  /**
   * Task adapter: a task name, `null` for no adapter (the plain weights), or one entry per text
   * (a mixed-task batch, each row with its own adapter and instruction). Default `null`.
   */
  task?: Task | string | null | Array<Task | string | null>;
  /** Matryoshka size to truncate to before normalisation (one of `info.dimensions`). Default: full size. */
  dimensions?: number;
  /** L2-normalise the embeddings. Default `true`. */
  normalized?: boolean;
  /** Prepend the task's instruction (retrieval tasks), as upstream `encode(task=…)`. Default `true`. */
  instruction?: boolean;
  /** Cut texts longer than the model window instead of failing with `E_TOO_LONG`. Default `false`. */
  truncate?: boolean;
  /**
   * The texts are consecutive chunks of one document (joined with no separator): one forward
   * pass over the whole document, one embedding per chunk. Default `false`.
   */
  lateChunking?: boolean;
  /**
   * Late chunking only. `'exact'`: each chunk pools exactly its own tokens. `'late-chunking'`:
   * the convention of jina-ai/late-chunking, where the first chunk also pools `<s>` and the
   * instruction, the last one `</s>`. Default `'exact'`.
   */
  spanConvention?: 'exact' | 'late-chunking';
  /**
   * `'float'` (default): Float32Array rows. `'base64'`: base64 of the little-endian float32 bytes.
   * `'ubinary'`: Uint8Array of sign bits (8 dimensions per byte, first dimension in the high bit);
   * `'binary'`: the same bytes minus 128 as Int8Array.
   */
  embeddingType?: T;
  /** Most texts in one call; more fail with `E_LIMIT`. Default: the load option, else 10000. */
  maxTexts?: number;
  /** Most tokens (with `<s>`/`</s>` and instructions) summed over one call; more fail with `E_LIMIT`. Default: the load option, else 1048576. */
  maxTokens?: number;
}

export interface EmbeddingItem<T extends EmbeddingType = EmbeddingType> {
  object: 'embedding';
  /** Position of the text in the input. */
  index: number;
  /** `'float'`: a view into one Float32Array that holds every row of the response; else per `embeddingType`. */
  embedding: EmbeddingValues[T];
}

/** The response shape of the Jina (and OpenAI) embeddings API; `T` is the `embeddingType` asked for. */
export interface EmbeddingResponse<T extends EmbeddingType = EmbeddingType> {
  model: string;
  object: 'list';
  usage: { total_tokens: number; prompt_tokens: number };
  data: EmbeddingItem<T>[];
}

export interface TokenizeOptions {
  /** Tokenize what embed() would feed the model for this task (its instruction + the text). Default `null`: the text alone. */
  task?: Task | string | null;
  /** With `task`, whether its instruction is prepended. Default `true`. */
  instruction?: boolean;
  /** Cut an over-long text to the model window (as embed() would) instead of failing with `E_TOO_LONG`. Default `false`. */
  truncate?: boolean;
}

/** What the loaded model file describes. */
export interface ModelInfo {
  /** The model configuration stored in the file (sizes, rotary base, LoRA settings, …). */
  config: Record<string, unknown>;
  /** Task adapter names, in adapter order. */
  tasks: string[];
  /** Instruction prepended for each task (empty for tasks without one). */
  instructions: Record<string, string>;
  /** Allowed Matryoshka sizes, ascending; the last one is the full size. */
  dimensions: number[];
  /** Width of a full embedding. */
  hiddenSize: number;
  /** Maximum tokens per text, including `<s>` and `</s>`. */
  maxLength: number;
  /** Weight storage of the file. */
  modelType: 'int8' | 'f32';
  /** Threads the engine runs with. */
  threads: number;
  /** How much of the model is held in memory (`LoadOptions.memory`, or what the load picked). */
  memory: MemoryMode;
  /** The wasm build running it (see `LoadOptions.variant`); `'custom'` for a module passed in. */
  variant: Variant | 'custom';
  /**
   * The builds tried before `variant` and why each was dropped (it failed to compile or
   * instantiate, its memory could not be created, or its workers did not start), in order; empty
   * when the first choice of feature detection runs, or when a build was asked for explicitly.
   */
  fallback: FallbackStep[];
  /** The model cache's part in this load; `null` when it had none (`cache: false`, no identity, no cache here, bytes or a stream). */
  cache: CacheStatus | null;
}

/**
 * How a load used the model cache (see `LoadOptions.cache`): `'hit'`, read from an entry;
 * `'stored'`, downloaded or converted and stored; `'failed'`, downloaded or converted but not
 * stored, `error` says why (`E_CACHE_FULL`: no room; `E_IO`: another failure), and the next load
 * downloads again.
 */
export interface CacheStatus {
  /** Node's folder, the Origin Private File System, or the Cache API. */
  store: 'folder' | 'opfs' | 'cache-api';
  status: 'hit' | 'stored' | 'failed';
  error?: { code: ErrorCode; message: string };
}

/**
 * What a loaded model can do: the methods of {@link JinaEmbeddings} and of the worker client
 * (`jina-v3-wasm/worker`), all asynchronous.
 */
export interface EmbeddingModel {
  /** Metadata of the loaded model. Throws `E_DISPOSED` after {@link dispose}. */
  readonly info: ModelInfo;

  /**
   * Embeds one text or a list of texts; always answers with a list (one item per text, or per
   * chunk), each embedding of the `embeddingType` asked for (default `'float'`).
   */
  embed<T extends EmbeddingType = 'float'>(input: string | string[], options?: EmbedOptions<T>): Promise<EmbeddingResponse<T>>;

  /** Token ids, with `<s>` … `</s>`, of one text. */
  tokenize(input: string, options?: TokenizeOptions): Promise<Int32Array>;
  /** Token ids, with `<s>` … `</s>`, of each text. */
  tokenize(input: string[], options?: TokenizeOptions): Promise<Int32Array[]>;
  tokenize(input: string | string[], options?: TokenizeOptions): Promise<Int32Array | Int32Array[]>;

  /** Token count, with `<s>` and `</s>`, of one text. */
  countTokens(input: string, options?: TokenizeOptions): Promise<number>;
  /** Token count, with `<s>` and `</s>`, of each text. */
  countTokens(input: string[], options?: TokenizeOptions): Promise<number[]>;
  countTokens(input: string | string[], options?: TokenizeOptions): Promise<number | number[]>;

  /** Frees the model after pending calls finish; every later call fails with `E_DISPOSED`. */
  dispose(): Promise<void>;
}

/** One build that could not start (see `ModelInfo.fallback`). */
export interface FallbackStep {
  variant: Variant;
  /** Set when the build was retried with this shared-memory maximum (the default is 4 GiB). */
  maximumMemoryBytes?: number;
  /** The error it failed with. */
  reason: string;
}

/** A loaded model. Calls on one instance are serialized; separate instances are independent. */
export interface JinaEmbeddings extends EmbeddingModel {}
export class JinaEmbeddings {
  private constructor();

  /** Loads a converted model file, streaming it into the engine chunk by chunk. */
  static load(source: ModelSource, options?: LoadOptions): Promise<JinaEmbeddings>;

  /** Paged memory: what reading rows has cost so far; `null` for a resident model. Throws `E_DISPOSED` after dispose. */
  readonly pageStats: PageStats | null;
}

export interface ConvertOptions {
  /** `'int8'` (default): quantized linear layers and word embeddings. `'f32'`: unquantized, for exact parity. */
  dtype?: 'int8' | 'f32';
  /** Called as tensors are converted. */
  onProgress?: (progress: { tensorsDone: number; tensorsTotal: number }) => void;
}

export interface ConvertResult {
  /** Absolute path of the written model file. */
  path: string;
  bytesWritten: number;
  tensors: number;
}

/**
 * Node only. Converts a checkpoint folder as published on Hugging Face (`config.json`,
 * `tokenizer.json`, `tokenizer_config.json`, `model.safetensors` in BF16, F16 or F32) into one
 * model file. Missing files fail with `E_BAD_CHECKPOINT`; nothing is left at `outPath` on failure.
 */
export function convertCheckpoint(dir: string, outPath: string, options?: ConvertOptions): Promise<ConvertResult>;

/**
 * Instantiates the wasm module: without overrides, the one instance shared by the process;
 * with Emscripten `moduleOverrides` (e.g. `locateFile`), a new one, to pass as `LoadOptions.module`.
 */
export function loadModule(
  moduleOverrides?: Record<string, unknown>,
  options?: { variant?: Variant; wasmModule?: WebAssembly.Module },
): Promise<ModuleInstance>;

/** The build feature detection picks here (see `LoadOptions.variant`). */
export function detectVariant(options?: { threads?: number }): Variant;
/** Whether pthreads can run here (SharedArrayBuffer and cross-origin isolation in browsers). */
export function canUseThreads(): boolean;
/** Whether this engine validates relaxed-SIMD opcodes. */
export function hasRelaxedSimd(): boolean;
export const VARIANTS: Variant[];
export const EMBEDDING_TYPES: EmbeddingType[];
