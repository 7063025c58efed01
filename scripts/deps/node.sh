#!/usr/bin/env bash
# Prints the path of a Node.js binary of major version MAJOR, installing it first if needed from the
# npm registry's node-linux-<arch> package (the binary ships inside it; nothing else is downloaded),
# into $JV3_CACHE/node/<version>.
#   scripts/deps/node.sh MAJOR        e.g. scripts/deps/node.sh 24
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
exec </dev/null

major=${1:-}
[[ $major =~ ^[0-9]+$ ]] || die "usage: scripts/deps/node.sh MAJOR"
case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) die "no node-linux package for $(uname -m)" ;;
esac
# An installed version of that major is used as it is (the cache is keyed by exact version).
installed=$(compgen -G "$JV3_CACHE/node/$major.*/bin/node" | sort -V | tail -n1 || true)
if [[ -n $installed ]]; then
  echo "$installed"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "npm pack node-linux-$arch@$major"
tarball=$(cd "$tmp" && npm pack "node-linux-$arch@$major" --silent)
version=${tarball#node-linux-"$arch"-}
version=${version%.tgz}
[[ $version =~ ^$major\.[0-9]+\.[0-9]+$ ]] || die "unexpected package $tarball"
tar -xzf "$tmp/$tarball" -C "$tmp"
mkdir -p "$JV3_CACHE/node"
rm -rf "$JV3_CACHE/node/$version"
mv "$tmp/package" "$JV3_CACHE/node/$version"
"$JV3_CACHE/node/$version/bin/node" --version >/dev/null || die "node $version does not run here"
log "node $version in $JV3_CACHE/node/$version"
echo "$JV3_CACHE/node/$version/bin/node"
