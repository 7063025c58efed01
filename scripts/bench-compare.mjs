#!/usr/bin/env node
// Our engine against onnxruntime-web on a model of the same shape, in Node: load time, peak RSS and
// embedding latency per workload, one fresh process per engine and thread count, engines alternating,
// with the CPU time other processes took during each run (the machines are shared).
//   node scripts/bench-compare.mjs [--threads 1,2] [--workloads a,b,c,d,e] [--runs 5] [--rounds 1]
//        [--dir DIR] [--model ours.jv3] [--peer peer.onnx] [--budget-s 90]
// Without --model/--peer it makes them once in DIR (default ~/.cache/jina-v3-wasm/bench): a full-size
// random checkpoint converted by our converter, and the ONNX peer written by scripts/bench/make-onnx-peer.py
// (Debian's /usr/bin/python3 with python3-onnx and python3-numpy).
// Workloads (tokens with <s>/</s>, no task): a 1×16, b 8×128, c 1×512, d 1×2048, e 1×8192.
// Each workload: one warm-up run, then up to --runs timed runs within --budget-s seconds (a warm-up
// longer than 10 s counts as a timed run: reshape costs are noise at that length).
// Our latency includes tokenization (embed() takes text); the peer gets token ids. Tokenization is
// also timed on its own and printed in its own column.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { textOfTokens, WORKLOADS } from './bench/workloads.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
// The last occurrence wins: a child gets the parent's arguments followed by its own.
const opt = (name, dflt) => {
  const i = args.lastIndexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const runs = +opt('--runs', 5);
const budgetMs = +opt('--budget-s', 90) * 1000;
const workloads = opt('--workloads', 'a,b,c,d,e').split(',');
// e runs in a process of its own, so the a–d peak RSS is not e's.
const groups = [workloads.filter((w) => w !== 'e'), workloads.filter((w) => w === 'e')].filter((g) => g.length);
const childWorkloads = (opt('--only') ?? '').split(',').filter(Boolean);

// Times `fn` over the workload: warm-up, then timed runs within the budget.
async function timeRuns(fn) {
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


async function childOurs(file, threads) {
  const { JinaEmbeddings } = await import('../js/index.mjs');
  const t0 = performance.now();
  const m = await JinaEmbeddings.load(file, { threads });
  const out = { loadMs: performance.now() - t0, workloads: {} };
  for (const w of childWorkloads) {
    const [count, tokens] = WORKLOADS[w];
    const texts = Array(count).fill(await textOfTokens(m, tokens));
    const tok = await timeRuns(() => m.tokenize(texts));
    try {
      const r = await timeRuns(() => m.embed(texts));
      out.workloads[w] = { ...r, count, tokens: await m.countTokens(texts[0]), tokenizeMs: tok.medianMs };
    } catch (err) {
      out.workloads[w] = { error: `${err.code ?? ''} ${err.message}`.trim() };
    }
  }
  await m.dispose();
  return out;
}

async function childPeer(file, threads) {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(fs.readFileSync(file), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const out = { loadMs: performance.now() - t0, workloads: {} };
  for (const w of childWorkloads) {
    const [count, tokens] = WORKLOADS[w];
    // Token ids as a tokenizer would give them: <s> … </s>, the same row repeated like our texts.
    const row = Array.from({ length: tokens }, (_, i) => (i === 0 ? 0n : i === tokens - 1 ? 2n : BigInt(5 + ((i * 7919) % 250000))));
    const ids = new ort.Tensor('int64', BigInt64Array.from({ length: count * tokens }, (_, i) => row[i % tokens]), [count, tokens]);
    const mask = new ort.Tensor('int64', new BigInt64Array(count * tokens).fill(1n), [count, tokens]);
    try {
      const r = await timeRuns(async () => {
        const res = await session.run({ input_ids: ids, attention_mask: mask });
        res.last_hidden_state.dispose();
      });
      out.workloads[w] = { ...r, count, tokens };
    } catch (err) {
      out.workloads[w] = { error: String(err.message ?? err).split('\n')[0].slice(0, 160) };
    }
  }
  await session.release();
  return out;
}

// Busy and total CPU seconds of the whole machine so far (/proc/stat, USER_HZ = 100).
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

function prepare(dir) {
  fs.mkdirSync(dir, { recursive: true });
  let ours = opt('--model'), peer = opt('--peer');
  if (!ours) {
    ours = path.join(dir, 'random-full.int8.jv3');
    if (!fs.existsSync(ours)) {
      const ckpt = path.join(dir, 'random-full');
      console.log(`writing a full-size random checkpoint to ${ckpt} and converting it to ${ours}`);
      execFileSync(process.execPath, [path.join(repo, 'scripts/make-random-checkpoint.mjs'), ckpt], { stdio: 'inherit' });
      execFileSync(process.execPath, [path.join(repo, 'bin/jina-v3-wasm.mjs'), 'convert', ckpt, '-o', ours], { stdio: 'inherit' });
    }
  }
  if (!peer) {
    peer = path.join(dir, 'peer-q8.onnx');
    if (!fs.existsSync(peer)) {
      console.log(`writing the ONNX peer to ${peer}`);
      const r = spawnSync('/usr/bin/python3', [path.join(repo, 'scripts/bench/make-onnx-peer.py'), `${peer}.part`], { stdio: 'inherit' });
      if (r.status !== 0) {
        console.error('make-onnx-peer.py failed: it needs Debian\'s python3-onnx and python3-numpy (apt-get install python3-onnx python3-numpy)');
        process.exit(1);
      }
      fs.renameSync(`${peer}.part`, peer);
    }
  }
  return { ours, peer };
}

function runChild(engine, file, threads, group) {
  const before = machineCpu();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args, '--child', engine, '--file', file,
    '--threads', String(threads), '--only', group.join(',')], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const wallS = (performance.now() - t0) / 1000;
  const after = machineCpu();
  const line = (r.stdout || '').trim().split('\n').at(-1);
  let res;
  try {
    res = JSON.parse(line);
  } catch {
    const lines = (r.stderr || '').trim().split('\n');
    res = { crashed: `exit ${r.status ?? r.signal}: ${lines.find((l) => /Error|error/.test(l)) ?? lines.at(-1)}` };
  }
  // Foreign load: machine busy time not spent by the child, in cores, averaged over the child's life.
  const own = res.cpuS ?? 0;
  res.foreignCores = Math.max(0, (after.busy - before.busy - own) / wallS);
  return res;
}

const fmt = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

if (args.includes('--child')) {
  const engine = opt('--child'), file = opt('--file'), threads = +opt('--threads');
  const out = engine === 'ours' ? await childOurs(file, threads) : await childPeer(file, threads);
  const ru = process.resourceUsage();
  out.peakRssMB = ru.maxRSS / 1024;
  out.cpuS = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
  console.log(JSON.stringify(out));
  process.exit(0);
} else {
  const dir = opt('--dir', path.join(process.env.JV3_CACHE || path.join(os.homedir(), '.cache/jina-v3-wasm'), 'bench'));
  const { ours, peer } = prepare(dir);
  const threadList = opt('--threads', '1,2').split(',').map(Number);
  const rounds = +opt('--rounds', 1);
  console.log(`ours ${ours} (${fmt(fs.statSync(ours).size / 2 ** 20)} MiB); peer ${peer} (${fmt(fs.statSync(peer).size / 2 ** 20)} MiB)`);
  console.log(`node ${process.version}, ${os.cpus().length} cpus, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const results = [];
  for (let round = 0; round < rounds; round++) {
    for (const threads of threadList) {
      const order = (round + threads) % 2 ? ['peer', 'ours'] : ['ours', 'peer'];
      for (const group of groups) {
        for (const engine of order) {
          const res = runChild(engine, engine === 'ours' ? ours : peer, threads, group);
          results.push({ engine, threads, round, group: group.join(''), ...res });
          console.error(`done: ${engine} ${threads} thread(s) ${group}, round ${round + 1}: foreign load ${fmt(res.foreignCores, 2)} cores`);
        }
      }
    }
  }
  // Foreign load above a quarter core means another process took CPU from the measured one.
  const flag = (r) => (r.foreignCores > 0.25 ? ` (foreign load ${fmt(r.foreignCores, 2)}: not trustworthy)` : '');
  console.log('\nengine | threads | round | workloads | load ms | peak RSS MB | foreign load (cores) | crashed');
  for (const r of results) {
    console.log(`${r.engine} | ${r.threads} | ${r.round + 1} | ${r.group} | ${fmt(r.loadMs)} | ${fmt(r.peakRssMB)} | ${fmt(r.foreignCores, 2)}${flag(r)} | ${r.crashed ?? ''}`);
  }
  console.log('\nworkload | threads | engine | median ms (min–max, runs) | tokens/s | tokenize ms');
  for (const w of workloads) {
    for (const r of results) {
      const x = r.workloads?.[w];
      if (!x) continue;
      const row = x.error ? `failed: ${x.error}` :
        `${fmt(x.medianMs)} (${fmt(x.minMs)}–${fmt(x.maxMs)}, ${x.runs}) | ${fmt((x.count * x.tokens) / (x.medianMs / 1000), 1)} | ${x.tokenizeMs === undefined ? '' : fmt(x.tokenizeMs, 2)}`;
      console.log(`${w} | ${r.threads} | ${r.engine} r${r.round + 1} | ${row}${flag(r)}`);
    }
  }
  console.log('\nours / peer (medians over rounds; time ratio for a, throughput ratio for b–e; RSS and load as ratios)');
  const med = (xs) => xs.sort((p, q) => p - q)[xs.length >> 1];
  for (const threads of threadList) {
    const pick = (engine) => results.filter((r) => r.engine === engine && r.threads === threads);
    const o = pick('ours'), p = pick('peer');
    const parts = workloads.map((w) => {
      const om = o.map((r) => r.workloads?.[w]?.medianMs).filter((x) => x !== undefined);
      const pm = p.map((r) => r.workloads?.[w]?.medianMs).filter((x) => x !== undefined);
      if (!om.length || !pm.length) return `${w} –`;
      return w === 'a' ? `a time ${fmt(med(om) / med(pm), 2)}×` : `${w} tok/s ${fmt(med(pm) / med(om), 2)}×`;
    });
    const main = (rs) => rs.filter((r) => r.group === groups[0].join('') && r.peakRssMB);
    const rss = med(main(o).map((r) => r.peakRssMB)) / med(main(p).map((r) => r.peakRssMB));
    const load = med(o.map((r) => r.loadMs)) / med(p.map((r) => r.loadMs));
    console.log(`${threads} thread(s): ${parts.join('; ')}; peak RSS (${groups[0].join('')}) ${fmt(rss, 2)}×; load ${fmt(load, 2)}×`);
  }
}
