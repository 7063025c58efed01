# Shared settings for scripts/deps/* and scripts/deps/em (sourced): pinned sources, cache paths, helpers.
# shellcheck shell=bash disable=SC2034 # variables are used by the scripts that source this file
set -euo pipefail

JV3_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JV3_DEPS=$JV3_ROOT/scripts/deps
JV3_CACHE=${JV3_CACHE:-$HOME/.cache/jina-v3-wasm}
export JV3_CACHE
export DEBIAN_FRONTEND=noninteractive

# Debian source packages: upstream version (Debian revision is looked up) and orig tarball sha256.
DEPS=(xnnpack pthreadpool cpuinfo fxdiv sentencepiece)
declare -A DEP_VERSION=(
  [xnnpack]=0.0~git20241108.4ea82e5
  [pthreadpool]=0.0~git20240616.560c60d
  [cpuinfo]=0.0~git20250905.877328f
  [fxdiv]=0.0~git20200417.b408327
  [sentencepiece]=0.1.97
)
declare -A DEP_SHA256=(
  [xnnpack]=90bde2caef0f880f627bab0dc805a86c4b8070cd98e3243db3046ab3f3be1a99
  [pthreadpool]=4cc3cbd933b28131d2a34edc54f76af9fb41bc490af5eae1a5bd3cd07ea90708
  [cpuinfo]=557ca404a3836b9f335a3a06b65ff9fe9dbaaefab7fb5c0185f53d9f33615a10
  [fxdiv]=7953482badaf4cb34026c3487c257b8e4ab2df061c019bd6fabbbc12ad52c44b
  [sentencepiece]=56430381f45dc6debfd2e0cbde4f039f9499c49ca825af184b0cbf318c17a18f
)
# Suites whose deb-src indices list those versions (this cpuinfo is only in forky so far).
DEB_SRC_SUITES="bookworm trixie forky"
DEBIAN_MIRROR=${JV3_DEBIAN_MIRROR:-http://deb.debian.org/debian}

EMSCRIPTEN_MIN_VERSION=3.1.60
EMSCRIPTEN_CHROOT=$JV3_CACHE/emscripten-trixie/root
# Bump when build-xnnpack.sh changes what ends up in a prefix (part of the prefix hash).
XNNPACK_RECIPE=1

log() { printf '[jv3 %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $EUID -eq 0 ]] || die "$1 needs root"; }

# Under `set -o pipefail`, never pipe a command into `grep -q` or `head`: the reader exits early, the
# writer dies of SIGPIPE and the pipeline fails (status 141), but only when the output is long, as it
# is on a machine that still has to install things. Capture the output and test the string instead.

# apt_installed PKG: true when dpkg has PKG installed.
apt_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ $status == *"ok installed"* ]]
}

# apt_candidate PKG: true when the apt sources offer an installable version of PKG.
apt_candidate() {
  local policy
  policy=$(apt-cache policy "$1" 2>/dev/null) || return 1
  [[ $policy =~ Candidate:\ [0-9] ]]
}

