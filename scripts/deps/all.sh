#!/usr/bin/env bash
# Fetch, patch and build all C/C++ dependencies (idempotent, CI-safe): all.sh [native|wasm|wasm-relaxed|wasm-st|all]...
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
exec </dev/null

targets=()
for arg in "${@:-all}"; do
  case $arg in
    all) targets+=(native wasm) ;;
    native | wasm | wasm-relaxed | wasm-st) targets+=("$arg") ;;
    *) die "usage: $0 [native|wasm|wasm-relaxed|wasm-st|all]..." ;;
  esac
done

JV3_TIMINGS=$(mktemp)
export JV3_TIMINGS
trap 'rm -f "$JV3_TIMINGS"' EXIT
start=$(date +%s)

timed "host packages" need_apt cmake ninja-build g++ make python3 debootstrap nlohmann-json3-dev xz-utils patch
timed "fetch sources" "$JV3_DEPS/fetch.sh"
[[ " ${targets[*]} " != *" wasm"* ]] || timed "emscripten" "$JV3_DEPS/emscripten.sh"
declare -A prefixes
for t in "${targets[@]}"; do
  prefixes[$t]=$(timed "xnnpack $t" "$JV3_DEPS/build-xnnpack.sh" "$t" | tail -n1)
done

printf '\nTimings:\n' >&2
cat "$JV3_TIMINGS" >&2
printf '%-28s %5d s\n\nPrefixes:\n' total $(($(date +%s) - start)) >&2
for t in "${targets[@]}"; do
  printf '%s=%s\n' "$t" "${prefixes[$t]}"
done
