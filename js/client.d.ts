// Types of jina-v3-wasm/worker: the JinaEmbeddings API in a dedicated Web Worker.
import type { CheckpointFiles, EmbedOptions, EmbeddingResponse, LoadOptions, ModelInfo, TokenizeOptions } from './index.d.ts';

export { EmbeddingError } from './index.d.ts';

export class JinaEmbeddingsWorker {
  /** Starts a worker (`workerUrl`, default the package's js/worker.mjs) and loads `source` in it. */
  static load(
    source: string | URL | Blob | ArrayBuffer | Uint8Array | Response | ReadableStream<Uint8Array> | CheckpointFiles,
    options?: Omit<LoadOptions, 'module' | 'wasmModule'> & { workerUrl?: string | URL },
  ): Promise<JinaEmbeddingsWorker>;
  readonly info: ModelInfo;
  embed(input: string | string[], options?: EmbedOptions): Promise<EmbeddingResponse>;
  tokenize(input: string | string[], options?: TokenizeOptions): Promise<Int32Array | Int32Array[]>;
  countTokens(input: string | string[], options?: TokenizeOptions): Promise<number | number[]>;
  /** Frees the model after pending calls, then stops the worker. */
  dispose(): Promise<void>;
}
