#!/usr/bin/env bash
# Fetch the C/C++ dependency sources from Debian, verify, unpack and patch them into $JV3_CACHE/src.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DEB_SRC_FILE=/etc/apt/sources.list.d/jina-v3-wasm-src.sources
DOWNLOADS=$JV3_CACHE/downloads

# Debian version (with revision) of the source package whose upstream version we pin.
debian_version() {
  apt-cache showsrc "$1" 2>/dev/null |
    awk -v up="${DEP_VERSION[$1]}" '$1 == "Version:" && index($2, up "-") == 1 { print $2; exit }'
}

all_sources_known() {
  local d
  for d in "${DEPS[@]}"; do
    [[ -n $(debian_version "$d") ]] || return 1
  done
}

ensure_deb_src() {
  all_sources_known && return 0
  need_root "adding deb-src entries"
  if [[ ! -e $DEB_SRC_FILE ]]; then
    log "adding $DEB_SRC_FILE ($DEB_SRC_SUITES)"
    cat >"$DEB_SRC_FILE" <<EOF
Types: deb-src
URIs: $DEBIAN_MIRROR
Suites: $DEB_SRC_SUITES
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  log "apt-get update (source indices)"
  apt-get update -q >&2
  all_sources_known || die "apt lists no source for some of ${DEPS[*]} (see $DEB_SRC_FILE)"
}

orig_tarball() { compgen -G "$DOWNLOADS/${1}_${DEP_VERSION[$1]}.orig.tar.*" | head -n1 || true; }

sha_ok() { [[ -n $2 && $(sha256sum "$2" | cut -d' ' -f1) == "${DEP_SHA256[$1]}" ]]; }

# Download the orig tarball; apt-get exits 100 when the archive 404s the .dsc, so judge by sha256.
download() {
  local name=$1 tarball
  tarball=$(orig_tarball "$name")
  sha_ok "$name" "$tarball" && return 0
  ensure_deb_src
  mkdir -p "$DOWNLOADS"
  log "apt-get source --download-only $name=$(debian_version "$name")"
  (cd "$DOWNLOADS" && apt-get source -q --download-only "$name=$(debian_version "$name")" >&2) ||
    log "apt-get source exited $? (expected when the .dsc is missing); checking the orig tarball"
  tarball=$(orig_tarball "$name")
  [[ -n $tarball ]] || die "no orig tarball for $name arrived"
  sha_ok "$name" "$tarball" || { rm -f "$tarball"; die "sha256 mismatch for $tarball (removed)"; }
}

# Unpack into a fresh folder and apply patches/<name>-*.patch; the stamp records tarball + patches.
unpack() {
  local name=$1 dest tarball stamp tmp p
  dest=$(dep_dir "$name")
  tarball=$(orig_tarball "$name")
  stamp=$({ echo "${DEP_SHA256[$name]}"; dep_patches "$name" | xargs -r cat; } | sha256sum)
  [[ -f $dest/.jv3-stamp && $(<"$dest/.jv3-stamp") == "$stamp" ]] && return 0
  log "unpacking $(basename "$tarball") -> $dest"
  tmp=$dest.tmp
  rm -rf "$tmp" "$dest"
  mkdir -p "$tmp"
  # Debian's xnnpack tarball has no top-level folder; the others have exactly one.
  if [[ $(tar -tf "$tarball" | cut -d/ -f1 | sort -u | wc -l) -eq 1 ]]; then
    tar -xf "$tarball" -C "$tmp" --strip-components=1
  else
    tar -xf "$tarball" -C "$tmp"
  fi
  for p in $(dep_patches "$name"); do
    log "  patch $(basename "$p")"
    patch -d "$tmp" -p1 --forward --batch --quiet <"$p" >&2
  done
  echo "$stamp" >"$tmp/.jv3-stamp"
  mv "$tmp" "$dest"
}

# em++ must not see all of /usr/include: copy just nlohmann/ (a copy also works inside the chroot).
nlohmann_include() {
  local dest=$JV3_CACHE/include-nlohmann ver
  ver=$(dpkg-query -W -f='${Version}' nlohmann-json3-dev)
  [[ -f $dest/.jv3-stamp && $(<"$dest/.jv3-stamp") == "$ver" ]] && return 0
  log "copying nlohmann-json $ver headers -> $dest/nlohmann"
  rm -rf "$dest"
  mkdir -p "$dest"
  cp -r /usr/include/nlohmann "$dest/"
  echo "$ver" >"$dest/.jv3-stamp"
}

need_apt xz-utils patch nlohmann-json3-dev
for dep in "${DEPS[@]}"; do
  download "$dep"
  unpack "$dep"
done
nlohmann_include
log "sources ready in $JV3_CACHE/src"
