#!/usr/bin/env bash
# Short versions of the hostile-input checks for CI and `npm test`: the C++ tests under
# ASan + UBSan, every fuzz target briefly after replaying its saved regressions, and a load/dispose
# leak check. JV3_ROBUSTNESS=0 skips all of it; JV3_FUZZ_SECONDS and JV3_CYCLES set the lengths.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if [[ ${JV3_ROBUSTNESS:-1} == 0 ]]; then
  echo "robustness checks skipped (JV3_ROBUSTNESS=0)" >&2
  exit 0
fi
bash scripts/check/sanitize.sh
bash scripts/check/fuzz.sh all "${JV3_FUZZ_SECONDS:-20}"
node scripts/check/load-cycles.mjs -n "${JV3_CYCLES:-200}"
