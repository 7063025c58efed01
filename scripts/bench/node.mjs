#!/usr/bin/env node
// Speed and memory of a converted model in Node: load time, peak RSS and embedding latency for
// fixed token-count workloads, each thread count in a fresh process.
//   node scripts/bench/node.mjs -m model.jv3 [--threads 1,2] [--runs 5] [--workloads a,b,c] [--memory resident|paged]
//        [--row-cache N]   (paged: 1 makes every call read all its rows again, the cost of cold rows)
//        [--variant wasm-st-relaxed|wasm-st|…]   (a build forced, e.g. to compare the single-thread ones)
// Runs under Deno too, each thread count in a fresh Deno: deno run -A scripts/bench/node.mjs -m model.jv3 --threads 1
// Workloads: a 1×16, b 8×128, c 1×512, d 1×2048, e 1×8192 tokens (with <s>/</s>, no task).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

import { JinaEmbeddings, loadModule } from '../../js/index.mjs';
import { options } from './report.mjs';
import { textOfTokens, WORKLOADS } from './workloads.mjs';

const args = process.argv.slice(2);
// The last occurrence wins: a child gets the parent's arguments followed by its own.
const opt = options(args);
const model = opt('-m');
if (!model) {
  console.error('usage: bench-node.mjs -m <model file> [--threads 1,2] [--runs 5] [--workloads a,b,c]');
  process.exit(2);
}
const runs = +opt('--runs', 5);
const workloads = opt('--workloads', 'a,b,c').split(',');
const memory = opt('--memory', 'resident');
const rowCache = opt('--row-cache') ? +opt('--row-cache') : undefined;
const variant = opt('--variant');
const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : `node ${process.version}`;
/** Peak RSS of this process, MB (where the runtime reports it). */
const peakRssMB = () => (typeof process.resourceUsage === 'function' ? process.resourceUsage().maxRSS / 1024 : NaN);


async function child(threads) {
  const t0 = performance.now();
  const m = await JinaEmbeddings.load(model, { threads, memory, rowCache, variant });
  const loadMs = performance.now() - t0;
  const rssAfterLoad = process.memoryUsage().rss;
  // The shared module instance the model runs on: its memory is the wasm heap (never shrinks).
  const Module = await loadModule(undefined, { variant: m.info.variant });
  const heapMiB = () => Module.HEAPU8.length / 2 ** 20;
  const out = { threads, variant: m.info.variant, loadMs, rssAfterLoadMB: rssAfterLoad / 2 ** 20, heapAfterLoadMiB: heapMiB(), workloads: {} };
  for (const w of workloads) {
    const [count, tokens] = WORKLOADS[w];
    const texts = Array(count).fill(await textOfTokens(m, tokens));
    const actual = await m.countTokens(texts[0]);
    await m.embed(texts); // warm-up: operator reshape, buffers
    const times = [];
    for (let r = 0; r < runs; r++) {
      const s = performance.now();
      await m.embed(texts);
      times.push(performance.now() - s);
    }
    times.sort((x, y) => x - y);
    const median = times[times.length >> 1];
    out.workloads[w] = { count, tokens: actual, medianMs: median, minMs: times[0], maxMs: times.at(-1),
      tokensPerS: (count * actual) / (median / 1000), heapMiB: heapMiB() };
  }
  // Paged: what the warm-ups and timed runs read (rows of a repeated text are read once).
  out.pageStats = m.pageStats;
  await m.dispose();
  out.peakRssMB = peakRssMB();
  console.log(JSON.stringify(out));
  process.exit(0);
}

if (args.includes('--child')) {
  await child(+opt('--threads'));
} else {
  const load = os.loadavg()[0];
  console.log(`model ${model}, ${memory} memory, ${runtime}; ${os.cpus().length} cpus, load average ${load.toFixed(2)} before the run` +
    (load > 0.5 ? ' (machine busy: figures are not trustworthy)' : ''));
  console.log('threads | load ms | RSS after load MB | peak RSS MB | workload: median ms (min–max), tokens/s');
  for (const threads of opt('--threads', '1,2').split(',').map(Number)) {
    const self = fileURLToPath(import.meta.url);
    const res = JSON.parse(execFileSync(process.execPath, [...(globalThis.Deno ? ['run', '-A', self] : [self]), ...args, '--child',
      '--threads', String(threads)], { encoding: 'utf8', maxBuffer: 1 << 24 }).trim().split('\n').at(-1));
    const parts = Object.entries(res.workloads).map(([w, r]) =>
      `${w} ${r.count}×${r.tokens}: ${r.medianMs.toFixed(0)} ms (${r.minMs.toFixed(0)}–${r.maxMs.toFixed(0)}), ${r.tokensPerS.toFixed(0)} tok/s, heap ${r.heapMiB.toFixed(0)} MiB`);
    console.log(`${threads} | ${res.loadMs.toFixed(0)} | ${res.rssAfterLoadMB.toFixed(0)} | ${res.peakRssMB.toFixed(0)} | ${parts.join('; ')}`);
    console.log(`  ${res.variant}; wasm heap after load ${res.heapAfterLoadMiB.toFixed(0)} MiB`);
    if (res.pageStats) console.log(`  paged reads: ${JSON.stringify(res.pageStats)}`);
  }
}
