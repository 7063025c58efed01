// Node side of the speed and memory benchmark, shared by scripts/bench/compare.mjs (Node) and
// scripts/bench/browser.mjs: the two model files, the machine's CPU accounting, the printed table.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Arguments reader: the last occurrence wins (a child gets the parent's arguments, then its own). */
export function options(args) {
  return (name, dflt) => {
    const i = args.lastIndexOf(name);
    return i >= 0 ? args[i + 1] : dflt;
  };
}

export const defaultDir = () => path.join(process.env.JV3_CACHE || path.join(os.homedir(), '.cache/jina-v3-wasm'), 'bench');

/** Workload groups, one process each: e alone, so that the a–d peak RSS is not e's. */
export const groupsOf = (workloads) =>
  [workloads.filter((w) => w !== 'e'), workloads.filter((w) => w === 'e')].filter((g) => g.length);

/** Busy and total CPU seconds of the whole machine so far (/proc/stat, USER_HZ = 100). */
export function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

/**
 * The two model files: given, or made once in `dir` (a full-size random checkpoint converted by our
 * converter; the ONNX peer written by make-onnx-peer.py with Debian's python3-onnx and numpy).
 */
export function prepare(dir, { model, peer }) {
  fs.mkdirSync(dir, { recursive: true });
  let ours = model;
  if (!ours) {
    ours = path.join(dir, 'random-full.int8.jv3');
    if (!fs.existsSync(ours)) {
      const ckpt = path.join(dir, 'random-full');
      console.log(`writing a full-size random checkpoint to ${ckpt} and converting it to ${ours}`);
      execFileSync(process.execPath, [path.join(repo, 'scripts/bench/make-random-checkpoint.mjs'), ckpt], { stdio: 'inherit' });
      execFileSync(process.execPath, [path.join(repo, 'bin/jina-v3-wasm.mjs'), 'convert', ckpt, '-o', ours], { stdio: 'inherit' });
    }
  }
  if (!peer) {
    // Named for its graph: a cached peer of the earlier graph (whole table dequantized) is not reused.
    peer = path.join(dir, 'peer-q8-gather-first.onnx');
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

const fmt = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

/**
 * Runs every (round, threads, group, engine) through `await runOne(engine, threads, group)` — engines
 * alternating — and prints the per-run table, per-workload figures and ours/peer ratios.
 * `runOne` returns the engine's result plus `foreignCores` (CPU other processes took, in cores).
 * `engines` may leave one out (e.g. ours alone in another memory mode).
 */
export async function runAndReport({ threadList, workloads, rounds, runOne, label, engines = ['ours', 'peer'] }) {
  const groups = groupsOf(workloads);
  const results = [];
  for (let round = 0; round < rounds; round++) {
    for (const threads of threadList) {
      const order = ((round + threads) % 2 ? ['peer', 'ours'] : ['ours', 'peer']).filter((e) => engines.includes(e));
      for (const group of groups) {
        for (const engine of order) {
          const res = await runOne(engine, threads, group);
          results.push({ engine, threads, round, group: group.join(''), ...res });
          console.error(`done: ${label} ${engine} ${threads} thread(s) ${group}, round ${round + 1}: foreign load ${fmt(res.foreignCores, 2)} cores`);
        }
      }
    }
  }
  // Foreign load above a quarter core means another process took CPU from the measured one.
  const flag = (r) => (r.foreignCores > 0.25 ? ` (foreign load ${fmt(r.foreignCores, 2)}: not trustworthy)` : '');
  console.log(`\n${label}: engine | threads (peer: as onnxruntime-web set them after loading) | round | workloads | build | load ms | peak RSS MB | foreign load (cores) | crashed`);
  for (const r of results) {
    console.log(`${r.engine} | ${r.threads}${r.threadsUsed !== undefined && r.threadsUsed !== r.threads ? ` (used ${r.threadsUsed})` : ''} | ${r.round + 1} | ${r.group} | ${r.variant ?? ''}${r.memory && r.memory !== 'resident' ? ` (${r.memory})` : ''} | ${fmt(r.loadMs)} | ${fmt(r.peakRssMB)} | ${fmt(r.foreignCores, 2)}${flag(r)} | ${r.crashed ?? ''}`);
  }
  console.log(`\n${label}: workload | threads | engine | median ms (min–max, runs) | tokens/s | tokenize ms`);
  for (const w of workloads) {
    for (const r of results) {
      const x = r.workloads?.[w];
      if (!x) continue;
      const row = x.error ? `failed: ${x.error}` :
        `${fmt(x.medianMs)} (${fmt(x.minMs)}–${fmt(x.maxMs)}, ${x.runs}) | ${fmt((x.count * x.tokens) / (x.medianMs / 1000), 1)} | ${x.tokenizeMs === undefined ? '' : fmt(x.tokenizeMs, 2)}`;
      console.log(`${w} | ${r.threads} | ${r.engine} r${r.round + 1} | ${row}${flag(r)}`);
    }
  }
  console.log(`\n${label}: ours / peer (medians over rounds; time ratio for a, throughput ratio for b–e; RSS and load as ratios)`);
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
  return results;
}
