#!/usr/bin/env bash
# Build XNNPACK (+pthreadpool, cpuinfo) for native|wasm|wasm-relaxed|wasm-st into a cached prefix; prints the prefix last.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

target=${1:-}
[[ $target =~ ^(native|wasm|wasm-relaxed|wasm-st)$ ]] || die "usage: $0 native|wasm|wasm-relaxed|wasm-st"

"$JV3_DEPS/fetch.sh"
if [[ $target == native ]]; then
  need_apt cmake g++ python3
else
  "$JV3_DEPS/emscripten.sh"
fi

prefix=$(xnnpack_prefix "$target")
if [[ -f $prefix/.jv3-stamp ]]; then
  log "xnnpack $target up to date: $prefix"
  echo "$prefix"
  exit 0
fi

xnnpack_config "$target"
build=$JV3_CACHE/build/$(basename "$prefix")
# -O level and -DNDEBUG come from XNN_CFLAGS, so blank CMake's Release defaults (-O3 -DNDEBUG).
cmake_args=(
  -S "$(dep_dir xnnpack)" -B "$build" "${XNN_CMAKE_ARGS[@]}"
  -DCMAKE_C_FLAGS="$XNN_CFLAGS" -DCMAKE_CXX_FLAGS="$XNN_CFLAGS"
  -DCMAKE_C_FLAGS_RELEASE= -DCMAKE_CXX_FLAGS_RELEASE=
)
rm -rf "$build" "$prefix" "$prefix.tmp"
log "building xnnpack $target ($XNN_CFLAGS) in $build"
if [[ $target == native ]]; then
  command -v ninja >/dev/null && cmake_args+=(-G Ninja)
  quiet "xnnpack-$target-configure" cmake "${cmake_args[@]}"
  quiet "xnnpack-$target-build" cmake --build "$build" --target XNNPACK --parallel 2
else
  quiet "xnnpack-$target-configure" "$JV3_DEPS/em" emcmake cmake "${cmake_args[@]}"
  quiet "xnnpack-$target-build" "$JV3_DEPS/em" cmake --build "$build" --target XNNPACK --parallel 2
fi

mkdir -p "$prefix.tmp/include" "$prefix.tmp/lib"
cp "$(dep_dir xnnpack)/include/xnnpack.h" "$(dep_dir pthreadpool)/include/pthreadpool.h" "$prefix.tmp/include/"
for lib in libXNNPACK.a libmicrokernels-prod.a libpthreadpool.a libcpuinfo.a; do
  found=$(find "$build" -name "$lib" -print -quit)
  [[ -n $found ]] || die "$lib not built (see $JV3_CACHE/logs/xnnpack-$target-build.log)"
  cp "$found" "$prefix.tmp/lib/"
done
{
  echo "xnnpack ${DEP_VERSION[xnnpack]} target $target"
  echo "cflags: $XNN_CFLAGS"
  echo "compiler: $(xnnpack_compiler_id "$target")"
} >"$prefix.tmp/.jv3-stamp"
mv "$prefix.tmp" "$prefix"
rm -rf "$build"
log "xnnpack $target installed: $prefix"
echo "$prefix"
