// Cache of converted model files: a folder in Node, the Cache API in browsers. An entry appears
// only once complete (rename / Cache.put), so a crash or abort never leaves a partial one.
import { hasNodeBuiltins } from './env.mjs';

/** Parts of a browser entry are folded into one Blob every this many bytes (Blobs may live on disk). */
const FOLD_BYTES = 16 << 20;

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

/** Node (and Deno): $JV3_MODEL_CACHE, else ~/.cache/jina-v3-wasm/models. */
async function nodeCache(dir) {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const root = dir ?? process.env.JV3_MODEL_CACHE ?? path.join(os.homedir(), '.cache', 'jina-v3-wasm', 'models');
  const file = (key) => path.join(root, `${key}.jv3`);
  return {
    async get(key) {
      return fs.existsSync(file(key)) ? file(key) : null;
    },
    async remove(key) {
      fs.rmSync(file(key), { force: true });
    },
    async writer(key) {
      fs.mkdirSync(root, { recursive: true });
      removeOrphans(fs, path, root);
      const tmp = path.join(root, `.${key}.jv3tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
      let fd = fs.openSync(tmp, 'w');
      const close = () => {
        if (fd !== undefined) fs.closeSync(fd);
        fd = undefined;
      };
      return {
        // Called synchronously from inside the converter with a view into wasm memory: written at once.
        write(bytes) {
          for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
        },
        async commit() {
          fs.fsyncSync(fd);
          close();
          fs.renameSync(tmp, file(key));
        },
        async discard() {
          close();
          fs.rmSync(tmp, { force: true });
        },
      };
    },
  };
}

/** Browsers: the Cache API, one entry per key under a URL of its own. */
async function webCache() {
  const cache = await caches.open('jina-v3-wasm-models');
  const url = (key) => `https://jina-v3-wasm.invalid/models/${key}.jv3`;
  return {
    async get(key) {
      return (await cache.match(url(key))) ?? null;
    },
    async remove(key) {
      await cache.delete(url(key));
    },
    async writer(key) {
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
        async commit() {
          blob = new Blob([blob, ...parts]);
          parts = [];
          await cache.put(url(key), new Response(blob, { headers: { 'content-type': 'application/octet-stream' } }));
        },
        async discard() {
          parts = [];
          blob = null;
        },
      };
    },
  };
}

/**
 * The model cache of this runtime, or null where there is none (e.g. Cloudflare Workers, whose
 * Cache API is an HTTP cache, not storage).
 * @param {string} [dir] Node: the folder
 */
export async function openCache(dir) {
  if (hasNodeBuiltins) return nodeCache(dir);
  if (typeof caches !== 'undefined' && typeof caches.open === 'function' && !globalThis.navigator?.userAgent?.includes('Cloudflare')) {
    try {
      return await webCache();
    } catch {
      return null; // e.g. an opaque origin, or storage disabled
    }
  }
  return null;
}
