// Types of jina-v3-wasm/worker: the JinaEmbeddings API in a dedicated Web Worker.
import type { CheckpointFiles, EmbeddingError as IndexEmbeddingError, EmbeddingModel, LoadOptions } from './index.d.ts';

// The class of jina-v3-wasm itself. Spelled as a value and a type, because a declaration file can
// be re-exported from only with `export type`, which would leave `instanceof` unusable.
export declare const EmbeddingError: typeof IndexEmbeddingError;
export type EmbeddingError = IndexEmbeddingError;

/**
 * A model living in its own worker; the methods of JinaEmbeddings ({@link EmbeddingModel}), with
 * Float32Array rows arriving by transfer (no copy). `dispose()` also stops the worker.
 */
export interface JinaEmbeddingsWorker extends EmbeddingModel {}
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
}
