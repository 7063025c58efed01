#!/usr/bin/env node
// Load test of `jina-v3-wasm serve`: starts it on 127.0.0.1 with the fixture model (converted to
// int8 here), sends N requests with C in flight (loopback only, stopped after a time limit), and
// prints requests, failures, p50/p99 latency, req/s and the server's RSS before/after (Linux /proc).
//   node scripts/bench/serve-load.mjs [-n 10000] [-c 32] [--threads 1] [--timeout 900]   (exit 1 on any failure)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireFixtureDir } from '../lib/fixtures.mjs';
import { convertCheckpoint } from '../../js/index.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Request bodies sent in turn: both API shapes, the tasks, truncated dimensions and packed types. */
const BODIES = [
  { model: 'jina-embeddings-v3', task: 'retrieval.query', input: ['What is the capital of France?'] },
  { model: 'jina-embeddings-v3', task: 'retrieval.passage', input: [{ text: 'Paris is the capital and largest city of France. '.repeat(8) }] },
  { model: 'text-embedding-3-small', input: 'Ein kurzer deutscher Satz.', encoding_format: 'base64' },
  { task: 'text-matching', input: ['short', 'a second, somewhat longer text with émojis 🙂 and 漢字'], dimensions: 64 },
  { task: 'classification', input: 'binary packed', embedding_type: 'ubinary' },
  { task: 'separation', input: ['late', 'chunking', 'of three texts'], late_chunking: true, normalized: false },
].map((b) => JSON.stringify(b));

/** Resident set size of process `pid` in bytes (Linux). */
function rssOf(pid) {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line.split(/\s+/)[1]) * 1024;
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/** Starts `serve` on 127.0.0.1 with a free port; resolves to { child, url }. Also used by tests/node/serve.test.mjs. */
export async function startServer(modelFile, threads) {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'jina-v3-wasm.mjs'), 'serve', '-m', modelFile, '--port', '0', '--threads', String(threads)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const started = Date.now();
  while (!out.includes('\n')) {
    if (child.exitCode !== null || Date.now() - started > 60000) {
      child.kill('SIGKILL');
      throw new Error(`serve did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { url } = JSON.parse(out);
  if (new URL(url).hostname !== '127.0.0.1') throw new Error(`serve listens on ${url}, expected 127.0.0.1`);
  return { child, url };
}

/** Sends `count` requests with `concurrency` in flight; stops issuing at `deadline` (ms since epoch). */
async function drive(url, count, concurrency, deadline) {
  const latencies = [];
  const errors = new Map();
  let issued = 0;
  const fail = (why) => errors.set(why, (errors.get(why) ?? 0) + 1);
  async function worker() {
    while (issued < count && Date.now() < deadline) {
      const body = BODIES[issued++ % BODIES.length];
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const json = await res.json();
        if (res.status !== 200) fail(`HTTP ${res.status} ${json?.error?.code}`);
        else if (!Array.isArray(json.data) || json.data.length !== [JSON.parse(body).input].flat().length) fail('wrong number of embeddings');
        else latencies.push(performance.now() - t0);
      } catch (err) {
        fail(err.cause?.code ?? err.message);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, errors, notSent: count - issued };
}

/**
 * Runs the load test; resolves to its figures (bytes, milliseconds). `warmup` requests run first
 * and are not counted, so "RSS before" is the server after startup and warm-up.
 */
export async function runLoadTest({ requests = 10000, concurrency = 32, threads = 1, timeoutSeconds = 900, warmup = 200 } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-load-'));
  let child;
  try {
    const file = path.join(tmp, 'tiny-int8.jv3');
    await convertCheckpoint(requireFixtureDir(), file);
    let url;
    ({ child, url } = await startServer(file, threads));
    const deadline = Date.now() + timeoutSeconds * 1000;
    const rssStart = rssOf(child.pid);
    const warm = await drive(url, warmup, concurrency, deadline);
    const rssBefore = rssOf(child.pid);
    const t0 = performance.now();
    const run = await drive(url, requests, concurrency, deadline);
    const seconds = (performance.now() - t0) / 1000;
    const rssAfter = rssOf(child.pid);
    const sorted = run.latencies.sort((a, b) => a - b);
    const failures = [...run.errors.values()].reduce((a, b) => a + b, 0) + run.notSent;
    return {
      requests, concurrency, threads, warmup, warmupFailures: warmup - warm.latencies.length,
      failures, errors: Object.fromEntries(run.errors), notSent: run.notSent,
      p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1), reqPerSec: (requests - run.notSent) / seconds, seconds,
      rssStart, rssBefore, rssAfter, rssGrowth: rssAfter - rssBefore,
    };
  } finally {
    if (child && child.exitCode === null) {
      const killer = setTimeout(() => child.kill('SIGKILL'), 10000);
      child.kill('SIGTERM');
      await once(child, 'exit');
      clearTimeout(killer);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (flag, fallback) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : fallback);
  const r = await runLoadTest({ requests: opt('-n', 10000), concurrency: opt('-c', 32), threads: opt('--threads', 1), timeoutSeconds: opt('--timeout', 900) });
  const MiB = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(`requests      ${r.requests} (${r.concurrency} concurrent, server threads ${r.threads}, after ${r.warmup} warm-up requests)`);
  console.log(`failures      ${r.failures}${r.failures ? ` ${JSON.stringify(r.errors)}, not sent ${r.notSent}` : ''}`);
  console.log(`latency       p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms`);
  console.log(`throughput    ${r.reqPerSec.toFixed(0)} req/s (${r.seconds.toFixed(1)} s)`);
  console.log(`server RSS    ${MiB(r.rssStart)} at start, ${MiB(r.rssBefore)} after warm-up, ${MiB(r.rssAfter)} after the run (growth ${MiB(r.rssGrowth)})`);
  process.exitCode = r.failures || r.warmupFailures ? 1 : 0;
}
