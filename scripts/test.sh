#!/usr/bin/env bash
# The test command (`npm test`): builds what is missing, runs the native C++ tests, the sanitizer/fuzz/leak
# checks, the package's Node suites on Node 22 and 24, then every suite (API, CLI, browsers, Deno,
# Workers, Vite) on the machine's Node.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing all
source scripts/deps/common.sh
# The browser tests drive Debian's browsers, never a downloaded one: Chromium through playwright-core,
# Firefox ESR over WebDriver BiDi through puppeteer-core, WebKitGTK through its WebKitWebDriver
# under Xvfb. devDependencies (playwright-core, puppeteer-core, workerd, deno, vite, typescript)
# ship their binaries inside their packages.
need_apt chromium firefox-esr webkit2gtk-driver xvfb
need_node_modules
fixtures=$(node scripts/lib/fixtures.mjs)
for t in build/native/*_test; do
  echo "== $t"
  "$t" "$fixtures"
done
bash scripts/check/robustness.sh  # sanitizers, fuzzing, leak check (JV3_ROBUSTNESS=0 skips)
# The package's Node suites on the other LTS lines too (JV3_NODE_VERSIONS, default 22 24; the
# binaries come from the npm registry's node-linux-* packages); the runtimes and browsers are driven
# from the machine's node below. The files are listed, not the folder: Node >= 21 takes glob
# patterns there, and a folder is not one.
mapfile -t node_suites < <(find tests/node -name '*.test.mjs' | sort)
for major in ${JV3_NODE_VERSIONS-22 24}; do
  other_node=$(bash scripts/deps/node.sh "$major")
  echo "== tests/node on node $("$other_node" --version)"
  "$other_node" --test --test-reporter=spec "${node_suites[@]}"
done
# Last, so that its summary closes the output: every suite on the machine's node.
mapfile -t suites < <(find tests -name '*.test.mjs' -not -path '*/node_modules/*' | sort)
echo "== every suite on node $(node --version)"
node --test --test-reporter=spec "${suites[@]}"
