#!/usr/bin/env bash
# Build xnnpack_smoke.cc against the XNNPACK prefixes (default: native wasm) and run it with g++ / em++ + node.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

src=$JV3_DEPS/smoke/xnnpack_smoke.cc
out=$JV3_CACHE/smoke
mkdir -p "$out"
targets=("$@")
[[ $# -gt 0 ]] || targets=(native wasm)
for t in "${targets[@]}"; do
  prefix=$("$JV3_DEPS/prefix.sh" "$t")
  [[ -f $prefix/.jv3-stamp ]] || die "no $t build at $prefix; run scripts/deps/build-xnnpack.sh $t"
  libs=("$prefix"/lib/lib{XNNPACK,microkernels-prod,pthreadpool,cpuinfo}.a)
  log "smoke $t: $prefix"
  if [[ $t == native ]]; then
    g++ -std=c++17 -O2 -pthread -I"$prefix/include" "$src" "${libs[@]}" -o "$out/smoke-native"
    "$out/smoke-native"
  else
    flags=(-msimd128) node_flags=()
    # node 20 needs a flag for relaxed SIMD (browsers with relaxed SIMD need none).
    [[ $t == wasm-relaxed ]] && flags+=(-mrelaxed-simd) node_flags+=(--experimental-wasm-relaxed-simd)
    "$JV3_DEPS/em" em++ -std=c++17 -O2 "${flags[@]}" -pthread -sEXIT_RUNTIME=1 -sPTHREAD_POOL_SIZE=2 \
      -I"$prefix/include" "$src" "${libs[@]}" -o "$out/smoke-$t.js"
    node "${node_flags[@]}" "$out/smoke-$t.js"
  fi
done
