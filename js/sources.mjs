// Model sources as pull-based chunk iterators: a local file (Node), a URL, a Response, a Blob, a
// stream, an async iterable or bytes. Nothing here reads a whole model into memory.
import { hasNodeBuiltins } from './env.mjs';
import { abortError, EmbeddingError, raceAbort } from './errors.mjs';

/** Bytes handed to the engine at a time: small enough for smooth progress and prompt aborts. */
export const CHUNK_BYTES = 1 << 20;

/** An in-memory source yields to the event loop this often (a multiple of CHUNK_BYTES). */
const YIELD_BYTES = 16 * CHUNK_BYTES;

/**
 * Node: bytes read from a model file at a time (then pushed CHUNK_BYTES at a time). The stream reads
 * the next block while the loader works on this one: with 1 MiB reads the loader still waited ~90 ms
 * for the file over the full model (591 MiB), with 4 MiB ~30 ms.
 */
const FILE_READ_BYTES = 4 * CHUNK_BYTES;

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

/**
 * Node: a file read through a stream, FILE_READ_BYTES at a time, never the whole file at once.
 * @returns {Promise<ChunkSource>}
 */
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

/**
 * Whether a string or URL source names a local file or folder (read from disk) rather than
 * something to fetch: where Node's built-ins exist, a `file:` URL or any string that is not an
 * http(s) URL. Elsewhere every string is a URL, resolved against the page.
 * @param {string | URL} source
 */
export function isLocalPath(source) {
  if (!hasNodeBuiltins) return false;
  return source instanceof URL ? source.protocol === 'file:' : !/^https?:\/\//i.test(source);
}

/**
 * Fetches `url` (resolved against the page), failing with E_ABORTED or E_IO.
 * @param {string | URL} url
 * @param {AbortSignal} [signal]
 * @returns {Promise<Response>}
 */
export async function fetchSource(url, signal) {
  const resolved = new URL(url, globalThis.location?.href);
  try {
    return await fetch(resolved, { signal });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new EmbeddingError('E_IO', `cannot download ${resolved}: ${err.message}`, { cause: err });
  }
}

/** @returns {Promise<ChunkSource>} */
async function toChunkSource(source, signal) {
  if (typeof source === 'string' || source instanceof URL) {
    if (isLocalPath(source)) return fileSource(source);
    return toChunkSource(await fetchSource(source, signal), signal);
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
 * Opens any supported source for reading; rejects with E_ABORTED as soon as `signal` aborts.
 * @param {AbortSignal} [signal]
 * @returns {Promise<ChunkSource>}
 */
export function openSource(source, signal) {
  return raceAbort(() => toChunkSource(source, signal), signal);
}

/**
 * The whole of a small source (a checkpoint's JSON files) as text.
 * @param {AbortSignal} [signal]
 * @returns {Promise<string>}
 */
export async function readSourceText(source, signal) {
  const chunks = await openSource(source, signal);
  const parts = [];
  for (let c; (c = await chunks.next()) !== null;) parts.push(c);
  return new TextDecoder().decode(await new Blob(parts).arrayBuffer());
}
