#!/usr/bin/env node
// The speed and memory benchmark (ours against onnxruntime-web) in headless Chromium (Debian's /usr/bin/chromium): our engine and
// onnxruntime-web, each in a page of a fresh browser per engine × thread count, engines alternating,
// cross-origin isolated so both can use threads. Our build is the one feature detection picks there
// (relaxed SIMD where Chromium validates it); onnxruntime-web runs its wasm backend (SIMD, threads,
// all graph optimizations), its best configuration in a browser without a GPU.
//   node scripts/bench/chromium.mjs [--threads 1,2] [--workloads a,b,c,d,e] [--runs 5] [--rounds 1]
//        [--dir DIR] [--model ours.jv3] [--peer peer.onnx] [--budget-s 90]
// Models as in scripts/bench/compare.mjs (made once in DIR). Load is timed from the start of the
// fetch from a local server to ready; peak RSS is the renderer process's high-water mark (VmHWM).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchChromium } from '../../tests/browser/helpers.mjs';
import { defaultDir, machineCpu, options, prepare, runAndReport } from './report.mjs';
import { startStaticServer } from '../dev/static-server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = options(args);
const timing = { runs: +opt('--runs', 5), budgetMs: +opt('--budget-s', 90) * 1000 };
const TICK = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s

const { ours, peer } = prepare(opt('--dir', defaultDir()), { model: opt('--model'), peer: opt('--peer') });
// The server's root is the repository: the model files are linked into build/ to be served.
const served = path.join(repo, 'build', 'bench-chromium');
fs.mkdirSync(served, { recursive: true });
for (const [name, target] of [['ours.jv3', ours], ['peer.onnx', peer]]) {
  fs.rmSync(path.join(served, name), { force: true });
  fs.symlinkSync(path.resolve(target), path.join(served, name));
}
const { server, url: base } = await startStaticServer({ root: repo, isolation: true, index: '/scripts/bench/chromium/' });

/** This process's descendants (Chromium's browser, renderer, GPU and utility processes). */
function descendants() {
  const parent = new Map();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(+pid, +stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch { /* exited meanwhile */ }
  }
  const out = [];
  const walk = (pid) => {
    for (const [child, ppid] of parent) if (ppid === pid) { out.push(child); walk(child); }
  };
  walk(process.pid);
  return out;
}

/** CPU seconds (user + system) and, for renderers, the peak RSS of each live descendant. */
function chromiumUsage() {
  let cpuS = 0, rendererPeakMB = 0;
  for (const pid of descendants()) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuS += (+f[11] + +f[12]) / TICK;
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (hwm) rendererPeakMB = Math.max(rendererPeakMB, +hwm[1] / 1024);
      }
    } catch { /* exited meanwhile */ }
  }
  return { cpuS, rendererPeakMB };
}

async function runOne(engine, threads, group) {
  const before = machineCpu();
  const ownBefore = process.cpuUsage();
  const t0 = performance.now();
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-bench-'));
  const browser = await launchChromium(profiles);
  let res;
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${base}/scripts/bench/chromium/index.html`);
    await page.waitForFunction(() => window.benchReady === true);
    try {
      res = await page.evaluate((job) => window.benchJob(job), {
        engine, url: `/build/bench-chromium/${engine === 'ours' ? 'ours.jv3' : 'peer.onnx'}`, threads, workloads: group, ...timing });
    } catch (err) {
      res = { crashed: `${err.message.split('\n')[0]}${errors.length ? `; page: ${errors.join('; ')}` : ''}` };
    }
    const usage = chromiumUsage();
    res.peakRssMB = usage.rendererPeakMB;
    res.cpuS = usage.cpuS;
  } finally {
    await browser.close();
    fs.rmSync(profiles, { recursive: true, force: true });
  }
  const wallS = (performance.now() - t0) / 1000;
  const after = machineCpu();
  // Foreign load: machine busy time spent neither by Chromium nor by this process (which serves
  // the model bytes), in cores, averaged over the run.
  const own = process.cpuUsage(ownBefore);
  res.foreignCores = Math.max(0, (after.busy - before.busy - res.cpuS - (own.user + own.system) / 1e6) / wallS);
  return res;
}

console.log(`ours ${ours}; peer ${peer}; ${os.cpus().length} cpus, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
try {
  await runAndReport({
    label: 'chromium',
    threadList: opt('--threads', '1,2').split(',').map(Number),
    workloads: opt('--workloads', 'a,b,c,d,e').split(','),
    rounds: +opt('--rounds', 1),
    runOne,
  });
} finally {
  server.close();
}
