#!/usr/bin/env bash
# `npm start`: builds what is missing, converts the fixture checkpoint for the demo's default model
# URL, and serves the demo on 127.0.0.1 with COOP/COEP (threads). `npm start -- <checkpoint-dir>`
# converts that checkpoint instead; PORT picks the port (default 8080).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build.sh --if-missing wasm
checkpoint=${1:-$(node scripts/lib/fixtures.mjs)}
model=build/demo/model.jv3
mkdir -p build/demo
if [[ ! -f $model || $checkpoint/model.safetensors -nt $model ]]; then
  node bin/jina-v3-wasm.mjs convert "$checkpoint" -o "$model"
fi
exec node scripts/dev/static-server.mjs --port "${PORT:-8080}"