# need_apt PKG...: install the missing host packages (apt lists refreshed first), or say which
# packages the apt sources do not offer.
need_apt() {
  local missing=() absent=() p
  for p in "$@"; do
    apt_installed "$p" || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  need_root "installing ${missing[*]}"
  log "apt-get install ${missing[*]}"
  apt-get update -q >&2
  for p in "${missing[@]}"; do
    apt_candidate "$p" || absent+=("$p")
  done
  [[ ${#absent[@]} -eq 0 ]] || die "no ${absent[*]} package in the apt sources"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# need_node_modules: `npm ci` when node_modules was not installed from the current package-lock.json
# (npm writes node_modules/.package-lock.json at the end of an install). The devDependencies ship
# their binaries inside their packages: nothing is downloaded from elsewhere.
need_node_modules() {
  [[ -f package-lock.json ]] || die "no package-lock.json in $PWD"
  if [[ ! -f node_modules/.package-lock.json ]]; then
    log "npm ci (no node_modules)"
  elif [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "npm ci (package-lock.json changed)"
  else
    return 0
  fi
  npm ci --no-audit --no-fund >&2
}

# version_ge A B: true when version A >= B.
version_ge() {
  local sorted
  sorted=$(printf '%s\n%s\n' "$1" "$2" | sort -V)
  [[ ${sorted%%$'\n'*} == "$2" ]]
}

# Source folder of a dependency, e.g. $JV3_CACHE/src/xnnpack-git20241108.4ea82e5.
dep_dir() {
  local v=${DEP_VERSION[$1]#0.0~}
  echo "$JV3_CACHE/src/$1-${v//\~/-}"
}

# Patch files for a dependency, in the order they are applied.
dep_patches() { compgen -G "$JV3_DEPS/patches/$1-*.patch" | sort || true; }

# Emscripten on PATH that is recent enough (users with emsdk); JV3_EMSCRIPTEN=chroot ignores it.
host_emcc_ok() {
  [[ ${JV3_EMSCRIPTEN:-auto} != chroot ]] || return 1
  command -v emcc >/dev/null || return 1
  local v
  v=$(emcc -dumpversion 2>/dev/null) || return 1
  version_ge "$v" "$EMSCRIPTEN_MIN_VERSION"
}

# Run CMD in the Emscripten chroot: private mount namespace with /proc, /dev, /tmp, the repo, $JV3_CACHE
# and $JV3_EM_BINDS (space-separated) bind-mounted at the same paths, same cwd, clean environment
# apart from EM_*, EMCC_*, JV3_* and a few build variables.
emscripten_chroot_exec() {
  local binds=(/tmp "$JV3_ROOT" "$JV3_CACHE") env_args=(HOME=/root PATH=/usr/bin:/bin) extra name b inside=0
  read -ra extra <<<"${JV3_EM_BINDS:-}"
  binds+=("${extra[@]}")
  for b in "${binds[@]}"; do
    [[ $PWD == "$b" || $PWD == "$b"/* ]] && inside=1
  done
  ((inside)) || die "cwd $PWD is not under ${binds[*]} (add it to JV3_EM_BINDS)"
  for name in $(compgen -e); do
    case $name in
      EM_* | EMCC_* | JV3_* | CMAKE_BUILD_PARALLEL_LEVEL | MAKEFLAGS | VERBOSE | CI | TERM)
        env_args+=("$name=${!name}") ;;
    esac
  done
  [[ -x $EMSCRIPTEN_CHROOT/usr/bin/emcc ]] || die "no Emscripten chroot; run scripts/deps/emscripten.sh"
  need_root "running the Emscripten chroot"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
    root=$1 n=$2
    shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    for ((i = 0; i < n; i++)); do
      mkdir -p "$root$1"
      mount --bind "$1" "$root$1"
      shift
    done
    exec chroot "$root" /usr/bin/env -i "$@"
  ' bash "$EMSCRIPTEN_CHROOT" ${#binds[@]} "${binds[@]}" "${env_args[@]}" \
    /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$PWD" "$@"
}

# Target-specific XNNPACK build settings: sets XNN_CFLAGS and XNN_CMAKE_ARGS for native|wasm|wasm-relaxed|wasm-st.
# JV3_XNNPACK_EXTRA_FLAGS (e.g. -fsanitize=address) is appended and gives a separate prefix.
xnnpack_config() {
  XNN_CMAKE_ARGS=(
    -DCMAKE_BUILD_TYPE=Release
    -DXNNPACK_BUILD_TESTS=OFF -DXNNPACK_BUILD_BENCHMARKS=OFF
    -DXNNPACK_BUILD_ALL_MICROKERNELS=OFF -DXNNPACK_LIBRARY_TYPE=static
    -DXNNPACK_ENABLE_ASSEMBLY=OFF
    -DCPUINFO_SOURCE_DIR="$(dep_dir cpuinfo)"
    -DPTHREADPOOL_SOURCE_DIR="$(dep_dir pthreadpool)"
    -DFXDIV_SOURCE_DIR="$(dep_dir fxdiv)"
  )
  case $1 in
    native) XNN_CFLAGS="-O2 -DNDEBUG -fPIC" ;;
    wasm) XNN_CFLAGS="-O3 -DNDEBUG -msimd128 -pthread" ;;
    wasm-relaxed) XNN_CFLAGS="-O3 -DNDEBUG -msimd128 -mrelaxed-simd -pthread" ;;
    # No -pthread: pthreadpool builds its single-threaded shim (see the pthreadpool patch), for
    # pages without cross-origin isolation and for Cloudflare Workers.
    wasm-st) XNN_CFLAGS="-O3 -DNDEBUG -msimd128" ;;
    *) die "unknown target '$1' (native|wasm|wasm-relaxed|wasm-st)" ;;
  esac
  XNN_CFLAGS+=${JV3_XNNPACK_EXTRA_FLAGS:+ $JV3_XNNPACK_EXTRA_FLAGS}
}

# Compiler identity for the prefix hash (runs Emscripten for wasm targets).
xnnpack_compiler_id() {
  case $1 in
    native) local cmake_version; cmake_version=$(cmake --version); echo "gcc $(gcc -dumpfullversion) cmake ${cmake_version%%$'\n'*}" ;;
    *) "$JV3_DEPS/em" emcc -dumpversion ;;
  esac
}

# Install prefix: $JV3_CACHE/deps/xnnpack-<commit>-<target>-<hash of flags, compiler, sources, patches>.
xnnpack_prefix() {
  local target=$1 hash d compiler
  xnnpack_config "$target"
  # Asked first, so that a compiler that does not answer stops here instead of changing the hash.
  compiler=$(xnnpack_compiler_id "$target") || die "no compiler for $target"
  hash=$({
    echo "recipe $XNNPACK_RECIPE target $target cflags $XNN_CFLAGS"
    printf '%s\n' "${XNN_CMAKE_ARGS[@]}"
    echo "$compiler"
    for d in xnnpack pthreadpool cpuinfo fxdiv; do echo "$d ${DEP_SHA256[$d]}"; done
    for d in xnnpack pthreadpool cpuinfo fxdiv; do dep_patches "$d"; done | xargs -r cat
  } | sha256sum | cut -c1-12)
  echo "$JV3_CACHE/deps/xnnpack-${DEP_VERSION[xnnpack]##*.}-$target-$hash"
}

# quiet NAME CMD...: run CMD with its output in $JV3_CACHE/logs/NAME.log; show the tail on failure.
quiet() {
  local logfile=$JV3_CACHE/logs/$1.log rc=0
  shift
  mkdir -p "$(dirname "$logfile")"
  "$@" >"$logfile" 2>&1 || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$logfile" >&2
    die "'$*' failed ($rc); full log: $logfile"
  fi
}

# timed LABEL CMD...: run CMD, log and record its wall time in $JV3_TIMINGS (if set); CMD's failure
# is returned explicitly, since `set -e` does not reach into $(timed …) (bash's command substitution).
timed() {
  local label=$1 start end rc=0
  shift
  start=$(date +%s)
  "$@" || rc=$?
  ((rc == 0)) || { log "$label: failed ($rc)"; return "$rc"; }
  end=$(date +%s)
  log "$label: $((end - start)) s"
  [[ -z ${JV3_TIMINGS:-} ]] || printf '%-28s %5d s\n' "$label" $((end - start)) >>"$JV3_TIMINGS"
}
