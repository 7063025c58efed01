#!/usr/bin/env bash
# Builds jina-v3-wasm: dependencies (cached outside the repo), the wasm module into dist/, the native tests.
#   scripts/build.sh [--if-missing] [wasm|native|all]   (default: all)
# --if-missing: do nothing when dist/ is newer than every source file (what `npm test` uses).
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

up_to_date() {
  local out=dist/jina-v3-wasm.wasm
  [[ -f $out && -f dist/jina-v3-wasm.mjs ]] || return 1
  [[ -z $(find src wasm CMakeLists.txt -newer "$out" -print -quit) ]] || return 1
  [[ $target == wasm || -x build/native/model_test ]]
}
if ((if_missing)) && up_to_date; then
  log "build is up to date"
  exit 0
fi

scripts/deps/all.sh "$target" >&2
spm_src=$(dep_dir sentencepiece)
nlohmann=$JV3_CACHE/include-nlohmann
jobs=${JV3_JOBS:-2}

if [[ $target == native || $target == all ]]; then
  prefix=$(scripts/deps/prefix.sh native)
  timed "native build" bash -c "cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release \
    -DJV3_XNNPACK_PREFIX='$prefix' -DJV3_NLOHMANN_INCLUDE='$nlohmann' -DJV3_SENTENCEPIECE_SRC='$spm_src' >/dev/null \
    && cmake --build build/native -j $jobs"
fi

if [[ $target == wasm || $target == all ]]; then
  prefix=$(scripts/deps/prefix.sh wasm)
  timed "wasm build" bash -c "scripts/em emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release \
    -DJV3_XNNPACK_PREFIX='$prefix' -DJV3_NLOHMANN_INCLUDE='$nlohmann' -DJV3_SENTENCEPIECE_SRC='$spm_src' >/dev/null \
    && scripts/em cmake --build build/wasm -j $jobs"
  mkdir -p dist
  cp build/wasm/jina-v3-wasm.mjs build/wasm/jina-v3-wasm.wasm dist/
  log "dist/: $(du -h dist/jina-v3-wasm.wasm | cut -f1) wasm"
fi
