#!/usr/bin/env bash
# Builds the core and the native C++ tests under ASan + UBSan with clang (build/asan) and runs them.
#   scripts/check/sanitize.sh [fixture-dir]
# XNNPACK, pthreadpool and cpuinfo are linked from the normal (gcc, uninstrumented) native prefix:
# hostile bytes never reach their parsers (we hand them validated shapes and buffers), their
# kernels read past buffer ends on purpose (XNN_EXTRA_BYTES), and an instrumented copy would add a
# ~5 min cold build for findings that are not ours. ASan still checks every access our code makes,
# including the buffers we allocate for XNNPACK (heap instrumentation is in the runtime, not the library).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
source scripts/deps/common.sh

# Shared with scripts/check/fuzz.sh: clang, the native XNNPACK prefix, and the configure arguments.
sanitizer_toolchain() {
  need_apt clang libclang-rt-14-dev cmake make
  quiet deps-native scripts/deps/all.sh native
  SAN_CMAKE_ARGS=(
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=
    -DJV3_XNNPACK_PREFIX="$(scripts/deps/prefix.sh native)"
    -DJV3_NLOHMANN_INCLUDE="$JV3_CACHE/include-nlohmann"
    -DJV3_SENTENCEPIECE_SRC="$(dep_dir sentencepiece)"
  )
}
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then return 0; fi

fixtures=${1:-$(node scripts/lib/fixtures.mjs)}

sanitizer_toolchain
cmake -S tests/fuzz -B build/asan "${SAN_CMAKE_ARGS[@]}" -DJV3_FUZZ=OFF >/dev/null
timed "asan build" cmake --build build/asan -j "${JV3_JOBS:-2}"

# Leak checking is on (the default on Linux); a UBSan report aborts like an ASan one.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in build/asan/*_test; do
  log "== $t (ASan + UBSan)"
  "$t" "$fixtures" || { log "FAILED: $t"; failed=1; }
done
((failed == 0)) || die "sanitized C++ tests failed"
log "sanitized C++ tests: clean"
