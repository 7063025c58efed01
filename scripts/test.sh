#!/usr/bin/env bash
# The test command (`npm test`): builds what is missing, runs the native C++ tests, then the Node suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing all
fixtures=${JV3_FIXTURES:-$root/../shared/fixtures/tiny-jina-v3}
[[ -f $fixtures/expected.json ]] || { echo "fixtures not found at $fixtures (set JV3_FIXTURES)" >&2; exit 1; }
for t in build/native/*_test; do
  echo "== $t"
  "$t" "$fixtures"
done
node --test --test-reporter=spec tests/
