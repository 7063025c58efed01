// A model file loaded by URL through the model cache (cache.mjs): the first load copies it into
// the cache while it downloads and streams into the engine; later loads read it from there, and
// paged and streamed memory read their rows and layers from the cache (local disk), not over the
// network. An entry is named after the URL and the file's version (ETag, else Last-Modified), or
// after `cacheKey`.
import { cacheError, entryName, openEntry, openEntryPages, pendingPages } from './cache.mjs';
import { EmbeddingError, raceAbort } from './errors.mjs';
import { fetchSource, NO_HTTP_CACHE, openRandomAccess, openSource, probeUrl, versionOf } from './sources.mjs';

/**
 * Opens the model file at `url` for a load through `store`. Resolves to
 * `{ chunks, memory, pages, cache, drop? }` as index.mjs's openModelFile takes it, where `cache`
 * is the entry's status (`{ store, status: 'hit' | 'stored' | 'failed', error? }`, final once the
 * load has read the whole file) and `drop()` deletes a hit found corrupt. Resolves to null when
 * the file has no version to name an entry by (no ETag or Last-Modified, no cacheKey): it is then
 * loaded as without a cache.
 * A download whose entry cannot be written (a full quota: E_CACHE_FULL) still loads: paged and
 * streamed memory then read the server with Range requests, or, where it ignores them, fail
 * with that error.
 * @param {string | URL} url
 * @param {import('./cache.mjs').Store} store
 * @param {{ memory: 'resident' | 'paged' | 'streamed', cacheKey?: string, signal?: AbortSignal }} options
 */
export async function openCachedUrl(url, store, { memory, cacheKey, signal }) {
  const resolved = new URL(url, globalThis.location?.href).href;
  const source = cacheKey ? `model\u0000key:${cacheKey}` : `model\u0000url:${resolved}`;
  const fromEntry = async (name, hit) => {
    // An older version left by a load that had it open, or a dead writer's file, is deleted now.
    await store.tidy(name);
    // A corrupt hit is released first (its lock free once the lock manager says so), then deleted.
    const drop = async () => {
      await hit.release();
      await store.remove(name);
    };
    return { ...(await openEntry(hit, memory, signal)), memory, cache: { store: store.kind, status: 'hit' }, drop };
  };
  // A cacheKey names the version: an entry of it is used without asking the server (offline too).
  const keyed = cacheKey ? await entryName(source, '') : null;
  const keyedHit = keyed && (await store.get(keyed).catch(() => null));
  if (keyedHit) return fromEntry(keyed, keyedHit);

  const first = await raceAbort(() => probeUrl(resolved, signal), signal);
  const version = cacheKey ? '' : versionOf(first.headers);
  if (version === null) {
    first.response?.body?.cancel().catch(() => {});
    return null;
  }
  const name = keyed ?? (await entryName(source, version));
  const hit = !keyed && (await store.get(name).catch(() => null));
  if (hit) {
    first.response?.body?.cancel().catch(() => {});
    return fromEntry(name, hit);
  }

  const response = first.response ?? (await fetchSource(resolved, signal, NO_HTTP_CACHE));
  if (!response.ok) {
    response.body?.cancel().catch(() => {});
    throw new EmbeddingError('E_IO', `model download failed: HTTP ${response.status} ${response.statusText} (${resolved})`);
  }
  // Named after what is downloaded, should the file have changed since the probe.
  const downloaded = cacheKey ? '' : versionOf(response.headers);
  if (downloaded === null) {
    response.body?.cancel().catch(() => {});
    return null;
  }
  const stored = downloaded === version ? name : await entryName(source, downloaded);
  const body = await openSource(response, signal);
  return teeIntoCache(body, store, stored, { memory, url: resolved, ranged: first.ranged, signal });
}

/**
 * The download `body` as the load's chunks, each also written to a new entry `name`; the entry
 * is committed when the body ends, and paged memory then reads it.
 */
async function teeIntoCache(body, store, name, { memory, url, ranged, signal }) {
  const status = { store: store.kind, status: 'stored' };
  // Paged or streamed memory from a server that ignores Range: only the entry can be read at offsets.
  const needsEntry = memory !== 'resident' && !ranged;
  const later = memory === 'resident' ? null : pendingPages();
  let writer = null;
  let writing = null;

  /** The entry cannot be written: the load goes on without it (reported in `status`), unless it needs it. */
  const fail = async (err) => {
    const w = writer;
    writer = null;
    await w?.discard().catch(() => {});
    const e = cacheError(err, store.kind);
    Object.assign(status, { status: 'failed', error: { code: e.code, message: e.message } });
    if (needsEntry) {
      throw new EmbeddingError(e.code, `${memory} memory reads the model file at offsets, and ${url} ignores Range requests: only its cache entry could be, but ${e.message}`, { cause: e });
    }
  };
  /** The body has ended: the entry is committed, and paged memory given what to read. */
  const settle = async () => {
    if (writer) {
      const w = writer;
      writer = null;
      try {
        await w.commit();
      } catch (err) {
        await fail(err);
      }
    }
    if (!later) return;
    if (status.status === 'stored') {
      const hit = await store.get(name).catch(() => null);
      if (hit) return later.set(await openEntryPages(hit, signal));
      await fail(new EmbeddingError('E_IO', 'the entry vanished once written'));
    }
    later.set(await openRandomAccess(url, signal));
  };

  try {
    writer = await store.writer(name);
  } catch (err) {
    try {
      await fail(err);
    } catch (failure) {
      body.cancel();
      throw failure;
    }
  }
  const chunks = {
    sizeHint: body.sizeHint,
    async next() {
      const chunk = await body.next();
      if (chunk === null) {
        await settle();
        return null;
      }
      if (writer) {
        const w = writer;
        writing = (async () => w.write(chunk))();
        try {
          await writing;
        } catch (err) {
          await fail(err);
        } finally {
          writing = null;
        }
      }
      return chunk;
    },
    cancel() {
      body.cancel();
      const w = writer;
      writer = null;
      if (w) Promise.resolve(writing).catch(() => {}).then(() => w.discard()).catch(() => {});
    },
  };
  return { chunks, memory, pages: later?.pages ?? null, cache: status };
}
