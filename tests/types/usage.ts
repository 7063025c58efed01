// Compiled (never run) by tests/node/types.test.mjs: every public export of '.', './worker' and
// './server' used as an application would, through the package's own name, so that the
// declarations in js/*.d.ts are checked against real use under strict settings.
import {
  canUseThreads,
  convertCheckpoint,
  detectVariant,
  EMBEDDING_TYPES,
  EmbeddingError,
  hasRelaxedSimd,
  JinaEmbeddings,
  loadModule,
  VARIANTS,
  type CacheStatus,
  type CheckpointFiles,
  type EmbeddingResponse,
  type EmbeddingType,
  type ErrorCode,
  type FallbackStep,
  type LoadProgress,
  type ModelInfo,
  type Variant,
} from 'jina-v3-wasm';
import { createEmbeddingServer, parseEmbeddingRequest, type EmbeddingRequest } from 'jina-v3-wasm/server';
import { EmbeddingError as WorkerEmbeddingError, JinaEmbeddingsWorker } from 'jina-v3-wasm/worker';

export async function loadAndEmbed(): Promise<number> {
  const controller = new AbortController();
  const progress: LoadProgress[] = [];
  const model = await JinaEmbeddings.load('jina-v3.int8.jv3', {
    threads: 2,
    signal: controller.signal,
    onProgress: (p) => progress.push(p),
    maxTexts: 100,
    maxTokens: 50_000,
  });
  const info: ModelInfo = model.info;
  const full: number = info.dimensions[info.dimensions.length - 1];
  // Which build runs, and the ones dropped on the way.
  const dropped: FallbackStep[] = info.fallback;
  const why: string[] = dropped.map((step) => `${step.variant}: ${step.reason} (${step.maximumMemoryBytes ?? 'default'})`);
  // How the model cache took part: a hit, stored, or failed with a code (E_CACHE_FULL: no room).
  const cached: CacheStatus | null = info.cache;
  const noRoom: boolean = cached?.status === 'failed' && cached.error?.code === 'E_CACHE_FULL';

  // The default embeddingType is 'float': rows are Float32Array without a cast.
  const res = await model.embed(['Hello', 'world'], { task: 'retrieval.passage', dimensions: 256 });
  const row: Float32Array = res.data[0].embedding;
  const base64: string = (await model.embed('Hello', { embeddingType: 'base64' })).data[0].embedding;
  const bits: Uint8Array = (await model.embed('Hello', { embeddingType: 'ubinary' })).data[0].embedding;
  const signed: Int8Array = (await model.embed('Hello', { embeddingType: 'binary' })).data[0].embedding;
  const chunks = await model.embed(['First part. ', 'Second part.'], { lateChunking: true, spanConvention: 'late-chunking' });
  const mixed = await model.embed(['query', 'passage'], { task: ['retrieval.query', 'retrieval.passage'], truncate: true });

  // A type chosen at run time gives the union of the encodings.
  const type: EmbeddingType = EMBEDDING_TYPES[1];
  const any: EmbeddingResponse = await model.embed('Hello', { embeddingType: type, normalized: false, instruction: false });
  const first = any.data[0].embedding;
  const width = typeof first === 'string' ? first.length : first.byteLength;

  const ids: Int32Array = await model.tokenize('Hello', { task: 'retrieval.query' });
  const idLists: Int32Array[] = await model.tokenize(['a', 'b']);
  const count: number = await model.countTokens('Hello');
  const counts: number[] = await model.countTokens(['a', 'b'], { truncate: true });
  await model.dispose();
  return why.length + (noRoom ? 1 : 0) + full + row.length + base64.length + bits.length + signed.length + chunks.data.length + mixed.usage.total_tokens
    + width + ids.length + idLists.length + count + counts.length + progress.length;
}

