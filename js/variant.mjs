// Picks which of the four shipped wasm builds this runtime can run, by feature detection
// (engine.mjs imports the one picked).
import { isNode } from './env.mjs';

/**
 * A module `() => [i32x4.relaxed_trunc_f32x4_s(v128.const 0)]`: it validates only where the engine
 * has relaxed SIMD. A module with relaxed opcodes does not even compile elsewhere (Safari, node 20
 * without a flag), so the relaxed build must never be chosen by optimism.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: [] -> [v128]
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x0a, 0x19, 0x01, 0x17, 0x00, // code: one body of 23 bytes, no locals
  0xfd, 0x0c, ...new Array(16).fill(0), // v128.const 0
  0xfd, 0x81, 0x02, // i32x4.relaxed_trunc_f32x4_s
  0x0b, // end
]);

/** Unsigned LEB128, as wasm encodes sizes. */
function leb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/**
 * A module exporting `dot() -> i32`: lanes 0 and 3 of i32x4.relaxed_dot_i8x16_i7x16_add_s(a, b, c)
 * as r0 + 1000·r3. Every operand of b is in [0, 63], where all conforming engines agree, so a
 * different answer means the engine computes the dot wrongly (node 20's first tier did, behind its
 * flag) and the relaxed build must not run there.
 */
const DOT_A = Array.from({ length: 16 }, (_, i) => i - 8);
const DOT_B = Array.from({ length: 16 }, (_, i) => 3 * i + 1);
const DOT_C = [5, 0, 0, -7];
const DOT_WANT = (() => {
  const lane = (j) => DOT_C[j] + [0, 1, 2, 3].reduce((s, k) => s + DOT_A[4 * j + k] * DOT_B[4 * j + k], 0);
  return lane(0) + 1000 * lane(3);
})();
const RELAXED_DOT_PROBE = (() => {
  const v128 = (bytes) => [0xfd, 0x0c, ...bytes];
  const i32s = (values) => values.flatMap((v) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff]);
  const dot = [...v128(DOT_A.map((v) => v & 0xff)), ...v128(DOT_B), ...v128(i32s(DOT_C)), 0xfd, 0x93, 0x02];
  const body = [0x00, // no locals
    ...dot, 0xfd, 0x1b, 0x00, // i32x4.extract_lane 0
    ...dot, 0xfd, 0x1b, 0x03, // i32x4.extract_lane 3
    0x41, ...[0xe8, 0x07], 0x6c, 0x6a, // i32.const 1000, i32.mul, i32.add
    0x0b];
  const section = (id, content) => [id, ...leb(content.length), ...content];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(0x01, [0x01, 0x60, 0x00, 0x01, 0x7f]), // type: [] -> [i32]
    ...section(0x03, [0x01, 0x00]), // one function of type 0
    ...section(0x07, [0x01, 0x03, 0x64, 0x6f, 0x74, 0x00, 0x00]), // export "dot" = function 0
    ...section(0x0a, [0x01, ...leb(body.length), ...body]),
  ]);
})();

/**
 * True where the engine's relaxed int8 dot gives the known answer. False where it has no relaxed
 * SIMD, or may not compile wasm from bytes (Cloudflare Workers).
 */
export function relaxedDotIsExact() {
  try {
    const { dot } = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_DOT_PROBE)).exports;
    return dot() === DOT_WANT;
  } catch {
    return false;
  }
}

/**
 * The builds in dist/ (scripts/build.sh): pthreads + SIMD128, pthreads + relaxed SIMD, single
 * thread + SIMD128, single thread + relaxed SIMD.
 */
export const VARIANTS = ['wasm', 'wasm-relaxed', 'wasm-st', 'wasm-st-relaxed'];

/** True for the builds with a thread pool (they need SharedArrayBuffer). */
export function isThreaded(variant) {
  return variant === 'wasm' || variant === 'wasm-relaxed';
}

/**
 * True where Emscripten pthreads can run: SharedArrayBuffer exists (browsers grant it only to
 * cross-origin isolated pages, i.e. COOP/COEP headers) and the runtime can start workers.
 */
export function canUseThreads() {
  if (isNode) return true;
  if (typeof SharedArrayBuffer !== 'function' || typeof Worker !== 'function') return false;
  // Deno has both, but Emscripten's pthread workers take its Node branch there: stay single-threaded.
  if (globalThis.Deno) return false;
  return globalThis.crossOriginIsolated === true;
}

/** True where the engine validates relaxed-SIMD opcodes. */
export function hasRelaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * The build for this runtime, by what the engine does rather than by its version: relaxed SIMD
 * where the engine validates it and its int8 dot gives the known answer (its int8 kernels are
 * several times the SIMD128 ones), as in Node >= 22, Deno and current browsers; else SIMD128
 * (node 20, which has relaxed SIMD only behind a flag; Safari). Single-thread where threads are
 * impossible (Deno, pages without cross-origin isolation), or for `threads: 1` on SIMD128 (the
 * threaded relaxed build at one thread is kept where it runs: no reason to load a second build).
 * @param {{ threads?: number }} [options]
 * @returns {'wasm' | 'wasm-relaxed' | 'wasm-st' | 'wasm-st-relaxed'}
 */
export function detectVariant({ threads } = {}) {
  const relaxed = hasRelaxedSimd() && relaxedDotIsExact();
  if (!canUseThreads()) return relaxed ? 'wasm-st-relaxed' : 'wasm-st';
  if (relaxed) return 'wasm-relaxed';
  return threads === 1 ? 'wasm-st' : 'wasm';
}
