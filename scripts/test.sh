#!/usr/bin/env bash
# The test command (`npm test`): builds what is missing, runs the native C++ tests, the sanitizer/fuzz/leak
# checks, then the Node suite (API, CLI, browsers, Deno, Workers, Vite).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing all
source scripts/deps/common.sh
# The browser tests drive Debian's Chromium (never a downloaded browser) through playwright-core.
if ! command -v chromium >/dev/null; then
  apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -q >&2
  apt-cache policy chromium | grep -q 'Candidate: [0-9]' || die "no chromium package in the apt sources"
  need_apt chromium
fi
# devDependencies (playwright-core, workerd, deno, vite): packages whose binaries ship inside them.
missing=0
for p in playwright-core workerd deno vite; do [[ -d node_modules/$p ]] || missing=1; done
if ((missing)); then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
fi
fixtures=${JV3_FIXTURES:-$root/../shared/fixtures/tiny-jina-v3}
[[ -f $fixtures/expected.json ]] || { echo "fixtures not found at $fixtures (set JV3_FIXTURES)" >&2; exit 1; }
for t in build/native/*_test; do
  echo "== $t"
  "$t" "$fixtures"
done
bash scripts/robustness.sh  # sanitizers, fuzzing, leak check (JV3_ROBUSTNESS=0 skips)
# Last, so that its summary closes the output.
node --test --test-reporter=spec tests/
