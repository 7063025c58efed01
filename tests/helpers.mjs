// Shared test helpers: locate the golden fixture, convert it with the project's own converter
// (once per test file), load models, and compare vectors.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { convertCheckpoint, EmbeddingError, JinaEmbeddings } from '../js/index.mjs';
import { fixtureDir, repoRoot } from '../scripts/lib/fixtures.mjs';

export { fixtureDir, repoRoot };
export const cliPath = path.join(repoRoot, 'bin', 'jina-v3-wasm.mjs');

/** Threads per loaded model; JV3_TEST_THREADS=1 keeps a shared machine quiet. */
export const testThreads = Number(process.env.JV3_TEST_THREADS) || 2;

let expected;
/** expected.json of the fixture (parsed once per process). */
export function loadExpected() {
  expected ??= JSON.parse(fs.readFileSync(path.join(fixtureDir, 'expected.json'), 'utf8'));
  return expected;
}

let tmpDir;
/** A temp folder for this test process, removed when it exits. */
export function tempDir() {
  if (!tmpDir) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jv3-test-'));
    process.on('exit', () => fs.rmSync(tmpDir, { recursive: true, force: true }));
  }
  return tmpDir;
}

const converted = new Map();
/**
 * Path of the fixture converted with `dtype` ('int8' | 'f32'), converting on first use only.
 * @returns {Promise<string>}
 */
export function convertedModel(dtype) {
  if (!converted.has(dtype)) {
    const out = path.join(tempDir(), `tiny-${dtype}.jv3`);
    converted.set(dtype, convertCheckpoint(fixtureDir, out, { dtype }).then((r) => r.path));
  }
  return converted.get(dtype);
}

/** Loads the fixture converted with `dtype`. */
export async function loadModel(dtype, options = {}) {
  return JinaEmbeddings.load(await convertedModel(dtype), { threads: testThreads, ...options });
}

/** Largest |a[i] - b[i]|; lengths must match. */
export function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length, `length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function cosine(a, b) {
  assert.equal(a.length, b.length, `length ${a.length} != ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** Asserts max |Δ| ≤ tol, naming `label` and the actual difference on failure. */
export function assertClose(actual, expectedVec, tol, label) {
  const d = maxAbsDiff(actual, expectedVec);
  assert.ok(d <= tol, `${label}: max |Δ| = ${d.toExponential(2)} > ${tol}`);
}

/** Asserts that `promiseOrFn` rejects with an EmbeddingError of `code`; returns the error. */
export async function assertCode(promiseOrFn, code) {
  let caught;
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected ${code}, but the call succeeded`);
  assert.ok(caught instanceof EmbeddingError, `expected an EmbeddingError ${code}, got ${caught?.stack ?? caught}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  return caught;
}

/** The embed() options that reproduce a `texts[i].cases[j]` (or long input) of expected.json. */
export function caseOptions(c) {
  return { task: c.task, instruction: c.task === null || c.instruction_prepended };
}
