// The converted-model cache (Node folder) never hands back a bad entry: truncated, tampered (one bit
// flipped) and stale (ETag / Last-Modified / size / mtime changed) entries are not used, the weights
// are fetched and converted again, and the rebuilt entry is byte-identical; a stale entry is
// deleted once the new version's entry is complete; a download cut at random
// points (abort signal, server closing the connection, a short body, a killed process) leaves no
// final-named entry, and temporary files do not outlive the load (or the process) that made them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';

import { EmbeddingError, JinaEmbeddings } from '../../js/index.mjs';
import { assertClose, assertCode, fixtureDir, loadModel, repoRoot, tempDir, testThreads } from '../helpers.mjs';

const weights = fs.readFileSync(path.join(fixtureDir, 'model.safetensors'));
/** What the test server does; each test sets what it needs. */
const serve = {};
const resetServe = () => Object.assign(serve, { etag: '"v1"', lastModified: null, cutAt: null, shortAt: null, stallAt: null, sent: 0 });
let server, base, reference;
const stalled = new Set();

before(async () => {
  server = http.createServer((req, res) => {
    const name = path.basename(new URL(req.url, 'http://x').pathname);
    if (name !== 'model.safetensors') {
      const file = path.join(fixtureDir, name);
      if (!fs.existsSync(file)) res.writeHead(404).end();
      else res.writeHead(200).end(fs.readFileSync(file));
      return;
    }
    const headers = {};
    if (serve.etag) headers.etag = serve.etag;
    if (serve.lastModified) headers['last-modified'] = serve.lastModified;
    if (serve.shortAt === null) headers['content-length'] = weights.length;
    res.writeHead(200, headers);
    pump(res, serve.cutAt ?? serve.shortAt ?? serve.stallAt ?? weights.length).then(() => {
      if (res.destroyed) return; // the client went away (a cache hit, an abort)
      if (serve.cutAt !== null) res.destroy(); // connection closed mid-body
      else if (serve.stallAt !== null) stalled.add(res); // never finishes
      else res.end(); // a complete body, or a chunked one that ends early
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}/`;
  reference = await loadModel('int8');
});
after(async () => {
  for (const res of stalled) res.destroy();
  server?.close();
  await reference?.dispose();
});

/** Writes weights[0, end) in 64 KiB pieces as the client reads them, counting what was sent. */
async function pump(res, end) {
  for (let at = 0; at < end && !res.destroyed; at += 64 << 10) {
    const piece = weights.subarray(at, Math.min(end, at + (64 << 10)));
    serve.sent += piece.length;
    if (!res.write(piece)) await new Promise((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
  }
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so a failure names its case. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

let dirs = 0;
const newCacheDir = () => path.join(tempDir(), `cache-${++dirs}`);
const listing = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const entries = (dir) => listing(dir).filter((f) => /^[0-9a-f]{64}\.jv3$/.test(f));

async function load(source, cache, options = {}) {
  return JinaEmbeddings.load(source, { cache, threads: testThreads, ...options });
}

/** Loads `source` (int8) through `cache`; checks a vector against the fixture converted by the CLI path. */
async function loadAndCheck(source, cache, label) {
  const model = await load(source, cache);
  try {
    const text = 'A cache entry is used only after its checksums verify.';
    const [got, want] = [await model.embed(text), await reference.embed(text)];
    assertClose(got.data[0].embedding, want.data[0].embedding, 1e-6, label);
  } finally {
    await model.dispose();
  }
}

/** A folder with one complete entry made from the server's weights; returns the entry's path and bytes. */
async function freshEntry() {
  resetServe();
  const cache = newCacheDir();
  await loadAndCheck(base, cache, 'first load');
  const names = entries(cache);
  assert.equal(names.length, 1, `one entry, got ${listing(cache)}`);
  const file = path.join(cache, names[0]);
  return { cache, file, bytes: fs.readFileSync(file) };
}

/** The damaged entry at `file` must be dropped: the weights are fetched again and the entry rebuilt identically. */
async function expectRebuilt({ cache, file, bytes }, label) {
  serve.sent = 0;
  await loadAndCheck(base, cache, label);
  assert.equal(serve.sent, weights.length, `${label}: the weights were downloaded again`);
  assert.deepEqual(listing(cache), [path.basename(file)], `${label}: only the rebuilt entry is left`);
  assert.ok(fs.readFileSync(file).equals(bytes), `${label}: the rebuilt entry equals the original`);
}

/** Byte ranges of a model file: preamble fields, the header JSON and each tensor (from the header). */
function layout(bytes) {
  const headerLength = Number(bytes.readBigUInt64LE(16));
  const header = JSON.parse(bytes.subarray(24, 24 + headerLength).toString('utf8'));
  const dataStart = Math.ceil((24 + headerLength) / 64) * 64;
  const tensors = header.tensors.map((t) => ({ name: t.name, start: dataStart + Number(t.offset), size: Number(t.size) }));
  return { headerLength, tensors: tensors.filter((t) => t.size > 0) };
}

test('an intact entry is used: the weights are not downloaded again', async () => {
  const entry = await freshEntry();
  serve.sent = 0;
  await loadAndCheck(base, entry.cache, 'cache hit');
  assert.ok(serve.sent < weights.length, `cache hit: ${serve.sent} weight bytes sent`);
});

test('truncated entries are discarded and rebuilt', async () => {
  const entry = await freshEntry();
  const { headerLength, tensors } = layout(entry.bytes);
  const rnd = random(5);
  const cuts = [0, 7, 20, 24 + (headerLength >> 1), tensors[0].start + 1, entry.bytes.length - 1];
  for (let i = 0; i < 4; i++) cuts.push(Math.floor(rnd() * entry.bytes.length));
  for (const cut of cuts) {
    fs.writeFileSync(entry.file, entry.bytes.subarray(0, cut));
    await expectRebuilt(entry, `entry cut to ${cut} of ${entry.bytes.length} bytes`);
  }
});

test('tampered entries (one bit flipped) are discarded and rebuilt', async () => {
  const entry = await freshEntry();
  const { headerLength, tensors } = layout(entry.bytes);
  const rnd = random(11);
  // The preamble's version, header checksum and header length; the header JSON; then tensor bytes:
  // the first and last byte of the first and last tensor, and random bytes of random tensors.
  const spots = [8, 12, 16, 24 + 2, 24 + headerLength - 2];
  for (const t of [tensors[0], tensors.at(-1)]) spots.push(t.start, t.start + t.size - 1);
  for (let i = 0; i < 6; i++) {
    const t = tensors[Math.floor(rnd() * tensors.length)];
    spots.push(t.start + Math.floor(rnd() * t.size));
  }
  for (const [i, at] of spots.entries()) {
    const bad = Buffer.from(entry.bytes);
    bad[at] ^= 1 << (i % 8);
    fs.writeFileSync(entry.file, bad);
    await expectRebuilt(entry, `bit ${i % 8} of byte ${at} flipped`);
  }
});

test('stale entries (the source changed) are not used: the weights are fetched and converted again, the old entry deleted', async () => {
  const entry = await freshEntry();
  const changes = [
    ['another ETag', () => { serve.etag = '"v2"'; }],
    ['Last-Modified only', () => { serve.etag = null; serve.lastModified = 'Tue, 24 Nov 2026 10:00:00 GMT'; }],
    ['another Last-Modified', () => { serve.lastModified = 'Wed, 25 Nov 2026 10:00:00 GMT'; }],
  ];
  let previous = path.basename(entry.file);
  for (const [label, change] of changes) {
    change();
    serve.sent = 0;
    await loadAndCheck(base, entry.cache, label);
    assert.equal(serve.sent, weights.length, `${label}: the weights were downloaded again`);
    const now = entries(entry.cache);
    assert.equal(now.length, 1, `${label}: only the new entry is left, got ${listing(entry.cache)}`);
    assert.notEqual(now[0], previous, `${label}: a new entry`);
    assert.ok(fs.readFileSync(path.join(entry.cache, now[0])).equals(entry.bytes), `${label}: the same converted bytes`);
    previous = now[0];
  }

  // A folder: another mtime, then another size (the safetensors header padded with spaces, as the format allows).
  const folder = path.join(tempDir(), 'ckpt');
  fs.mkdirSync(folder);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(fixtureDir, f), path.join(folder, f));
  const file = path.join(folder, 'model.safetensors');
  fs.writeFileSync(file, weights);
  const cache = newCacheDir();
  await loadAndCheck(folder, cache, 'folder');
  const [first] = entries(cache);
  assert.ok(first, 'one entry');
  fs.utimesSync(file, new Date(), new Date(Date.now() + 60000));
  await loadAndCheck(folder, cache, 'folder, another mtime');
  const [second, ...more] = entries(cache);
  assert.ok(second && second !== first && more.length === 0, `another mtime: converted into a new entry that replaced the old one, got ${listing(cache)}`);
  const headerLength = Number(weights.readBigUInt64LE(0));
  const padded = Buffer.alloc(weights.length + 8, 0x20);
  padded.writeBigUInt64LE(BigInt(headerLength + 8), 0);
  weights.copy(padded, 8, 8, 8 + headerLength);
  weights.copy(padded, 16 + headerLength, 8 + headerLength);
  const { mtime } = fs.statSync(file);
  fs.writeFileSync(file, padded);
  fs.utimesSync(file, mtime, mtime);
  await loadAndCheck(folder, cache, 'folder, another size');
  const [third, ...rest] = entries(cache);
  assert.ok(third && third !== second && rest.length === 0, `another size: converted into a new entry that replaced the old one, got ${listing(cache)}`);
});

test('a download cut at random points leaves no entry and no temporary file', async () => {
  const rnd = random(23);
  const points = Array.from({ length: 4 }, () => Math.floor(rnd() * weights.length));
  for (const at of points) {
    for (const how of ['abort', 'connection closed', 'short chunked body']) {
      resetServe();
      const cache = newCacheDir();
      const label = `${how} after ${at} of ${weights.length} bytes`;
      if (how === 'abort') {
        const controller = new AbortController();
        await assertCode(load(base, cache, {
          signal: controller.signal,
          onProgress: (p) => { if (p.bytesLoaded >= at) controller.abort(); },
        }), 'E_ABORTED');
      } else {
        if (how === 'connection closed') serve.cutAt = at;
        else serve.shortAt = at;
        let caught;
        await load(base, cache).catch((err) => { caught = err; });
        assert.ok(caught instanceof EmbeddingError, `${label}: expected an EmbeddingError, got ${caught?.stack ?? caught}`);
        assert.ok(['E_IO', 'E_BAD_CHECKPOINT'].includes(caught.code), `${label}: ${caught.code} ${caught.message}`);
      }
      assert.deepEqual(listing(cache), [], `${label}: the folder is empty`);
    }
  }
});

test('a process killed mid-download leaves no entry; the next load removes its temporary file', async () => {
  resetServe();
  serve.stallAt = weights.length >> 1;
  const cache = newCacheDir();
  const script = `import { JinaEmbeddings } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'js', 'index.mjs')).href)};
    await JinaEmbeddings.load(${JSON.stringify(base)}, { cache: ${JSON.stringify(cache)}, threads: 1 });`;
  const scriptFile = path.join(tempDir(), 'killed-load.mjs'); // a file: the engine's workers inherit execArgv
  fs.writeFileSync(scriptFile, script);
  const child = spawn(process.execPath, [scriptFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const started = Date.now();
  while (!listing(cache).some((f) => f.includes('jv3tmp'))) {
    assert.ok(Date.now() - started < 30000 && child.exitCode === null, `the child started writing a temporary file: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  assert.deepEqual(entries(cache), [], 'no final-named entry');
  assert.equal(listing(cache).length, 1, 'the dead process\'s temporary file');

  resetServe();
  await loadAndCheck(base, cache, 'after the kill');
  assert.equal(entries(cache).length, 1);
  assert.deepEqual(listing(cache), entries(cache), 'the temporary file was removed');
});
