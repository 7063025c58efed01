// Picks which of the three shipped wasm builds this runtime can run, by feature detection
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

/** The builds in dist/ (scripts/build.sh): pthreads + SIMD128, pthreads + relaxed SIMD, single thread. */
export const VARIANTS = ['wasm', 'wasm-relaxed', 'wasm-st'];

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
 * The build for this runtime. Node always gets the SIMD128 pthreads build: node 20 has relaxed SIMD
 * only behind a flag, and its first-tier compiler gets the relaxed int8 dot wrong. Elsewhere:
 * single-thread where threads are impossible; else relaxed SIMD if validated (also for one
 * thread: its int8 kernels are ~3× the SIMD128 ones); else SIMD128, single-thread if `threads` is 1.
 * @param {{ threads?: number }} [options]
 * @returns {'wasm' | 'wasm-relaxed' | 'wasm-st'}
 */
export function detectVariant({ threads } = {}) {
  if (isNode) return 'wasm';
  if (!canUseThreads()) return 'wasm-st';
  if (hasRelaxedSimd()) return 'wasm-relaxed';
  return threads === 1 ? 'wasm-st' : 'wasm';
}
