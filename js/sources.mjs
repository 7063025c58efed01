// Model sources as pull-based chunk iterators (a local file (Node), a URL, a Response, a Blob, a
// stream, an async iterable or bytes), and as random-access readers for paged memory (a local file,
// a URL that answers Range requests, a Blob, bytes, or any { size, read(offset, length) }). Nothing
// here reads a whole model into memory.
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
 * `cancel()` releases the underlying stream or file early (on abort or error). A chunk may be reused
 * by the source once `next()` is called again.
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
 * @param {RequestInit} [init] more fetch options
 * @returns {Promise<Response>}
 */
export async function fetchSource(url, signal, init) {
  const resolved = new URL(url, globalThis.location?.href);
  try {
    return await fetch(resolved, { ...init, signal });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new EmbeddingError('E_IO', `cannot download ${resolved}: ${err.message}`, { cause: err });
  }
}

/**
 * Browsers: fetch options of a download that goes into the model cache, which is then the copy:
 * the HTTP cache keeps none (no second copy of the model, and no partial entry that it would
 * revalidate or resume with requests of its own). Node's and Deno's fetch have no HTTP cache.
 */
export const NO_HTTP_CACHE = hasNodeBuiltins ? {} : { cache: 'no-store' };

/** The version a response names (ETag without its weak marker, which a server may add when it compresses; else Last-Modified), or null. */
export function versionOf(headers) {
  return headers.get('etag')?.replace(/^W\//, '') || headers.get('last-modified') || null;
}

/**
 * Asks `url` for its first byte, to learn the file's version (headers) and size without
 * downloading it: a server that answers Range (206) tells both for one byte; one that ignores it
 * (200) starts sending the whole file, which is then the download (`response`). Bypasses the
 * HTTP cache (NO_HTTP_CACHE). Fails with E_IO (or E_ABORTED).
 * @param {string | URL} url
 * @param {AbortSignal} [signal]
 * @returns {Promise<{ ranged: boolean, size: number | null, headers: Headers, response: Response | null }>}
 */
export async function probeUrl(url, signal) {
  const resolved = new URL(url, globalThis.location?.href);
  let res;
  try {
    res = await fetch(resolved, { ...NO_HTTP_CACHE, headers: { Range: 'bytes=0-0' }, signal });
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw new EmbeddingError('E_IO', `cannot download ${resolved}: ${err.message}`, { cause: err });
  }
  if (res.status === 206) {
    await res.arrayBuffer().catch(() => {});
    const size = Number(/\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '')?.[1]);
    return Number.isSafeInteger(size) ? { ranged: true, size, headers: res.headers, response: null } : { ranged: false, size: null, headers: res.headers, response: null };
  }
  if (!res.ok) {
    res.body?.cancel().catch(() => {});
    throw new EmbeddingError('E_IO', `model download failed: HTTP ${res.status} ${res.statusText} (${resolved})`);
  }
  // Content-Length is the file's size unless the body is content-encoded.
  const length = res.headers.get('content-encoding') ? NaN : Number(res.headers.get('content-length'));
  return { ranged: false, size: Number.isSafeInteger(length) && length > 0 ? length : null, headers: res.headers, response: res };
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

/**
 * A source read at any offset (paged memory): `read` resolves to exactly `length` bytes or fails
 * with E_IO; ranges closer than `mergeGap` bytes are worth reading as one; `close()` releases it.
 * @typedef {{
 *   size: number,
 *   mergeGap: number,
 *   read(offset: number, length: number): Promise<Uint8Array>,
 *   readInto?: (offset: number, target: Uint8Array) => Promise<Uint8Array>,
 *   stream?: (offset: number, length: number) => RangeStream,
 *   close(): void,
 * }} RandomAccess
 * Streamed memory reads a layer (~14 MB) per step, and neither of these holds one in JS memory
 * that the garbage collector must find: `readInto` (local files) fills a buffer given, which is
 * reused; `stream` (URLs, Blobs, readers that have one) hands the range over as it arrives, read
 * into a reused buffer where the stream is a byte stream (else each part is copied and dropped).
 * @typedef {{
 *   next(): Promise<Uint8Array | null>,
 *   readInto(view: Uint8Array): Promise<{ inPlace: boolean, bytes: Uint8Array | null, done: boolean }>,
 *   cancel(): void,
 * }} RangeStream
 */

/**
 * A range's bytes as they arrive, from `open()` (a ReadableStream, or a promise of one), started
 * at once (a read ahead opens its request early; the body then flows as it is read). Failures are
 * E_IO. A byte stream (a fetch or R2 body) is read with a BYOB reader where the runtime has one:
 * `readInto(view)` then fills the caller's buffer, so no buffer per part is left for the
 * collector; `next()` reads into a new buffer of up to STREAM_PART_BYTES. `allowByob: false`
 * keeps the default reader (Blobs: in Chromium a BYOB read of an OPFS File's stream never settled).
 * @returns {RangeStream}
 */
function rangeStream(open, what, { allowByob = true } = {}) {
  let reader = null;
  let byob = false;
  const opened = Promise.resolve().then(open).then((stream) => {
    if (typeof stream?.getReader !== 'function') throw new TypeError(`stream() gave ${typeof stream}, expected a ReadableStream`);
    try {
      if (!allowByob) throw new TypeError('no BYOB');
      reader = stream.getReader({ mode: 'byob' });
      byob = true;
    } catch {
      reader = stream.getReader();
    }
  });
  opened.catch(() => {});  // observed by next(); a stream cancelled before use never is
  /** One read: into `view` (BYOB), or the stream's own part; `{ done, value }` as a reader gives it. */
  const read = async (view) => {
    let part;
    try {
      await opened;
      part = await (byob ? reader.read(view ?? new Uint8Array(STREAM_PART_BYTES)) : reader.read());
    } catch (err) {
      if (err instanceof EmbeddingError) throw err;
      throw new EmbeddingError('E_IO', `cannot read ${what}: ${err?.message ?? err}`, { cause: err });
    }
    if (!part.done && !(part.value instanceof Uint8Array)) throw new EmbeddingError('E_IO', `${what}: the stream gave ${typeof part.value}, expected Uint8Array parts`);
    return part;
  };
  return {
    next: async () => {
      const part = await read();
      return part.done ? null : part.value;
    },
    /**
     * Reads into `view` where the stream allows it (a BYOB reader): `{ inPlace: true, bytes, done }`,
     * `bytes` the bytes read, at `view`'s offset in its buffer, which has been transferred (`view`
     * is detached: use `bytes.buffer` from now on; at the end `bytes` is empty but still holds it).
     * Else `{ inPlace: false, bytes, done }` with the stream's next part, wherever it is.
     */
    readInto: async (view) => {
      await opened.catch(() => {});
      const part = await read(byob ? view : undefined);
      return { inPlace: byob, bytes: part.value ?? null, done: part.done };
    },
    cancel() {
      opened.then(() => reader.cancel()).catch(() => {});
    },
  };
}

/** Size of the buffer a byte stream is read into when the caller gives none (a load's parts). */
const STREAM_PART_BYTES = 256 * 1024;

/** Reads in flight at once when a call's rows are paged in (a file's thread pool, HTTP connections). */
const PARALLEL_READS = 8;

/** `read()` result checked for length: a short or missing read is E_IO, never a shorter row. */
function checkedRead(read, what) {
  return async (offset, length) => {
    let bytes;
    try {
      bytes = await read(offset, length);
    } catch (err) {
      if (err instanceof EmbeddingError) throw err;
      throw new EmbeddingError('E_IO', `cannot read ${what} at offset ${offset}: ${err?.message ?? err}`, { cause: err });
    }
    if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) {
      const got = bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : typeof bytes;
      throw new EmbeddingError('E_IO', `${what}: a read of ${length} bytes at offset ${offset} returned ${got} (did the file change?)`);
    }
    return bytes;
  };
}

