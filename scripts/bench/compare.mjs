#!/usr/bin/env node
// Our engine against onnxruntime-web on a model of the same shape, in Node: load time, peak RSS and
// embedding latency per workload, one fresh process per engine and thread count, engines alternating,
// with the CPU time other processes took during each run (the machines are shared).
//   node scripts/bench/compare.mjs [--threads 1,2] [--workloads a,b,c,d,e] [--runs 5] [--rounds 1]
//        [--dir DIR] [--model ours.jv3] [--peer peer.onnx] [--budget-s 90] [--node 24 | --node /path/to/node]
// --node runs the measured processes on another Node: a major version (installed from the npm
// registry by scripts/deps/node.sh, as the tests do) or a binary's path; default: this one.
// Without --model/--peer it makes them once in DIR (default ~/.cache/jina-v3-wasm/bench): a full-size
// random checkpoint converted by our converter, and the ONNX peer written by scripts/bench/make-onnx-peer.py
// (Debian's /usr/bin/python3 with python3-onnx and python3-numpy).
// Workloads (tokens with <s>/</s>, no task): a 1×16, b 8×128, c 1×512, d 1×2048, e 1×8192.
// Each workload: one warm-up run, then up to --runs timed runs within --budget-s seconds.
// Our latency includes tokenization (embed() takes text); the peer gets token ids. Tokenization is
// also timed on its own and printed in its own column. scripts/bench/browser.mjs is the same in a browser.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

import { benchOurs, benchPeer } from './engines.mjs';
import { defaultDir, machineCpu, options, prepare, runAndReport } from './report.mjs';

const args = process.argv.slice(2);
const opt = options(args);
const timing = { runs: +opt('--runs', 5), budgetMs: +opt('--budget-s', 90) * 1000 };
const workloads = opt('--workloads', 'a,b,c,d,e').split(',');

if (args.includes('--child')) {
  const engine = opt('--child'), file = opt('--file'), threads = +opt('--threads');
  const only = opt('--only').split(',');
  const out = engine === 'ours'
    ? await benchOurs({ JinaEmbeddings: (await import('../../js/index.mjs')).JinaEmbeddings, source: file, threads, workloads: only, ...timing })
    : await benchPeer({ ort: await import('onnxruntime-web'), loadBytes: async () => fs.readFileSync(file), threads, workloads: only, ...timing });
  const ru = process.resourceUsage();
  out.peakRssMB = ru.maxRSS / 1024;
  out.cpuS = (ru.userCPUTime + ru.systemCPUTime) / 1e6;
  console.log(JSON.stringify(out));
  process.exit(0);
}

/** The Node binary of the measured processes (see --node). */
function nodeBinary(wanted) {
  if (!wanted) return process.execPath;
  if (!/^\d+$/.test(wanted)) return wanted;
  const r = spawnSync('bash', [fileURLToPath(new URL('../deps/node.sh', import.meta.url)), wanted], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/deps/node.sh ${wanted} failed`);
  return r.stdout.trim();
}
const node = nodeBinary(opt('--node'));
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();

const { ours, peer } = prepare(opt('--dir', defaultDir()), { model: opt('--model'), peer: opt('--peer') });
console.log(`ours ${ours} (${(fs.statSync(ours).size / 2 ** 20).toFixed(0)} MiB); peer ${peer} (${(fs.statSync(peer).size / 2 ** 20).toFixed(0)} MiB)`);
console.log(`node ${nodeVersion} (${node}), ${os.cpus().length} cpus, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

await runAndReport({
  label: `node ${nodeVersion}`,
  threadList: opt('--threads', '1,2').split(',').map(Number),
  workloads,
  rounds: +opt('--rounds', 1),
  runOne(engine, threads, group) {
    const before = machineCpu();
    const t0 = performance.now();
    const r = spawnSync(node, [fileURLToPath(import.meta.url), ...args, '--child', engine,
      '--file', engine === 'ours' ? ours : peer, '--threads', String(threads), '--only', group.join(',')],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
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
    res.foreignCores = Math.max(0, (after.busy - before.busy - (res.cpuS ?? 0)) / wallS);
    return res;
  },
});