export async function checkpointsAndModules(files: CheckpointFiles, wasmModule: WebAssembly.Module): Promise<Variant | 'custom'> {
  const { path, bytesWritten, tensors } = await convertCheckpoint('checkpoint/', 'model.jv3', {
    dtype: 'f32',
    onProgress: ({ tensorsDone, tensorsTotal }) => console.log(tensorsDone / tensorsTotal),
  });
  console.log(path, bytesWritten, tensors);
  const fromFiles = await JinaEmbeddings.load(files, { dtype: 'int8', cache: '/tmp/models', cacheKey: 'v1' });
  const fromPrefix = await JinaEmbeddings.load(new URL('https://example.com/jina-v3/'), { cache: false });
  const fromBytes = await JinaEmbeddings.load(new Uint8Array(8), { wasmModule, variant: 'wasm-st' });
  const custom = await loadModule({ locateFile: (f: string) => `/assets/${f}` }, { variant: detectVariant({ threads: 1 }) });
  const withModule = await JinaEmbeddings.load(await fetch('/model.jv3'), { module: custom });
  const picked: Variant = canUseThreads() && hasRelaxedSimd() ? 'wasm-relaxed' : VARIANTS[0];
  console.log(picked, fromFiles.info.tasks, fromPrefix.info.maxLength, fromBytes.info.threads);
  return withModule.info.variant;
}

/** Maps a failure to a message, narrowing on the code (a misspelt code would not compile). */
export function describe(err: unknown): string {
  if (!(err instanceof EmbeddingError)) return String(err);
  const code: ErrorCode = err.code;
  switch (code) {
    case 'E_ABORTED':
      return 'cancelled';
    case 'E_LIMIT':
    case 'E_TOO_LONG':
      return `too much input: ${err.message}`;
    case 'E_MODEL_CHECKSUM':
    case 'E_MODEL_TRUNCATED':
      return 'download the model again';
    default:
      return `${err.name} ${code}: ${err.message}`;
  }
}

export function makeError(cause: unknown): EmbeddingError {
  return new EmbeddingError('E_IO', 'cannot read the model', { cause });
}

export async function inWorker(signal: AbortSignal): Promise<number[]> {
  const model = await JinaEmbeddingsWorker.load('/models/jina-v3.int8.jv3', {
    signal,
    workerUrl: new URL('./worker.mjs', 'https://example.com/'),
    onProgress: ({ bytesLoaded, bytesTotal }) => console.log(bytesLoaded / bytesTotal),
  });
  try {
    const res = await model.embed(['…'], { task: 'retrieval.passage' });
    const row: Float32Array = res.data[0].embedding;
    const ids: Int32Array[] = await model.tokenize(['a']);
    const n: number = await model.countTokens('a');
    return [row.length, ids.length, n, model.info.hiddenSize];
  } catch (err) {
    // The worker entry re-exports the same class.
    if (err instanceof WorkerEmbeddingError && err.code === 'E_DISPOSED') return [];
    throw err;
  } finally {
    await model.dispose();
  }
}

export function serve(model: JinaEmbeddings): Promise<string> {
  const request: EmbeddingRequest = parseEmbeddingRequest({ input: ['Hello'], embedding_type: 'ubinary', dimensions: 64 });
  console.log(request.texts.length, request.options.embeddingType, request.options.task);
  const server = createEmbeddingServer(model);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : String(address));
    });
  });
}

/** What the declarations must refuse: each line below fails to compile, or the test fails. */
export async function refused(model: JinaEmbeddings, err: EmbeddingError): Promise<void> {
  // @ts-expect-error a misspelt code is no ErrorCode
  if (err.code === 'E_LIMITS') return;
  // @ts-expect-error the CLI's codes never appear on an EmbeddingError
  const usage: ErrorCode = 'E_USAGE';
  // @ts-expect-error a base64 embedding is a string, not a Float32Array
  const row: Float32Array = (await model.embed('x', { embeddingType: 'base64' })).data[0].embedding;
  // @ts-expect-error only an instance from loadModule() is a module
  await JinaEmbeddings.load('model.jv3', { module: {} });
  // @ts-expect-error one text gives one list of ids
  const lists: Int32Array[] = await model.tokenize('x');
  // @ts-expect-error no such build
  await loadModule(undefined, { variant: 'wasm-simd' });
  // @ts-expect-error the constructor is private: use load()
  new JinaEmbeddings();
  // @ts-expect-error a worker cannot be handed a module instance
  await JinaEmbeddingsWorker.load('model.jv3', { module: await loadModule() });
  console.log(usage, row, lists);
}
