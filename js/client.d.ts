// Types of jina-v3-wasm/worker: the JinaEmbeddings API in a dedicated Web Worker.
import type {
  CheckpointFiles,
  EmbeddingError as IndexEmbeddingError,
  EmbeddingResponse,
  EmbeddingType,
  EmbedOptions,
  LoadOptions,
  ModelInfo,
  TokenizeOptions,
} from './index.d.ts';

// The class of jina-v3-wasm itself. Spelled as a value and a type, because a declaration file can
// be re-exported from only with `export type`, which would leave `instanceof` unusable.
export declare const EmbeddingError: typeof IndexEmbeddingError;
export type EmbeddingError = IndexEmbeddingError;

/** A model living in its own worker; same methods as JinaEmbeddings, all asynchronous. */
export class JinaEmbeddingsWorker {
  private constructor();

  /**
   * Starts a worker (`workerUrl`, default the package's js/worker.mjs) and loads `source` in it.
   * An ArrayBuffer, a Uint8Array's buffer and a stream are transferred: the caller's copy is detached.
   */
  static load(
    source: string | URL | Blob | ArrayBuffer | Uint8Array | Response | ReadableStream<Uint8Array> | CheckpointFiles,
    options?: Omit<LoadOptions, 'module' | 'wasmModule'> & { workerUrl?: string | URL },
  ): Promise<JinaEmbeddingsWorker>;

  /** Metadata of the loaded model. */
  readonly info: ModelInfo;

  /** As JinaEmbeddings.embed; Float32Array rows arrive by transfer (no copy). */
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

  /** Frees the model after pending calls, then stops the worker. */
  dispose(): Promise<void>;
}
