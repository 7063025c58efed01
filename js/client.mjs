// JinaEmbeddingsWorker: the JinaEmbeddings API, run in a dedicated Web Worker (browsers, Deno)
// so embedding never blocks the page. Calls on one instance queue inside the worker.
import { abortError, disposedError, EmbeddingError } from './errors.mjs';

export { EmbeddingError };

/** A model living in its own worker; same methods as JinaEmbeddings, all asynchronous. */
export class JinaEmbeddingsWorker {
  #worker;
  #nextId = 1;
  #pending = new Map();
  #disposed = false;
  /** @type {import('./index.d.ts').ModelInfo} */
  info;

  /** @private Use JinaEmbeddingsWorker.load(). */
  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      if (data.progress) {
        pending.onProgress?.(data.progress);
        return;
      }
      this.#pending.delete(data.id);
      if (data.error) pending.reject(new EmbeddingError(data.error.code, data.error.message));
      else pending.resolve(data.result);
    };
    worker.onerror = (event) => {
      const err = new EmbeddingError('E_STATE', `the embedding worker failed: ${event.message ?? 'unknown error'}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
  }

  #call(op, payload, { onProgress, transfer = [] } = {}) {
    if (this.#disposed) return Promise.reject(disposedError());
    const id = this.#nextId++;
    const promise = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, onProgress }));
    this.#worker.postMessage({ id, op, ...payload }, transfer);
    return Object.assign(promise, { id });
  }

  /**
   * Starts a worker and loads `source` in it. `source` is a URL (string or URL object, resolved
   * against the page; a prefix ending in `/` is a checkpoint), a Response or ReadableStream (its
   * stream is transferred), a Blob/File, an ArrayBuffer or a Uint8Array (transferred: the caller's
   * copy is detached), or checkpoint files. Options as JinaEmbeddings.load.
   * @param {string | URL | Blob | ArrayBuffer | Uint8Array | ReadableStream<Uint8Array>} source
   * @param {import('./index.d.ts').LoadOptions & { workerUrl?: string | URL }} [options]
   * @returns {Promise<JinaEmbeddingsWorker>}
   */
  static async load(source, { onProgress, signal, workerUrl, module, ...options } = {}) {
    if (module) throw new EmbeddingError('E_INVALID_ARGUMENT', 'module cannot be passed to a worker');
    if (signal?.aborted) throw abortError(signal);
    const worker = new Worker(workerUrl ?? new URL('./worker.mjs', import.meta.url), { type: 'module' });
    const client = new JinaEmbeddingsWorker(worker);
    const transfer = [];
    if (typeof source === 'string' || source instanceof URL) source = new URL(source, globalThis.location?.href).href;
    else if (source instanceof ArrayBuffer) transfer.push(source);
    else if (ArrayBuffer.isView(source)) transfer.push(source.buffer);
    else if (typeof Response !== 'undefined' && source instanceof Response) {
      // A Response cannot cross to a worker; its body stream can (transferred, not copied).
      if (!source.ok) throw new EmbeddingError('E_IO', `model download failed: HTTP ${source.status} ${source.statusText}`);
      source = source.body;
      transfer.push(source);
    } else if (typeof ReadableStream !== 'undefined' && source instanceof ReadableStream) transfer.push(source);
    const pending = client.#call('load', { source, options: { ...options, wantProgress: !!onProgress } }, { onProgress, transfer });
    const onAbort = () => worker.postMessage({ op: 'abort', target: pending.id });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      client.info = (await pending).info;
      return client;
    } catch (err) {
      worker.terminate();
      client.#disposed = true;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** As JinaEmbeddings.embed; Float32Array rows arrive by transfer (no copy). */
  embed(input, options = {}) {
    return this.#call('embed', { input, options });
  }

  tokenize(input, options = {}) {
    return this.#call('tokenize', { input, options });
  }

  countTokens(input, options = {}) {
    return this.#call('countTokens', { input, options });
  }

  /** Frees the model after pending calls, then stops the worker. */
  async dispose() {
    if (this.#disposed) return;
    try {
      await this.#call('dispose', {});
    } finally {
      this.#disposed = true;
      this.#worker.terminate();
    }
  }
}
