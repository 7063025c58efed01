#!/usr/bin/env node
// Leak check: N load → embed → dispose cycles of one model file in one wasm module, plus failed and
// aborted loads, reporting wasm memory and process RSS; exits 1 if memory keeps growing.
//   node scripts/check/load-cycles.mjs [-n 1000] [-m model.jv3]   (default: the fixture, converted to int8)
// The wasm heap never shrinks, so a leak shows as growth of its size after the first cycles.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireFixtureDir } from '../lib/fixtures.mjs';
import { convertCheckpoint, JinaEmbeddings, loadModule } from '../../js/index.mjs';

const args = process.argv.slice(2);
const opt = (flag, fallback) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : fallback);
const cycles = Number(opt('-n', 1000));
let file = opt('-m', null);
let tmp;
if (!file) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-cycles-'));
  file = path.join(tmp, 'tiny-int8.jv3');
  await convertCheckpoint(requireFixtureDir(), file);
}
const bytes = new Uint8Array(fs.readFileSync(file));
const corrupt = bytes.slice();
corrupt[corrupt.length >> 1] ^= 1;

const Module = await loadModule({});
const MiB = (n) => (n / 2 ** 20).toFixed(1);
const sample = () => ({ wasm: Module.HEAPU8.buffer.byteLength, rss: process.memoryUsage().rss });
const samples = [];
const t0 = Date.now();
for (let i = 1; i <= cycles; i++) {
  const model = await JinaEmbeddings.load(bytes, { threads: 1, module: Module });
  await model.embed(['a short text', 'another one'], { task: 'retrieval.query' });
  await model.dispose();
  // Every 10th cycle also fails a load halfway (checksum) and aborts one.
  if (i % 10 === 0) {
    await JinaEmbeddings.load(corrupt, { threads: 1, module: Module }).catch(() => {});
    const controller = new AbortController();
    const chunks = (async function* () {
      yield bytes.subarray(0, bytes.length >> 1);
      controller.abort();
      yield bytes.subarray(bytes.length >> 1);
    })();
    await JinaEmbeddings.load(chunks, { threads: 1, module: Module, signal: controller.signal }).catch(() => {});
  }
  if (i === 10 || i % Math.max(1, Math.floor(cycles / 10)) === 0) samples.push({ cycle: i, ...sample() });
}
const first = samples[0];
const last = samples[samples.length - 1];
console.log(`${cycles} load/embed/dispose cycles of ${path.basename(file)} (${MiB(bytes.length)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
for (const s of samples) console.log(`  after ${String(s.cycle).padStart(5)}: wasm memory ${MiB(s.wasm)} MiB, RSS ${MiB(s.rss)} MiB`);
const wasmGrowth = last.wasm - first.wasm;
const rssGrowth = last.rss - first.rss;
console.log(`growth from cycle ${first.cycle} to ${last.cycle}: wasm ${MiB(wasmGrowth)} MiB, RSS ${MiB(rssGrowth)} MiB`);
if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
// One model's worth of growth is allocator noise; a leak of even one copy per 100 cycles exceeds it.
const limit = Math.max(bytes.length, 16 * 2 ** 20);
if (cycles >= 50 && (wasmGrowth > limit || rssGrowth > 4 * limit)) {
  console.error(`memory grew by more than ${MiB(limit)} MiB: a leak`);
  process.exit(1);
}
process.exit(0);
