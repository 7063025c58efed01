// The model cache: a folder in Node, the Origin Private File System (OPFS) in browsers, else the
// Cache API. Entries are model files, read in order or at any offset (paged and streamed memory).
// An entry appears only once complete (written under a temporary name, then renamed or put), so a
// crash or abort never leaves a partial one; once one is complete, the other entries of the same
// source (older versions) are deleted.
import { hasNodeBuiltins } from './env.mjs';
import { EmbeddingError } from './errors.mjs';
import { openRandomAccess, openSource } from './sources.mjs';

/** Parts of a buffered entry are folded into one Blob every this many bytes (Blobs may live on disk). */
const FOLD_BYTES = 16 << 20;

/** The folder (OPFS) or cache (Cache API) of the browser stores. */
const STORE_NAME = 'jina-v3-wasm-models';

/** Hex digits of an entry name taken from its source alone: entries sharing them are versions of one source. */
const SOURCE_HEX = 16;

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The name of the entry for `version` of `source`: 64 hex digits, the first SOURCE_HEX from the
 * source alone (what stale deletion matches), the rest from source and version together.
 * @param {string} source what was loaded (a URL, a path, a cacheKey, …) and how (e.g. the dtype)
 * @param {string} version which bytes it held (ETag, size, mtime, …)
 */
export async function entryName(source, version) {
  const [s, v] = await Promise.all([sha256Hex(source), sha256Hex(`${source}\u0000${version}`)]);
  return s.slice(0, SOURCE_HEX) + v.slice(0, 64 - SOURCE_HEX);
}

const sameSource = (a, b) => a !== b && a.slice(0, SOURCE_HEX) === b.slice(0, SOURCE_HEX);

/** A failure to store an entry as an EmbeddingError: E_CACHE_FULL for a full quota or disk, else E_IO. */
export function cacheError(err, store) {
  if (err instanceof EmbeddingError) return err;
  const full = err?.name === 'QuotaExceededError' || err?.code === 'ENOSPC' || err?.code === 'EDQUOT';
  return full
    ? new EmbeddingError('E_CACHE_FULL', `the model cache (${store}) has no room for this model: ${err.message}`, { cause: err })
    : new EmbeddingError('E_IO', `writing the model cache (${store}): ${err?.message ?? err}`, { cause: err });
}

/**
 * A model cache. Entries are named by entryName().
 * - `get(name)`: null, or `{ file, release }`: `file` is a path (Node) or a Blob/File (browsers),
 *   readable until `release()` (OPFS: a shared Web Lock keeps other tabs from deleting it).
 * - `writer(name, { sync })`: `write(bytes)` (the view may be reused after the call; with `sync`
 *   it must not be awaited, so the bytes are written or buffered at once; else await its result),
 *   then `commit()` (the entry appears, the other versions of its source are deleted) or `discard()`.
 * - `remove(name)`; `tidy(name)` (after a hit or a commit): delete the other versions of its
 *   source and the temporary files of writers that died (those in use are left for a later call).
 * @typedef {{
 *   kind: 'folder' | 'opfs' | 'cache-api',
 *   get(name: string): Promise<{ file: string | Blob, release(): void | Promise<void> } | null>,
 *   writer(name: string, options?: { sync?: boolean }): Promise<{ write(bytes: Uint8Array): void | Promise<void>, commit(): Promise<void>, discard(): Promise<void> }>,
 *   remove(name: string): Promise<void>,
 *   tidy(name: string): Promise<void>,
 * }} Store
 */

/**
 * An entry from `Store.get()` opened for a load: `chunks` reads it in order (the load pass);
 * `pages` (paged and streamed memory) reads it at any offset. The entry is released by
 * `pages.close()` (the engine closes it when deleted), or for a resident load once `chunks` ends
 * or is cancelled.
 * @param {{ file: string | Blob, release(): void | Promise<void> }} hit
 * @param {'resident' | 'paged' | 'streamed'} memory
 * @param {AbortSignal} [signal]
 */
export async function openEntry(hit, memory, signal) {
  try {
    const chunks = await openSource(hit.file, signal);
    if (memory === 'resident') {
      return {
        chunks: {
          sizeHint: chunks.sizeHint,
          async next() {
            const chunk = await chunks.next();
            if (chunk === null) hit.release();
            return chunk;
          },
          cancel() {
            chunks.cancel();
            hit.release();
          },
        },
        pages: null,
      };
    }
    return { chunks, pages: await openEntryPages(hit, signal) };
  } catch (err) {
    hit.release();
    throw err;
  }
}

