// The browser side of tests/browser/opfs-cache.test.mjs: looks into the model cache's folder of
// the Origin Private File System (and the Cache API, and Web Locks), and runs the loads that
// need more than run.mjs's runJob.

const STORE = 'jina-v3-wasm-models';

async function folder() {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(STORE, { create: true });
}

/** Every file of the cache's OPFS folder: { name, size }, sorted by name. */
export async function listing() {
  const dir = await folder();
  const files = [];
  for await (const [name, handle] of dir.entries()) {
    files.push({ name, size: handle.kind === 'file' ? (await handle.getFile()).size : -1 });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** The entries of the Cache API store: their URLs' last path segment and sizes. */
export async function cacheApiListing() {
  const cache = await caches.open(STORE);
  const out = [];
  for (const request of await cache.keys()) {
    out.push({ name: request.url.split('/').pop(), size: (await (await cache.match(request)).blob()).size });
  }
  return out;
}

/** Empties the OPFS folder and the Cache API store. */
export async function clear() {
  await (await navigator.storage.getDirectory()).removeEntry(STORE, { recursive: true }).catch(() => {});
  await caches.delete(STORE);
}

/** Web Locks held now, of the cache's names. */
export async function heldLocks() {
  const { held } = await navigator.locks.query();
  return held.filter((l) => l.name.startsWith(`${STORE}/`)).map((l) => ({ name: l.name, mode: l.mode }));
}

/** A temporary file as a writer that died would leave it (its lock free), or, with `hold`, a live writer's (its lock held until `release()`). */
export async function fakeTempFile(entry, { hold = false } = {}) {
  const name = `.${entry}.${hold ? 'live' : 'dead'}.jv3tmp`;
  const handle = await (await folder()).getFileHandle(name, { create: true });
  const writable = await handle.createWritable();
  await writable.write(new Uint8Array(1000));
  await writable.close();
  if (!hold) return { name };
  let release;
  await new Promise((granted) => {
    navigator.locks.request(`${STORE}/${name}`, () => {
      granted();
      return new Promise((resolve) => { release = resolve; });
    });
  });
  window.jv3HeldTemp = release;
  return { name };
}

/** Releases the lock fakeTempFile({ hold: true }) took. */
export function releaseTemp() {
  window.jv3HeldTemp?.();
}

/** Error as plain data (structured-clonable), for the Node side. */
const plain = (err) => ({ code: err?.code ?? null, name: err?.name, message: err?.message ?? String(err) });

/**
 * Loads `url` on the page and keeps the model as window.jv3Models[id] (for later steps), or
 * returns the load's error. Resolves to { info: { memory, cache }, progress }.
 */
export async function keep(id, url, load) {
  const { JinaEmbeddings } = window.jv3;
  window.jv3Models ??= {};
  let events = 0;
  try {
    const model = await JinaEmbeddings.load(url, { ...load, onProgress: () => events++ });
    window.jv3Models[id] = model;
    return { info: { memory: model.info.memory, cache: model.info.cache }, progressEvents: events };
  } catch (err) {
    return { error: plain(err) };
  }
}

/** Embeds `cases` with the model kept as `id`: its vectors as plain arrays, and its page stats. */
export async function embedKept(id, cases) {
  const model = window.jv3Models[id];
  const results = await Promise.all(cases.map((c) => model.embed(c.text, c.options)));
  return { vectors: results.map((r) => Array.from(r.data[0].embedding)), pageStats: model.pageStats };
}

/** Disposes the model kept as `id`. */
export async function disposeKept(id) {
  await window.jv3Models[id]?.dispose();
  delete window.jv3Models[id];
}

/**
 * Starts every case's embed() and dispose() at once: the calls were queued first, so each must
 * still answer, and the model's entry is released once dispose() resolves; a call after it fails
 * with E_DISPOSED. Resolves to the vectors, the locks held before and after, and that error.
 */
export async function disposeWhileReading(url, load, cases) {
  const { JinaEmbeddings } = window.jv3;
  const model = await JinaEmbeddings.load(url, load);
  const locksLoaded = await heldLocks();
  const calls = cases.map((c) => model.embed(c.text, c.options));
  const disposed = model.dispose();
  const settled = await Promise.allSettled(calls);
  await disposed;
  const locksAfter = await heldLocks();
  let late = null;
  try {
    await model.embed('after dispose');
  } catch (err) {
    late = plain(err);
  }
  return {
    statuses: settled.map((s) => s.status),
    errors: settled.filter((s) => s.status === 'rejected').map((s) => plain(s.reason)),
    vectors: settled.map((s) => (s.status === 'fulfilled' ? Array.from(s.value.data[0].embedding) : null)),
    locksLoaded,
    locksAfter,
    late,
  };
}

/** Loads `url` in a worker, then disposes it (the worker ends): resolves to the locks held meanwhile and after. */
export async function workerLocks(url, load) {
  const { JinaEmbeddingsWorker } = window.jv3;
  const model = await JinaEmbeddingsWorker.load(url, load);
  const during = await heldLocks();
  await model.dispose();
  // A terminated worker's locks are released by the browser; give it a moment.
  let after = await heldLocks();
  for (let i = 0; i < 50 && after.length; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await heldLocks();
  }
  return { cache: model.info.cache, during, after };
}

/** Loads `url` and aborts it once `abortAfter` progress events arrived: resolves to the error. */
export async function abortedLoad(url, load, abortAfter) {
  const { JinaEmbeddings } = window.jv3;
  const controller = new AbortController();
  let events = 0;
  try {
    const model = await JinaEmbeddings.load(url, {
      ...load,
      signal: controller.signal,
      onProgress: () => {
        if (++events === abortAfter) controller.abort();
      },
    });
    await model.dispose();
    return { error: null, events };
  } catch (err) {
    return { error: plain(err), events };
  }
}
