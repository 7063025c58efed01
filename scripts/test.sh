#!/usr/bin/env bash
# The test command (`npm test`): builds what is missing, runs the native C++ tests, the sanitizer/fuzz/leak
# checks, then the Node suite (API, CLI, browsers, Deno, Workers, Vite).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing all
source scripts/deps/common.sh
# The browser tests drive Debian's Chromium (never a downloaded browser) through playwright-core;
# devDependencies (playwright-core, workerd, deno, vite, typescript) ship their binaries inside their packages.
need_apt chromium
need_node_modules
fixtures=${JV3_FIXTURES:-$root/../shared/fixtures/tiny-jina-v3}
[[ -f $fixtures/expected.json ]] || { echo "fixtures not found at $fixtures (set JV3_FIXTURES)" >&2; exit 1; }
for t in build/native/*_test; do
  echo "== $t"
  "$t" "$fixtures"
done
bash scripts/robustness.sh  # sanitizers, fuzzing, leak check (JV3_ROBUSTNESS=0 skips)
# Last, so that its summary closes the output.
node --test --test-reporter=spec tests/
