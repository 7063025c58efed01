// A model reader over a Worker binding that answers Range requests, as a deployed Worker reads an
// R2 object (`bucket.get(key, { range })`): what the workerd test and benchmark Workers pass to load().

/**
 * `{ size, read, stream }` for `url` through `binding` (its fetch). `onRequest(length)` is called
 * for each range request made (the benchmark counts them).
 */
export async function rangeReader(binding, url, onRequest = () => {}) {
  const head = await binding.fetch(url, { method: 'HEAD' });
  const size = Number(head.headers.get('content-length'));
  const get = async (offset, length) => {
    const res = await binding.fetch(url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
    // A range that is the whole file may be answered with 200 and the whole body (workerd's disk service does).
    if (res.status !== 206 && !(res.status === 200 && offset === 0 && length === size)) {
      res.body?.cancel();
      throw new Error(`HTTP ${res.status} for a range request`);
    }
    onRequest(length);
    return res;
  };
  return {
    size,
    read: async (offset, length) => new Uint8Array(await (await get(offset, length)).arrayBuffer()),
    // A layer's bytes go to the engine as they arrive, never held whole in JS memory.
    stream: async (offset, length) => (await get(offset, length)).body,
  };
}
