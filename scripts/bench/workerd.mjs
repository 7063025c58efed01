#!/usr/bin/env node
// A converted model in Cloudflare Workers' runtime (workerd, from npm), read through a binding
// with Range requests as a deployed Worker reads R2: the isolate's memory (wasm memory high-water
// mark, the JS heap's through the DevTools protocol, workerd's RSS against the same workerd idle)
// and what each call costs (wall and CPU time, bytes and range requests read). Ends by checking
// that the vectors equal resident mode's. The JS heap needs a global WebSocket (Node ≥ 22, or
// Node 20 with --experimental-websocket).
//   node scripts/bench/workerd.mjs -m model.jv3 [--memory streamed|paged] [--build relaxed|simd128]
//        [--reader stream|read] [--runs 3] [--workloads a,c,b] [--no-resident-check]
// --reader read: the reader has no stream(), so every layer is read whole into a JS buffer.
// workerd does not enforce Workers' 128 MB locally: the figures say whether a deployment would fit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { startWorkerd } from '../lib/workerd.mjs';
import { options } from './report.mjs';
import { WORKLOADS } from './workloads.mjs';

const args = process.argv.slice(2);
const opt = options(args);
const model = opt('-m');
if (!model) {
  console.error('usage: workerd.mjs -m <model file> [--memory streamed|paged] [--build relaxed|simd128] [--runs 3] [--workloads a,c,b]');
  process.exit(2);
}
const memory = opt('--memory', 'streamed');
const build = opt('--build', 'relaxed');
const reader = opt('--reader', 'stream');
const runs = +opt('--runs', 3);
const workloads = opt('--workloads', 'a,c,b').split(',');
for (const w of workloads) if (!WORKLOADS[w]) throw new Error(`unknown workload ${w}`);

const MB = 1e6;
const MiB = 2 ** 20;
const TICK_MS = 1000 / 100; // /proc times are in clock ticks (USER_HZ, 100 on Linux)

/**
 * workerd's RSS now, its high-water mark, and the RSS split into anonymous memory (what the
 * isolate and workerd allocate) and file pages (the model file mapped by the disk service that
 * plays R2 here: page cache, not the isolate's), bytes.
 */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** Peaks of workerd's anonymous and file-backed RSS, sampled every 20 ms while running. */
function rssSampler(pid) {
  const high = { anon: 0, file: 0 };
  const timer = setInterval(() => {
    try {
      const m = memoryOf(pid);
      high.anon = Math.max(high.anon, m.anon);
      high.file = Math.max(high.file, m.file);
    } catch {
      // exited
    }
  }, 20);
  return { high, stop: () => clearInterval(timer) };
}

/** CPU time workerd has used (all its threads), ms. */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-bench-workerd-'));
const served = path.join(dir, 'model.jv3');
try {
  fs.linkSync(path.resolve(model), served);
} catch {
  fs.symlinkSync(path.resolve(model), served);
}
const workerd = await startWorkerd({ worker: 'scripts/bench/workerd/worker.mjs', filesDir: dir, configDir: dir, inspector: true });

/**
 * The isolate's V8 heap, sampled through the DevTools protocol (Runtime.getHeapUsage) while
 * `sampling`: high-water marks of the used heap and of its total (reserved) size, and of the
 * ArrayBuffer backing stores where V8 reports them. Its answers come when the isolate is free
 * between awaits, which a streamed call has many of.
 */
async function heapSampler(inspectorUrl) {
  if (typeof WebSocket !== 'function') return null;
  const targets = await (await fetch(`${inspectorUrl}/json`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`cannot connect to workerd's inspector at ${targets[0].webSocketDebuggerUrl}`));
  });
  const high = { used: 0, total: 0, backing: 0 };
  let id = 0;
  let inFlight = false;
  ws.onmessage = (event) => {
    const r = JSON.parse(event.data).result;
    inFlight = false;
    if (!r || r.usedSize === undefined) return;
    high.used = Math.max(high.used, r.usedSize);
    high.total = Math.max(high.total, r.totalSize);
    high.backing = Math.max(high.backing, r.backingStorageSize ?? 0);
  };
  const sample = () => {
    if (inFlight || ws.readyState !== WebSocket.OPEN) return;
    inFlight = true;
    ws.send(JSON.stringify({ id: ++id, method: 'Runtime.getHeapUsage' }));
  };
  const timer = setInterval(sample, 20);
  return {
    high,
    reset() {
      high.used = high.total = high.backing = 0;
    },
    close() {
      clearInterval(timer);
      ws.close();
    },
  };
}

