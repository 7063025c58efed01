#!/usr/bin/env bash
# Builds jina-v3-wasm: dependencies (cached outside the repo), the wasm module variants into dist/, the native tests.
#   scripts/build.sh [--if-missing] [wasm|native|all]   (default: all)
# --if-missing: do nothing when dist/ is newer than every source file (what `npm test` uses).
# JV3_WASM_VARIANTS (default "wasm wasm-st wasm-relaxed wasm-st-relaxed") chooses the wasm variants: see wasm_variant below.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/deps/common.sh

if_missing=0
target=all
for arg in "$@"; do
  case $arg in
    --if-missing) if_missing=1 ;;
    wasm | native | all) target=$arg ;;
    *) die "usage: scripts/build.sh [--if-missing] [wasm|native|all]" ;;
  esac
done

read -ra variants <<<"${JV3_WASM_VARIANTS:-wasm wasm-st wasm-relaxed wasm-st-relaxed}"

# wasm_variant NAME: sets out (dist base name), cmake_flags and xnn (the XNNPACK prefix target) for
# one variant. js/variant.mjs picks among them at run time.
wasm_variant() {
  xnn=$1
  case $1 in
    wasm) out=jina-v3-wasm cmake_flags="-DJV3_WASM_THREADS=ON -DJV3_WASM_RELAXED_SIMD=OFF" ;;          # pthreads + SIMD128
    wasm-st) out=jina-v3-wasm-st cmake_flags="-DJV3_WASM_THREADS=OFF -DJV3_WASM_RELAXED_SIMD=OFF" ;;   # no SharedArrayBuffer
    wasm-relaxed) out=jina-v3-wasm-relaxed cmake_flags="-DJV3_WASM_THREADS=ON -DJV3_WASM_RELAXED_SIMD=ON" ;;
    # Single thread, our int8 kernels in relaxed SIMD. XNNPACK (f32 matmuls, row-wise ops) is the
    # single-thread SIMD128 one: its relaxed kernels would only fuse f32 multiply-adds, not worth
    # a fourth XNNPACK build on every cold machine.
    wasm-st-relaxed) out=jina-v3-wasm-st-relaxed xnn=wasm-st cmake_flags="-DJV3_WASM_THREADS=OFF -DJV3_WASM_RELAXED_SIMD=ON" ;;
    *) die "unknown wasm variant '$1' (wasm|wasm-st|wasm-relaxed|wasm-st-relaxed)" ;;
  esac
}

up_to_date() {
  local v out cmake_flags xnn
  if [[ $target != native ]]; then
    for v in "${variants[@]}"; do
      wasm_variant "$v"
      [[ -f dist/$out.wasm && -f dist/$out.mjs ]] || return 1
      [[ -z $(find src wasm CMakeLists.txt -newer "dist/$out.wasm" -print -quit) ]] || return 1
    done
  fi
  [[ $target == wasm || ( -f build/native/built && -z $(find src tests/cpp CMakeLists.txt -newer build/native/built -print -quit) ) ]]
}
if ((if_missing)) && up_to_date; then
  log "build is up to date"
  exit 0
fi

dep_targets=()
[[ $target == wasm ]] || dep_targets+=(native)
if [[ $target != native ]]; then
  for v in "${variants[@]}"; do
    wasm_variant "$v"
    [[ " ${dep_targets[*]} " == *" $xnn "* ]] || dep_targets+=("$xnn")
  done
fi
scripts/deps/all.sh "${dep_targets[@]}" >&2
spm_src=$(dep_dir sentencepiece)
nlohmann=$JV3_CACHE/include-nlohmann
jobs=${JV3_JOBS:-2}

if [[ $target == native || $target == all ]]; then
  prefix=$(scripts/deps/prefix.sh native)
  timed "native build" bash -c "cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release \
    -DJV3_XNNPACK_PREFIX='$prefix' -DJV3_NLOHMANN_INCLUDE='$nlohmann' -DJV3_SENTENCEPIECE_SRC='$spm_src' >/dev/null \
    && cmake --build build/native -j $jobs"
  touch build/native/built  # what --if-missing compares the sources against
fi

if [[ $target == wasm || $target == all ]]; then
  mkdir -p dist
  for v in "${variants[@]}"; do
    wasm_variant "$v"
    prefix=$(scripts/deps/prefix.sh "$xnn")
    timed "wasm build ($v)" bash -c "scripts/deps/em emcmake cmake -S . -B build/$v -DCMAKE_BUILD_TYPE=Release $cmake_flags \
      -DJV3_WASM_OUTPUT=$out -DJV3_XNNPACK_PREFIX='$prefix' -DJV3_NLOHMANN_INCLUDE='$nlohmann' \
      -DJV3_SENTENCEPIECE_SRC='$spm_src' >/dev/null && scripts/deps/em cmake --build build/$v -j $jobs"
    cp "build/$v/$out.mjs" "build/$v/$out.wasm" dist/
    if [[ $cmake_flags == *THREADS=ON* ]]; then
      # Bundlers (Vite, webpack) follow `new Worker(new URL(...), {…})` only with literal options;
      # Emscripten passes a variable holding the same literal: inline it.
      opts='{type:"module",workerData:"em-pthread",name:"em-pthread"}'
      grep -qF "var workerOptions=$opts;" "dist/$out.mjs" || die "dist/$out.mjs: pthread worker options not found (Emscripten changed?)"
      sed -i "s|new Worker(new URL(\"$out.mjs\",import.meta.url),workerOptions)|new Worker(new URL(\"$out.mjs\",import.meta.url),$opts)|" "dist/$out.mjs"
      grep -qF "import.meta.url),$opts)" "dist/$out.mjs" || die "dist/$out.mjs: could not inline the pthread worker options"
    fi
    log "dist/$out.wasm: $(du -h "dist/$out.wasm" | cut -f1)"
  done
fi