/**
 * An entry read at any offset until `close()`, which releases it.
 * @returns {Promise<import('./sources.mjs').RandomAccess>}
 */
export async function openEntryPages(hit, signal) {
  const ra = await openRandomAccess(hit.file, signal);
  return {
    ...ra,
    close() {
      ra.close();
      hit.release();
    },
  };
}

/**
 * Pages whose source is known only once the load has read the whole file (the cache entry being
 * written while it downloads): `set(ra)` supplies it; reads before that are E_STATE.
 * @returns {{ pages: import('./sources.mjs').RandomAccess, set(ra: import('./sources.mjs').RandomAccess): void }}
 */
export function pendingPages() {
  let target = null;
  let closed = false;
  return {
    pages: {
      get size() {
        return target?.size ?? 0;
      },
      get mergeGap() {
        return target?.mergeGap ?? 0;
      },
      read(offset, length) {
        if (closed) return Promise.reject(new EmbeddingError('E_DISPOSED', 'the model file has been closed'));
        if (!target) return Promise.reject(new EmbeddingError('E_STATE', 'the model file is read before its load finished'));
        return target.read(offset, length);
      },
      close() {
        closed = true;
        target?.close();
      },
    },
    set(ra) {
      if (closed) ra.close();
      else target = ra;
    },
  };
}

/** Is process `pid` (of this machine) running? */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Removes the temporary files of writers whose process died (killed mid-download: no discard ran). */
function removeOrphans(fs, path, root) {
  for (const name of fs.readdirSync(root)) {
    const pid = /^\.[0-9a-f]+\.jv3tmp-(\d+)-/.exec(name)?.[1];
    if (pid && !alive(Number(pid))) fs.rmSync(path.join(root, name), { force: true });
  }
}

/**
 * Node (and Deno): $JV3_MODEL_CACHE, else ~/.cache/jina-v3-wasm/models.
 * @returns {Promise<Store>}
 */
