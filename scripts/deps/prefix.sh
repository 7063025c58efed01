#!/usr/bin/env bash
# Print the XNNPACK install prefix for native|wasm|wasm-relaxed|wasm-st (as build-xnnpack.sh computes it) without building.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ ${1:-} =~ ^(native|wasm|wasm-relaxed|wasm-st)$ ]] || die "usage: $0 native|wasm|wasm-relaxed|wasm-st"
xnnpack_prefix "$1"
