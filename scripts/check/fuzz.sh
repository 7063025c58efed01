#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/*_fuzz.cc) built with clang -fsanitize=fuzzer,address,undefined in build/fuzz.
#   scripts/check/fuzz.sh [target|all] [seconds per target]   fuzz (default: all, 60 s each), one process at a time
#   scripts/check/fuzz.sh --replay                            only replay tests/fuzz/regressions/<target>/ (CI)
# Seeds are generated at run time from the fixtures (build/fuzz/seeds); the working corpus grows in
# build/fuzz/corpus. A crash is written to tests/fuzz/regressions/<target>/ so that, once fixed, it
# is replayed by every later run. Hours fuzzed are appended to build/fuzz/hours.log.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
source scripts/check/sanitize.sh  # sanitizer_toolchain, log, die
fixtures=$(node scripts/lib/fixtures.mjs)
export JV3_FIXTURES=$fixtures

replay_only=0
target=all
seconds=60
case ${1:-} in
  --replay) replay_only=1 ;;
  "" | all) ;;
  *) target=${1%_fuzz}_fuzz ;;
esac
[[ -n ${2:-} ]] && seconds=$2

sanitizer_toolchain
cmake -S tests/fuzz -B build/fuzz "${SAN_CMAKE_ARGS[@]}" -DJV3_FUZZ=ON >/dev/null
timed "fuzz build" cmake --build build/fuzz -j "${JV3_JOBS:-2}"
targets=()
for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "${f%.cc}")"); done
[[ $target == all ]] || [[ " ${targets[*]} " == *" $target "* ]] || die "unknown target $target (${targets[*]})"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Huge declared sizes must be refused before allocation; a 1 GiB allocation counts as a finding.
limits=(-rss_limit_mb=2560 -malloc_limit_mb=1100 -timeout=20)

failed=0
for t in "${targets[@]}"; do
  [[ $target == all || $target == "$t" ]] || continue
  regress=tests/fuzz/regressions/$t
  if compgen -G "$regress/*" >/dev/null; then
    log "$t: replaying $(find "$regress" -type f | wc -l) saved inputs"
    "build/fuzz/$t" "${limits[@]}" -runs=0 "$regress" >"build/fuzz/$t.replay.log" 2>&1 ||
      { tail -n 30 "build/fuzz/$t.replay.log" >&2; log "FAILED: $t regression replay"; failed=1; }
  fi
  ((replay_only)) && continue
  [[ -d build/fuzz/seeds/$t ]] || build/fuzz/make_seeds "$fixtures" build/fuzz/seeds >&2
  mkdir -p "build/fuzz/corpus/$t" "$regress"
  log "$t: fuzzing for $seconds s"
  start=$(date +%s)
  rc=0
  "build/fuzz/$t" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$regress/" "build/fuzz/corpus/$t" "build/fuzz/seeds/$t" >"build/fuzz/$t.log" 2>&1 || rc=$?
  echo "$(date -u +%FT%TZ) $t $(($(date +%s) - start)) s rc=$rc" >>build/fuzz/hours.log
  grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "build/fuzz/$t.log" | tail -n 2 >&2 || true
  if ((rc != 0)); then
    grep -m 20 -E 'ERROR|SUMMARY|==[0-9]+==|runtime error' "build/fuzz/$t.log" >&2 || true
    log "FAILED: $t found a crash (input saved in $regress/; full log build/fuzz/$t.log)"
    failed=1
  fi
done
((failed == 0)) || die "fuzzing found failures"
log "fuzz: clean"
