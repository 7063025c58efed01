// The two engines of the speed and memory benchmark, timed the same way in Node (scripts/bench/compare.mjs)
// and in a browser page (scripts/bench/browser.mjs): load, then each workload warmed up and timed.
import { textOfTokens, WORKLOADS } from './workloads.mjs';

/**
 * Times `fn`: one warm-up, then up to `runs` timed runs within `budgetMs` (a warm-up longer than
 * 10 s counts as a timed run: reshape costs are noise at that length).
 */
export async function timeRuns(fn, { runs, budgetMs }) {
  const times = [];
  const w = performance.now();
  await fn();
  const warm = performance.now() - w;
  if (warm > 10000) times.push(warm);
  const start = performance.now();
  while (times.length < runs && (times.length === 0 || performance.now() - start + warm < budgetMs)) {
    const s = performance.now();
    await fn();
    times.push(performance.now() - s);
  }
  times.sort((x, y) => x - y);
  return { runs: times.length, medianMs: times[times.length >> 1], minMs: times[0], maxMs: times.at(-1) };
}

/**
 * Our engine: `JinaEmbeddings.load(source, { threads })` timed to ready, then each workload embedded
 * from text (tokenization included; also timed alone).
 * @param {{ JinaEmbeddings: any, source: any, threads: number, workloads: string[], runs: number, budgetMs: number }} o
 */
export async function benchOurs({ JinaEmbeddings, source, threads, workloads, runs, budgetMs, memory }) {
  const t0 = performance.now();
  const m = await JinaEmbeddings.load(source, { threads, memory });
  const out = { loadMs: performance.now() - t0, variant: m.info.variant, threads: m.info.threads, memory: m.info.memory, workloads: {} };
  for (const w of workloads) {
    const [count, tokens] = WORKLOADS[w];
    const texts = Array(count).fill(await textOfTokens(m, tokens));
    const tok = await timeRuns(() => m.tokenize(texts), { runs, budgetMs });
    try {
      const r = await timeRuns(() => m.embed(texts), { runs, budgetMs });
      out.workloads[w] = { ...r, count, tokens: await m.countTokens(texts[0]), tokenizeMs: tok.medianMs };
    } catch (err) {
      out.workloads[w] = { error: `${err.code ?? ''} ${err.message}`.trim() };
    }
  }
  await m.dispose();
  return out;
}

/**
 * onnxruntime-web on the peer model: `loadBytes()` and session creation timed to ready, then each
 * workload run on token ids shaped as a tokenizer gives them (<s> … </s>, the row repeated).
 * @param {{ ort: any, loadBytes: () => Promise<Uint8Array>, threads: number, workloads: string[], runs: number, budgetMs: number }} o
 */
export async function benchPeer({ ort, loadBytes, threads, workloads, runs, budgetMs }) {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(await loadBytes(), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  // What onnxruntime-web made of the thread count (it falls back to 1 where it cannot run threads).
  const out = { loadMs: performance.now() - t0, threads, threadsUsed: ort.env.wasm.numThreads, workloads: {} };
  for (const w of workloads) {
    const [count, tokens] = WORKLOADS[w];
    const row = Array.from({ length: tokens }, (_, i) => (i === 0 ? 0n : i === tokens - 1 ? 2n : BigInt(5 + ((i * 7919) % 250000))));
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: count * tokens }, (_, i) => row[i % tokens]), [count, tokens]);
    const mask = new ort.Tensor('int64', new BigInt64Array(count * tokens).fill(1n), [count, tokens]);
    try {
      const r = await timeRuns(async () => {
        const res = await session.run({ input_ids: ids, attention_mask: mask });
        res.last_hidden_state.dispose();
      }, { runs, budgetMs });
      out.workloads[w] = { ...r, count, tokens };
    } catch (err) {
      out.workloads[w] = { error: String(err.message ?? err).split('\n')[0].slice(0, 160) };
    }
  }
  await session.release();
  return out;
}