async function nodeCache(dir) {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const root = dir ?? process.env.JV3_MODEL_CACHE ?? path.join(os.homedir(), '.cache', 'jina-v3-wasm', 'models');
  const file = (name) => path.join(root, `${name}.jv3`);
  const removeOthers = async (name) => {
    if (!fs.existsSync(root)) return;
    for (const f of fs.readdirSync(root)) {
      const other = /^([0-9a-f]{64})\.jv3$/.exec(f)?.[1];
      // An open file stays readable on POSIX once unlinked; elsewhere a failure leaves it for later.
      if (other && sameSource(other, name)) fs.rmSync(path.join(root, f), { force: true });
    }
  };
  return {
    kind: 'folder',
    async get(name) {
      return fs.existsSync(file(name)) ? { file: file(name), release() {} } : null;
    },
    async remove(name) {
      fs.rmSync(file(name), { force: true });
    },
    tidy: async (name) => {
      try {
        await removeOthers(name);
        removeOrphans(fs, path, root);
      } catch {
        // left for a later call
      }
    },
    async writer(name) {
      fs.mkdirSync(root, { recursive: true });
      removeOrphans(fs, path, root);
      const tmp = path.join(root, `.${name}.jv3tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
      let fd = fs.openSync(tmp, 'w');
      const close = () => {
        if (fd !== undefined) fs.closeSync(fd);
        fd = undefined;
      };
      return {
        // Written at once: it may be a view into wasm memory, valid during the call only.
        write(bytes) {
          for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
        },
        async commit() {
          fs.fsyncSync(fd);
          close();
          fs.renameSync(tmp, file(name));
          await removeOthers(name).catch(() => {});
        },
        async discard() {
          close();
          fs.rmSync(tmp, { force: true });
        },
      };
    },
  };
}

/**
 * Takes the Web Lock `name` and holds it until `release()`; resolves once granted. With
 * `ifAvailable`, resolves to null instead of waiting when someone else holds it.
 * @returns {Promise<{ release(): Promise<void> } | null>}
 */
function takeLock(name, { mode = 'exclusive', ifAvailable = false } = {}) {
  return new Promise((resolve, reject) => {
    // request() settles once the lock is released, which takes a trip through the lock manager:
    // release() returns that, so that whoever must find the lock free next (e.g. deleting an
    // entry just found corrupt) can wait for it.
    const released = navigator.locks.request(name, { mode, ifAvailable }, (lock) => {
      if (!lock) return resolve(null);
      return new Promise((release) => resolve({
        release() {
          release();
          return released.then(() => {}, () => {});
        },
      }));
    });
    released.catch(reject);
  });
}

/** Blob parts folded every FOLD_BYTES: a writer for stores that take a whole entry at once. */
function blobBuffer() {
  let blob = new Blob([]);
  let parts = [];
  let held = 0;
  return {
    write(bytes) {
      parts.push(bytes.slice()); // the view is only valid during the call
      held += bytes.length;
      if (held >= FOLD_BYTES) {
        blob = new Blob([blob, ...parts]);
        parts = [];
        held = 0;
      }
    },
    take() {
      const whole = new Blob([blob, ...parts]);
      blob = null;
      parts = [];
      return whole;
    },
  };
}

/** The temporary files of OPFS writers: `.<entry>.<random>.jv3tmp` (Chromium adds `.crswap` beside it while writing). */
const TEMP_FILE = /^(\.[0-9a-f]{64}\.[0-9a-z]+\.jv3tmp)(\.crswap)?$/;

/**
 * Browsers: the Origin Private File System, folder jina-v3-wasm-models. Web Locks keep entries
 * consistent across tabs and workers: a writer holds an exclusive lock on its temporary file's
 * name (a temporary file whose lock is free belongs to a writer that died, and is removed); a
 * reader holds a shared lock on the entry while it reads it; an entry is renamed into place or
 * deleted only under its exclusive lock, so never while someone reads it.
 * @returns {Promise<Store>}
 */
async function opfsCache() {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(STORE_NAME, { create: true });
  // Dedicated workers write through a sync access handle, straight to disk; the page (where those
  // do not exist) through a writable stream.
  const syncHandles = typeof FileSystemFileHandle.prototype.createSyncAccessHandle === 'function';
  const lockName = (fileName) => `${STORE_NAME}/${fileName}`;
  const names = async () => {
    const all = [];
    for await (const name of dir.keys()) all.push(name);
    return all;
  };
  /** Deletes `fileName` unless someone holds its lock; true when it is gone. */
  const removeIfFree = async (fileName, lockOf = fileName) => {
    const lock = await takeLock(lockName(lockOf), { ifAvailable: true });
    if (!lock) return false;
    try {
      await dir.removeEntry(fileName);
      return true;
    } catch (err) {
      return err?.name === 'NotFoundError';
    } finally {
      lock.release();
    }
  };
  const removeOrphans = async () => {
    for (const name of await names()) {
      const temp = TEMP_FILE.exec(name);
      if (temp) await removeIfFree(name, temp[1]);
    }
  };
  const removeOthers = async (name) => {
    for (const f of await names()) {
      const other = /^([0-9a-f]{64})\.jv3$/.exec(f)?.[1];
      if (other && sameSource(other, name)) await removeIfFree(f);
    }
  };
  return {
    kind: 'opfs',
    async get(name) {
      const lock = await takeLock(lockName(`${name}.jv3`), { mode: 'shared' });
      try {
        const file = await (await dir.getFileHandle(`${name}.jv3`)).getFile();
        let released = null;
        return {
          file,
          release() {
            released ??= lock.release();
            return released;
          },
        };
      } catch (err) {
        lock.release();
        if (err?.name === 'NotFoundError') return null;
        throw err;
      }
    },
    // Never waits: an entry someone reads is left alone.
    remove: (name) => removeIfFree(`${name}.jv3`).then(() => {}, () => {}),
    tidy: (name) => removeOthers(name).then(removeOrphans).catch(() => {}),
    async writer(name, { sync = false } = {}) {
      await removeOrphans().catch(() => {});
      const tmp = `.${name}.${Math.random().toString(36).slice(2)}.jv3tmp`;
      const lock = await takeLock(lockName(tmp));
      let handle;
      let out;
      try {
        handle = await dir.getFileHandle(tmp, { create: true });
        if (syncHandles) out = await handle.createSyncAccessHandle();
        else if (!sync) out = await handle.createWritable();
      } catch (err) {
        await dir.removeEntry(tmp).catch(() => {});
        lock.release();
        throw cacheError(err, 'opfs');
      }
      // A page's synchronous writes (a checkpoint converted inside one wasm call) are buffered as
      // Blobs, then written when the entry is complete.
      const buffer = !syncHandles && sync ? blobBuffer() : null;
      let at = 0;
      let closed = false;
      const close = async (keep) => {
        if (closed) return;
        closed = true;
        if (syncHandles) {
          if (keep) out.flush();
          out.close();
        } else if (out) {
          await (keep ? out.close() : out.abort());
        }
      };
      const finish = async () => {
        await dir.removeEntry(tmp).catch(() => {});
        lock.release();
      };
      return {
        write(bytes) {
          if (buffer) return buffer.write(bytes);
          if (syncHandles) {
            // Accepts views into a shared wasm memory; writes all of it or throws (QuotaExceededError).
            const n = out.write(bytes, { at });
            if (n !== bytes.byteLength) throw new EmbeddingError('E_IO', `writing the model cache (opfs): ${n} of ${bytes.byteLength} bytes written`);
            at += n;
            return undefined;
          }
          return out.write(bytes);
        },
        async commit() {
          try {
            if (buffer) {
              out = await handle.createWritable();
              await out.write(buffer.take());
            }
            await close(true);
            // Under the entry's exclusive lock: no one reads it meanwhile. An entry already there
            // (another tab stored the same version at the same time) is kept, and this copy
            // dropped; so is this copy when that lock is taken (someone reads the entry: it
            // exists), rather than waiting for them.
            const entryLock = await takeLock(lockName(`${name}.jv3`), { ifAvailable: true });
            if (entryLock) {
              try {
                const exists = await dir.getFileHandle(`${name}.jv3`).then(() => true, () => false);
                if (!exists) await handle.move(dir, `${name}.jv3`);
              } finally {
                entryLock.release();
              }
            }
          } catch (err) {
            await close(false).catch(() => {});
            throw cacheError(err, 'opfs');
          } finally {
            await finish();
          }
          await removeOthers(name).catch(() => {});
        },
        async discard() {
          await close(false).catch(() => {});
          await finish();
        },
      };
    },
  };
}

/**
 * Browsers without a usable OPFS: the Cache API, one entry per name under a URL of its own.
 * @returns {Promise<Store>}
 */
async function webCache() {
  const cache = await caches.open(STORE_NAME);
  const url = (name) => `https://jina-v3-wasm.invalid/models/${name}.jv3`;
  const removeOthers = async (name) => {
    for (const request of await cache.keys()) {
      const other = /\/models\/([0-9a-f]{64})\.jv3$/.exec(request.url)?.[1];
      if (other && sameSource(other, name)) await cache.delete(request);
    }
  };
  return {
    kind: 'cache-api',
    async get(name) {
      const response = await cache.match(url(name));
      // Chromium hands back the stored body as a Blob on disk, readable at any offset.
      return response ? { file: await response.blob(), release() {} } : null;
    },
    async remove(name) {
      await cache.delete(url(name));
    },
    tidy: (name) => removeOthers(name).catch(() => {}),
    async writer(name) {
      let buffer = blobBuffer();
      return {
        write: (bytes) => buffer.write(bytes),
        async commit() {
          try {
            await cache.put(url(name), new Response(buffer.take(), { headers: { 'content-type': 'application/octet-stream' } }));
          } catch (err) {
            throw cacheError(err, 'cache-api');
          } finally {
            buffer = null;
          }
          await removeOthers(name).catch(() => {});
        },
        async discard() {
          buffer = null;
        },
      };
    },
  };
}

/** OPFS as this cache uses it: a directory, Web Locks, rename, and a way to write. */
function hasOpfs() {
  const FSFH = globalThis.FileSystemFileHandle;
  return typeof globalThis.navigator?.storage?.getDirectory === 'function' &&
    typeof globalThis.navigator?.locks?.request === 'function' &&
    typeof FSFH === 'function' && typeof FSFH.prototype.move === 'function' &&
    (typeof FSFH.prototype.createWritable === 'function' || typeof FSFH.prototype.createSyncAccessHandle === 'function');
}

/**
 * The model cache of this runtime, or null where there is none (e.g. Cloudflare Workers, whose
 * Cache API is an HTTP cache, not storage). Browsers: OPFS, else the Cache API, else none.
 * @param {string} [dir] Node: the folder
 * @returns {Promise<Store | null>}
 */
export async function openCache(dir) {
  if (hasNodeBuiltins) return nodeCache(dir);
  if (globalThis.navigator?.userAgent?.includes('Cloudflare')) return null;
  if (hasOpfs()) {
    try {
      return await opfsCache();
    } catch {
      // e.g. storage disabled for this origin, or a private window without OPFS: try the Cache API
    }
  }
  if (typeof caches !== 'undefined' && typeof caches.open === 'function') {
    try {
      return await webCache();
    } catch {
      return null; // e.g. an opaque origin, or storage disabled
    }
  }
  return null;
}
