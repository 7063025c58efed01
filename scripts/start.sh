#!/usr/bin/env bash
# `npm start`: builds what is missing, converts the fixture checkpoint and embeds two texts with the CLI.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing wasm
checkpoint=${1:-${JV3_FIXTURES:-$root/../shared/fixtures/tiny-jina-v3}}
model=build/demo/model.jv3
mkdir -p build/demo
node bin/jina-v3-wasm.mjs convert "$checkpoint" -o "$model"
echo '["Hello world!", "Wie spät ist es?"]' |
  node bin/jina-v3-wasm.mjs embed -m "$model" --task text-matching --dimensions 32
