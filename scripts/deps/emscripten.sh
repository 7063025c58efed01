#!/usr/bin/env bash
# Ensure an Emscripten >= EMSCRIPTEN_MIN_VERSION: the one on PATH, else a cached Debian trixie chroot.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ROOT=$EMSCRIPTEN_CHROOT
STAMP=$(dirname "$ROOT")/.jv3-stamp

if host_emcc_ok; then
  log "using emcc $(emcc -dumpversion) from PATH ($(command -v emcc))"
  exit 0
fi
if [[ -f $STAMP && -x $ROOT/usr/bin/emcc ]]; then
  log "using $(<"$STAMP") in $ROOT"
  exit 0
fi

need_root "building the Emscripten chroot"
need_apt debootstrap

# Every mount below lives in a private mount namespace (unshare --mount) and vanishes with it;
# still, never delete a root that something has mounted into.
if [[ -e $ROOT ]]; then
  if awk -v r="$ROOT" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    die "$ROOT has active mounts; unmount them first"
  fi
  log "removing incomplete chroot $ROOT"
  rm -rf --one-file-system "$ROOT"
fi
mkdir -p "$ROOT"

timed "debootstrap trixie" quiet debootstrap \
  unshare --mount --propagation private \
  debootstrap --variant=minbase trixie "$ROOT" "$DEBIAN_MIRROR"

cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# shellcheck disable=SC2016 # expanded by the inner shell
timed "chroot apt emscripten" quiet chroot-apt \
  unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
    mount -t proc proc "$1/proc"
    mount --rbind /dev "$1/dev"
    chroot "$1" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      /bin/sh -ec "apt-get update -q
        apt-get install -y -q --no-install-recommends emscripten cmake make python3
        apt-get clean"
  ' bash "$ROOT"

version=$(cd "$JV3_CACHE" && emscripten_chroot_exec emcc -dumpversion)
version_ge "$version" "$EMSCRIPTEN_MIN_VERSION" || die "chroot has emcc $version < $EMSCRIPTEN_MIN_VERSION"
echo "emcc $version" >"$STAMP"
log "Emscripten $version ready in $ROOT ($(du -sh --one-file-system "$ROOT" | cut -f1))"
