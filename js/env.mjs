// What the runtime offers, detected once: the other modules ask here rather than probing globals.

/**
 * The `node:` built-ins (fs, os, path, url) can be imported and local paths read: Node, and Deno,
 * which defines process.versions.node for its Node compatibility.
 */
export const hasNodeBuiltins = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/**
 * Node itself, not Deno: the two differ where Emscripten's pthread workers are concerned (Deno's
 * take Emscripten's Node branch and do not run there).
 */
export const isNode = hasNodeBuiltins && !globalThis.Deno;

/** Upper bound of the default thread count: more threads than this give little on these model sizes. */
const MAX_DEFAULT_THREADS = 4;

/** Default thread count: the machine's parallelism, capped (browsers: hardwareConcurrency). */
export async function defaultThreads() {
  let n = globalThis.navigator?.hardwareConcurrency;
  if (!n && hasNodeBuiltins) n = (await import('node:os')).availableParallelism();
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, n || 1));
}

/** Cloudflare Workers (workerd): 128 MB per isolate, JS heap and wasm memory together. */
export const isCloudflareWorker = globalThis.navigator?.userAgent === 'Cloudflare-Workers';

/** Device memory at or under which a page pages the embedding table (navigator.deviceMemory, GiB). */
const SMALL_DEVICE_GIB = 4;

/**
 * The residency a load picks when not told, where the source can be read at an offset (else
 * 'resident'): 'streamed' in a Worker (128 MB), 'paged' on a page of a device reporting ≤ 4 GiB
 * (most phones), 'resident' elsewhere.
 * @returns {'resident' | 'paged' | 'streamed'}
 */
export function defaultMemory() {
  if (isCloudflareWorker) return 'streamed';
  const gib = globalThis.navigator?.deviceMemory;
  return typeof gib === 'number' && gib <= SMALL_DEVICE_GIB ? 'paged' : 'resident';
}