/** One request to the Worker, with its wall and CPU time. */
async function call(body) {
  const cpu0 = cpuMs(workerd.pid);
  const t0 = performance.now();
  const res = await fetch(workerd.url, { method: 'POST', body: JSON.stringify({ build, memory, reader, ...body }) });
  const json = await res.json();
  const wallMs = performance.now() - t0;
  if (json.error) throw new Error(`${json.error.code}: ${json.error.message}\n${workerd.output()}`);
  return { ...json, wallMs, cpuMs: cpuMs(workerd.pid) - cpu0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
let heap = null;
let rss = null;

try {
  const load = os.loadavg()[0];
  console.log(`model ${model}, ${memory} memory, ${build} build, reader with ${reader === 'read' ? 'read() only' : 'stream()'}, workerd ${workerd.pid ? `pid ${workerd.pid}` : '(pid not found)'}; ` +
    `${os.cpus().length} cpus, load average ${load.toFixed(2)} before the run` + (load > 0.5 ? ' (machine busy: times are not trustworthy)' : ''));
  await fetch(workerd.url); // the isolate starts on its first request
  const idle = memoryOf(workerd.pid);
  console.log(`workerd idle: RSS ${(idle.rss / MB).toFixed(0)} MB`);
  heap = await heapSampler(workerd.inspector);
  rss = rssSampler(workerd.pid);
  if (!heap) console.log('JS heap: not measured (no global WebSocket: use Node ≥ 22 or node --experimental-websocket)');
  const loaded = await call({ op: 'load' });
  const afterLoad = memoryOf(workerd.pid);
  console.log(`load: ${loaded.wallMs.toFixed(0)} ms (CPU ${loaded.cpuMs.toFixed(0)} ms), ${loaded.variant}, ${loaded.memory}; ` +
    `read ${(loaded.reads.bytes / MB).toFixed(1)} MB in ${loaded.reads.ranges} requests; wasm memory ${(loaded.heapBytes / MiB).toFixed(0)} MiB; ` +
    `workerd RSS ${(afterLoad.rss / MB).toFixed(0)} MB (+${((afterLoad.rss - idle.rss) / MB).toFixed(0)} over idle)`);
  console.log('workload | wall ms median (min–max) | CPU ms median | tokens/s | read per call: MB, requests | wasm memory MiB');
  let heapHigh = loaded.heapBytes;
  for (const w of workloads) {
    const [count, tokens] = WORKLOADS[w];
    await call({ op: 'embed', workload: w }); // warm-up: the text is searched, rows first read
    const results = [];
    for (let r = 0; r < runs; r++) results.push(await call({ op: 'embed', workload: w }));
    const walls = results.map((r) => r.wallMs);
    const last = results.at(-1);
    heapHigh = Math.max(heapHigh, ...results.map((r) => r.heapBytes));
    console.log(`${w} ${count}×${tokens} | ${median(walls).toFixed(0)} (${Math.min(...walls).toFixed(0)}–${Math.max(...walls).toFixed(0)}) | ` +
      `${median(results.map((r) => r.cpuMs)).toFixed(0)} | ${(last.tokens / (median(walls) / 1000)).toFixed(0)} | ` +
      `${(last.reads.bytes / MB).toFixed(1)}, ${last.reads.ranges} | ${(last.heapBytes / MiB).toFixed(0)}`);
  }
  const end = memoryOf(workerd.pid);
  console.log(`wasm memory high-water ${(heapHigh / MiB).toFixed(0)} MiB; workerd RSS peak ${(end.hwm / MB).toFixed(0)} MB, ` +
    `${((end.hwm - idle.rss) / MB).toFixed(0)} MB over idle; of which, at their peaks: anonymous ${(rss.high.anon / MB).toFixed(0)} MB ` +
    `(+${((rss.high.anon - idle.anon) / MB).toFixed(0)} over idle: the isolate's wasm memory, JS heap and buffers, compiled code), ` +
    `file pages ${(rss.high.file / MB).toFixed(0)} MB (the model file as the disk service maps it)`);
  rss.stop();
  if (heap) {
    const { used, total, backing } = heap.high;
    console.log(`JS heap high-water (load and calls, sampled every 20 ms): used ${(used / MiB).toFixed(1)} MiB, total ${(total / MiB).toFixed(1)} MiB` +
      (backing ? `, ArrayBuffer backing stores ${(backing / MiB).toFixed(1)} MiB` : '') +
      `; isolate ≈ wasm memory + JS heap total = ${((heapHigh + total) / MiB).toFixed(0)} MiB (${((heapHigh + total) / MB).toFixed(0)} MB)`);
    heap.close();
    heap = null;
  }
  if (!args.includes('--no-resident-check')) {
    // Same build, resident: the vectors must be the same bits (the memory figures above are done).
    const text = 'Late chunking keeps the context of the whole document in every chunk.';
    const a = await call({ op: 'vector', text });
    await call({ op: 'dispose' });
    await call({ op: 'load', memory: 'resident' });
    const b = await call({ op: 'vector', text, memory: 'resident' });
    const same = a.vector.length > 0 && a.vector.length === b.vector.length && a.vector.every((x, i) => Object.is(x, b.vector[i]));
    console.log(`vectors ${memory} vs resident: ${same ? 'identical' : 'DIFFERENT'} (${a.vector.length} dims)`);
    if (!same) process.exitCode = 1;
  }
} finally {
  heap?.close();
  rss?.stop();
  await workerd.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
