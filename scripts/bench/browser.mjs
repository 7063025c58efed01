#!/usr/bin/env node
// The speed and memory benchmark (ours against onnxruntime-web) in a browser, Debian's own, driven as
// the browser tests drive it (tests/browser/helpers.mjs): our engine and onnxruntime-web, each in a
// page of a fresh browser per engine × thread count, engines alternating, cross-origin isolated so
// both can use threads. Our build is the one feature detection picks there (relaxed SIMD where the
// engine validates it); onnxruntime-web runs its wasm backend (SIMD, threads, all graph
// optimizations), its best configuration in a browser without a GPU.
//   node scripts/bench/browser.mjs [--browser chromium|firefox|webkit] [--threads 1,2] [--workloads a,b,c,d,e]
//        [--runs 5] [--rounds 1] [--dir DIR] [--model ours.jv3] [--peer peer.onnx] [--budget-s 90]
//        [--memory resident|paged|streamed]   (ours; paged and streamed read the model from the browser's cache)
//        [--engines ours,peer]   (ours alone: --engines ours)
// Models as in scripts/bench/compare.mjs (made once in DIR). Load is timed from the start of the
// fetch from a local server to ready; peak RSS is the page's process's high-water mark (VmHWM: the
// renderer in Chromium, the largest content process in Firefox, the web process in WebKit).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ENGINES, launchBrowser } from '../../tests/browser/helpers.mjs';
import { defaultDir, machineCpu, options, prepare, runAndReport } from './report.mjs';
import { startStaticServer } from '../dev/static-server.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = options(args);
const timing = { runs: +opt('--runs', 5), budgetMs: +opt('--budget-s', 90) * 1000 };
const TICK = 100; // USER_HZ: /proc/<pid>/stat times are in 1/100 s
const browserName = opt('--browser', 'chromium');
if (!ENGINES.includes(browserName)) throw new Error(`--browser: one of ${ENGINES.join(', ')}`);
/** The process that runs the page, by its command line. */
const PAGE_PROCESS = { chromium: /--type=renderer/, firefox: /-contentproc/, webkit: /WebKitWebProcess/ }[browserName];

const { ours, peer } = prepare(opt('--dir', defaultDir()), { model: opt('--model'), peer: opt('--peer') });
// The server's root is the repository: the model files are linked into build/ to be served.
const served = path.join(repo, 'build', 'bench-browser');
fs.mkdirSync(served, { recursive: true });
for (const [name, target] of [['ours.jv3', ours], ['peer.onnx', peer]]) {
  fs.rmSync(path.join(served, name), { force: true });
  fs.symlinkSync(path.resolve(target), path.join(served, name));
}
const { server, url: base } = await startStaticServer({ root: repo, isolation: true, index: '/scripts/bench/page/' });

/** This process's descendants (the browser's processes, its driver's). */
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

/** CPU seconds (user + system) of the live descendants, and the highest peak RSS of the page's processes. */
function browserUsage() {
  let cpuS = 0, pagePeakMB = 0;
  for (const pid of descendants()) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuS += (+f[11] + +f[12]) / TICK;
      if (PAGE_PROCESS.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'))) {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (hwm) pagePeakMB = Math.max(pagePeakMB, +hwm[1] / 1024);
      }
    } catch { /* exited meanwhile */ }
  }
  return { cpuS, pagePeakMB };
}

async function runOne(engine, threads, group) {
  const before = machineCpu();
  const ownBefore = process.cpuUsage();
  const t0 = performance.now();
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-bench-'));
  const browser = await launchBrowser(browserName, profiles);
  let res;
  try {
    const page = await browser.newPage();
    await page.goto(`${base}/scripts/bench/page/index.html`);
    await page.waitFor(() => window.benchReady === true);
    try {
      res = await page.evaluate((job) => window.benchJob(job), {
        engine, url: `/build/bench-browser/${engine === 'ours' ? 'ours.jv3' : 'peer.onnx'}`, threads, workloads: group, memory: opt('--memory'), ...timing });
    } catch (err) {
      const errors = await page.errors().catch(() => []);
      res = { crashed: `${err.message.split('\n')[0]}${errors.length ? `; page: ${errors.join('; ')}` : ''}` };
    }
    const usage = browserUsage();
    res.peakRssMB = usage.pagePeakMB;
    res.cpuS = usage.cpuS;
  } finally {
    await browser.close();
    fs.rmSync(profiles, { recursive: true, force: true });
  }
  const wallS = (performance.now() - t0) / 1000;
  const after = machineCpu();
  // Foreign load: machine busy time spent neither by the browser nor by this process (which serves
  // the model bytes), in cores, averaged over the run.
  const own = process.cpuUsage(ownBefore);
  res.foreignCores = Math.max(0, (after.busy - before.busy - res.cpuS - (own.user + own.system) / 1e6) / wallS);
  return res;
}

let version = '';
{
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-bench-'));
  const probe = await launchBrowser(browserName, profiles);
  version = probe.version;
  await probe.close();
  fs.rmSync(profiles, { recursive: true, force: true });
}
console.log(`${version}; ours ${ours}; peer ${peer}; ${os.cpus().length} cpus, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
try {
  await runAndReport({
    label: version,
    threadList: opt('--threads', '1,2').split(',').map(Number),
    workloads: opt('--workloads', 'a,b,c,d,e').split(','),
    rounds: +opt('--rounds', 1),
    runOne,
    engines: opt('--engines', 'ours,peer').split(','),
  });
} finally {
  server.close();
}
