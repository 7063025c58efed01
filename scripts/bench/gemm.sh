#!/usr/bin/env bash
# GEMM efficiency in wasm under Node: builds scripts/bench/gemm-efficiency.cc against the SIMD128 wasm
# core (build/wasm, made by scripts/build.sh wasm) and runs it at 1 and 2 threads, each in a fresh process.
# It also prints the forward pass's time per phase.
#   scripts/bench/gemm.sh [MODEL_FILE] [RUNS] [SEQSxLEN]
#   (default model: the one scripts/bench/compare.mjs makes; default workload: b, 8x128)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
source scripts/deps/common.sh

model=${1:-${JV3_CACHE:-$HOME/.cache/jina-v3-wasm}/bench/random-full.int8.jv3}
runs=${2:-3}
workload=${3:-8x128}
[[ -f $model ]] || die "no model file $model: run node scripts/bench/compare.mjs once, or pass one"
# The core's layer libraries of a wasm build (JV3_BENCH_BUILD: another build folder), in link order.
build=${JV3_BENCH_BUILD:-build/wasm}
core=()
for layer in runtime kernels format tokenizer base; do
  core+=("$build/src/libjv3_$layer.a")
  [[ -f ${core[-1]} ]] || die "${core[-1]} is missing: run scripts/build.sh wasm"
done
prefix=$(scripts/deps/prefix.sh wasm)
mkdir -p build/bench
# Emscripten writes CommonJS; the repo's package.json says "module".
echo '{"type":"commonjs"}' >build/bench/package.json
out=build/bench/gemm-efficiency.js
if [[ ! -f $out || -n $(find scripts/bench/gemm-efficiency.cc "${core[@]}" -newer "$out" -print -quit) ]]; then
  scripts/deps/em em++ -O3 -std=c++17 -msimd128 -pthread -fwasm-exceptions -Isrc -I"$prefix"/include scripts/bench/gemm-efficiency.cc \
    "${core[@]}" "$prefix"/lib/libXNNPACK.a "$prefix"/lib/libmicrokernels-prod.a \
    "$prefix"/lib/libpthreadpool.a "$prefix"/lib/libcpuinfo.a \
    -sENVIRONMENT=node -sNODERAWFS=1 -sEXIT_RUNTIME=1 -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB \
    -sINITIAL_MEMORY=64MB -sSTACK_SIZE=1MB -sPTHREAD_POOL_SIZE=2 -Wno-pthreads-mem-growth -o "$out"
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
for threads in 1 2; do
  node "$out" "$model" "$threads" "$runs" "$workload"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after the run"