/** @returns {Promise<RandomAccess>} */
async function fileRandomAccess(filePath) {
  const fs = await import('node:fs');
  let handle;
  try {
    handle = await fs.promises.open(filePath, 'r');
  } catch (err) {
    throw new EmbeddingError('E_IO', `cannot read model file ${filePath}: ${err.message}`, { cause: err });
  }
  const { size } = await handle.stat();
  let closed = false;
  const fill = async (offset, buffer) => {
    if (closed) throw new EmbeddingError('E_DISPOSED', 'the model file has been closed');
    let done = 0;
    while (done < buffer.length) {
      const { bytesRead } = await handle.read(buffer, done, buffer.length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === buffer.length ? buffer : buffer.subarray(0, done);
  };
  return {
    size,
    mergeGap: 4096,
    read: checkedRead((offset, length) => fill(offset, new Uint8Array(length)), `model file ${filePath}`),
    readInto: (offset, target) => checkedRead((o) => fill(o, target), `model file ${filePath}`)(offset, target.length),
    close() {
      if (closed) return;
      closed = true;
      handle.close().catch(() => {});
    },
  };
}

/**
 * A URL whose server answers Range requests (206 with Content-Range): anything else is E_NO_RANGE,
 * found out by a first request for one byte.
 * @returns {Promise<RandomAccess>}
 */
async function urlRandomAccess(url, signal) {
  const resolved = new URL(url, globalThis.location?.href);
  // `whole`: the range is the whole file, which a server may answer with 200 and the whole body.
  const get = async (offset, length, abort, whole = false) => {
    let res;
    try {
      res = await fetch(resolved, { headers: { Range: `bytes=${offset}-${offset + length - 1}` }, signal: abort });
    } catch (err) {
      if (abort?.aborted) throw abortError(abort);
      throw new EmbeddingError('E_IO', `cannot download ${resolved}: ${err.message}`, { cause: err });
    }
    if (res.status !== 206 && !(whole && res.status === 200)) {
      res.body?.cancel().catch(() => {});
      if (res.ok) throw new EmbeddingError('E_NO_RANGE', `${resolved} ignores Range requests (HTTP ${res.status}): paged memory cannot read it; load it resident`);
      throw new EmbeddingError('E_IO', `model download failed: HTTP ${res.status} ${res.statusText} (${resolved})`);
    }
    return res;
  };
  const first = await get(0, 1, signal);
  const size = Number(/\/(\d+)\s*$/.exec(first.headers.get('content-range') ?? '')?.[1]);
  await first.arrayBuffer();
  if (!Number.isSafeInteger(size)) {
    throw new EmbeddingError('E_NO_RANGE', `${resolved} answers Range requests without the file size (Content-Range)`);
  }
  return {
    size,
    // A round trip costs more than reading through a gap of this size.
    mergeGap: 256 * 1024,
    read: checkedRead(async (offset, length) => new Uint8Array(await (await get(offset, length)).arrayBuffer()), String(resolved)),
    stream: (offset, length) => rangeStream(async () => (await get(offset, length, undefined, offset === 0 && length === size)).body, String(resolved)),
    close() {},
  };
}

/** @returns {RandomAccess} */
function bytesRandomAccess(bytes) {
  return {
    size: bytes.byteLength,
    mergeGap: 0,
    read: checkedRead(async (offset, length) => bytes.subarray(offset, offset + length), 'model bytes'),
    close() {},
  };
}

/** @returns {RandomAccess} */
function blobRandomAccess(blob) {
  return {
    size: blob.size,
    mergeGap: 64 * 1024,
    read: checkedRead(async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()), 'model Blob'),
    stream: (offset, length) => rangeStream(() => blob.slice(offset, offset + length).stream(), 'model Blob', { allowByob: false }),
    close() {},
  };
}

/** A user's reader, e.g. over a Cloudflare R2 binding: `{ size, read(offset, length) }`. */
function isReader(source) {
  return source !== null && typeof source === 'object' && typeof source.read === 'function' &&
    Number.isSafeInteger(source.size) && source.size >= 0;
}

/**
 * Opens a source for reading at any offset, or resolves to null for one that can only stream (a
 * Response, a stream, an async iterable). A URL is asked for one byte to see that its server
 * answers Range requests (E_NO_RANGE if not).
 * @param {AbortSignal} [signal]
 * @returns {Promise<RandomAccess | null>}
 */
export function openRandomAccess(source, signal) {
  return raceAbort(async () => {
    if (typeof source === 'string' || source instanceof URL) {
      return isLocalPath(source) ? fileRandomAccess(source) : urlRandomAccess(source, signal);
    }
    if (source instanceof ArrayBuffer) return bytesRandomAccess(new Uint8Array(source));
    if (ArrayBuffer.isView(source)) return bytesRandomAccess(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
    if (typeof Blob !== 'undefined' && source instanceof Blob) return blobRandomAccess(source);
    if (isReader(source)) {
      return {
        size: source.size,
        mergeGap: source.mergeGap ?? 64 * 1024,
        read: checkedRead((o, n) => source.read(o, n), 'model source'),
        ...(typeof source.stream === 'function' ? { stream: (o, n) => rangeStream(() => source.stream(o, n), 'model source') } : {}),
        close: () => source.close?.(),
      };
    }
    return null;
  }, signal);
}

/**
 * The whole of a random-access source as chunks, in order (what a load pushes): one stream where
 * the source has streams (one request, and no read buffer per chunk left for the collector, which
 * is what keeps a Worker's isolate small), else reads one ahead.
 * @param {RandomAccess} ra
 * @returns {ChunkSource}
 */
export function randomAccessChunks(ra) {
  if (ra.stream && !ra.readInto) return wholeStream(ra);
  let offset = 0;
  let ahead = null;
  // A source that fills buffers given gets two, in turn: one read while the other is pushed.
  const buffers = ra.readInto ? [new Uint8Array(FILE_READ_BYTES), new Uint8Array(FILE_READ_BYTES)] : null;
  let turn = 0;
  const readAt = (at) => {
    const length = Math.min(FILE_READ_BYTES, ra.size - at);
    turn ^= 1;
    const p = buffers ? ra.readInto(at, buffers[turn].subarray(0, length)) : ra.read(at, length);
    p.catch(() => {});  // observed when awaited by next(); a cancelled load never awaits it
    return p;
  };
  return {
    sizeHint: ra.size,
    async next() {
      if (offset >= ra.size) return null;
      const chunk = await (ahead ?? readAt(offset));
      offset += chunk.byteLength;
      ahead = offset < ra.size ? readAt(offset) : null;
      return chunk;
    },
    cancel() {},
  };
}

/**
 * `ra` as one stream of its `size` bytes: one that ends early or gives more is E_IO. A byte stream
 * is read into one buffer, again and again: a chunk is valid until the next `next()` (the loader
 * has pushed it by then), and the load leaves no buffer per chunk for the collector.
 */
function wholeStream(ra) {
  const stream = ra.stream(0, ra.size);
  let got = 0;
  let buffer = new ArrayBuffer(STREAM_PART_BYTES);
  return {
    sizeHint: ra.size,
    async next() {
      const { inPlace, bytes, done } = await stream.readInto(new Uint8Array(buffer));
      if (inPlace) buffer = bytes?.buffer ?? new ArrayBuffer(STREAM_PART_BYTES);
      const part = done ? null : bytes;
      if (part === null) {
        if (got !== ra.size) throw new EmbeddingError('E_IO', `the model source's stream ended after ${got} of its ${ra.size} bytes`);
        return null;
      }
      got += part.byteLength;
      if (got > ra.size) throw new EmbeddingError('E_IO', `the model source's stream gave more than its ${ra.size} bytes`);
      return part;
    },
    cancel() {
      stream.cancel();
    },
  };
}

/**
 * The bytes of `ranges` ([offset, length, ...]) read from `ra` and concatenated, PARALLEL_READS
 * reads at a time; ranges within `ra.mergeGap` of each other are read as one.
 * @param {RandomAccess} ra
 * @param {Float64Array} ranges
 * @param {Uint8Array} [into] one range: a buffer of at least its length to read it into
 * @returns {Promise<Uint8Array>}
 */
export async function readRanges(ra, ranges, into) {
  // One range (a streamed layer): its bytes as read, not copied again; into `into` where the
  // source can fill a buffer given.
  if (ranges.length === 2) {
    return into && ra.readInto ? ra.readInto(ranges[0], into.subarray(0, ranges[1])) : ra.read(ranges[0], ranges[1]);
  }
  let total = 0;
  for (let i = 1; i < ranges.length; i += 2) total += ranges[i];
  const out = new Uint8Array(total);
  // Reads: [file offset, length, [out position, file offset, length] of each range inside it].
  const reads = [];
  for (let i = 0, at = 0; i < ranges.length; at += ranges[i + 1], i += 2) {
    const [offset, length] = [ranges[i], ranges[i + 1]];
    const last = reads[reads.length - 1];
    if (last && offset - (last.offset + last.length) <= ra.mergeGap) {
      last.length = offset + length - last.offset;
    } else {
      reads.push({ offset, length, parts: [] });
    }
    reads[reads.length - 1].parts.push([at, offset, length]);
  }
  let next = 0;
  const worker = async () => {
    while (next < reads.length) {
      const r = reads[next++];
      const bytes = await ra.read(r.offset, r.length);
      for (const [at, offset, length] of r.parts) out.set(bytes.subarray(offset - r.offset, offset - r.offset + length), at);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, reads.length) }, worker));
  return out;
}
