// The browser side of tests/browser/browser.test.mjs: loads a model by URL on the page or in a worker,
// embeds every given case and returns plain arrays (structured-clonable) for the Node side.

/**
 * A case's `text` is one text or a batch (an array): `vectors` holds every text's vector in order.
 * `expectError`: the load is expected to fail; its error comes back as { error: { code, message } }.
 * `blob`: the model is fetched first and loaded from a Blob (a File picked on disk is one).
 * `refuseSharedMemory`: every shared WebAssembly.Memory fails from here on, as on iOS Safari, which
 * refuses large shared memories (the builds are imported at load time, so they see the change).
 * `tamperCache`: first flips one bit of every model cache entry (OPFS, where the engine has it, and Cache API).
 * @param {{ where: 'page' | 'worker', url: string, load: object, cases: { text: string | string[], options: object }[], tamperCache?: boolean, expectError?: boolean, blob?: boolean, refuseSharedMemory?: boolean }} job
 */
export async function runJob({ where, url, load, cases, tamperCache, expectError, blob, refuseSharedMemory }) {
  const { JinaEmbeddings, JinaEmbeddingsWorker } = window.jv3;
  if (refuseSharedMemory) {
    const Memory = WebAssembly.Memory;
    WebAssembly.Memory = function (descriptor) {
      if (descriptor?.shared) throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      return new Memory(descriptor);
    };
    WebAssembly.Memory.prototype = Memory.prototype;
  }
  if (tamperCache) {
    // One bit flipped near the end (inside the last tensor) of every cached model file: in the
    // Origin Private File System and in the Cache API.
    const flip = (bytes) => {
      bytes[bytes.length - 100] ^= 1;
      return bytes;
    };
    const dir = navigator.storage?.getDirectory && (await (await navigator.storage.getDirectory()).getDirectoryHandle('jina-v3-wasm-models', { create: true }));
    for await (const [name, handle] of dir ? dir.entries() : []) {
      if (!name.endsWith('.jv3')) continue;
      const bytes = flip(new Uint8Array(await (await handle.getFile()).arrayBuffer()));
      const writable = await handle.createWritable();
      await writable.write(bytes);
      await writable.close();
    }
    const cache = await caches.open('jina-v3-wasm-models');
    for (const request of await cache.keys()) {
      await cache.put(request, new Response(flip(new Uint8Array(await (await cache.match(request)).arrayBuffer()))));
    }
  }
  const progress = [];
  const options = { ...load, onProgress: (p) => progress.push(p.phase) };
  const started = performance.now();
  let model;
  const source = blob ? await (await fetch(url)).blob() : url;
  try {
    model = where === 'worker' ? await JinaEmbeddingsWorker.load(source, options) : await JinaEmbeddings.load(source, options);
  } catch (err) {
    if (expectError) return { error: { code: err.code, message: err.message } };
    throw err;
  }
  if (expectError) {
    await model.dispose();
    throw new Error(`the load succeeded on the ${model.info.variant} build`);
  }
  const loadMs = performance.now() - started;
  // The main thread must stay responsive while a worker embeds: count timer ticks meanwhile.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    // All calls issued at once: they must queue on the one instance and come back in order.
    const results = await Promise.all(cases.map((c) => model.embed(c.text, c.options)));
    return {
      variant: model.info.variant,
      fallback: model.info.fallback,
      isolated: globalThis.crossOriginIsolated,
      sharedArrayBuffer: typeof SharedArrayBuffer === 'function',
      threads: model.info.threads,
      memory: model.info.memory,
      cache: model.info.cache,
      pageStats: where === 'worker' ? null : model.pageStats,
      loadMs,
      progressEvents: progress.length,
      phases: [...new Set(progress)],
      ticks,
      vectors: results.flatMap((r) => r.data.map((d) => Array.from(d.embedding))),
    };
  } finally {
    clearInterval(timer);
    await model.dispose();
  }
}
