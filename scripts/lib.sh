# shellcheck shell=bash
# Shared helpers for the bootstrap scripts. Sourced, not run.
# Everything expensive is cached outside the repo, keyed by version.
CACHE_DIR="${DIND_COMPOSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dind-compose}"
mkdir -p "$CACHE_DIR"

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# constant <key.path>: a value of components/constants.json, the one copy of what the program and
# the scripts share (images, the dind capability flags); a list prints one element a line.
CONSTANTS_JSON="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/components/constants.json"
constant() {
  command -v node >/dev/null || die "node is needed to read $CONSTANTS_JSON (npm run bootstrap installs it)"
  node -e 'let v = require(process.argv[1]); for (const k of process.argv[2].split(".")) v = v?.[k];
if (v === undefined) { console.error(`no ${process.argv[2]} in ${process.argv[1]}`); process.exit(1); }
console.log(Array.isArray(v) ? v.join("\n") : v);' "$CONSTANTS_JSON" "$1"
}

# Go builds: never download another toolchain; fall back to no checksum DB
# only when the caller asks (see TOOLCHAIN.md).
go_env() {
  env GOTOOLCHAIN=local GOSUMDB="${GOSUMDB:-sum.golang.org}" "$@"
}

# Builds one binary from a throw-away wrapper module. `go install pkg@version`
# cannot be used: it refuses modules with replace lines, and the module proxy
# here answers 403 (not 404) for sub-paths that are not modules, which stops
# go's search for the enclosing module.
# build_from_wrapper <dir> <go.mod body> <output> <main package> <ldflags>
build_from_wrapper() {
  local dir="$1" gomod="$2" output="$3" main="$4" ldflags="$5"
  rm -rf "$dir" && mkdir -p "$dir"
  printf '%s\n' "$gomod" >"$dir/go.mod"
  printf 'package tools\n\nimport _ "%s"\n' "$main" >"$dir/tools.go"
  (cd "$dir" && go_env go mod tidy >/dev/null 2>"$dir/tidy.log") || { cat "$dir/tidy.log" >&2; die "go mod tidy failed in $dir"; }
  (cd "$dir" && go_env CGO_ENABLED=0 go build -trimpath ${GO_BUILD_TAGS:+-tags "$GO_BUILD_TAGS"} \
    -ldflags "$ldflags" -o "$output" "$main")
}

# apt_install <package>: installs a Debian package
# without recommends, running `apt-get update` only when apt knows no candidate.
# The downloaded .deb files are kept in $CACHE_DIR/apt/archives (apt's own
# cache is emptied by `apt-get clean` and by images that set it up so), so a
# reinstall of the same version needs no mirror.
apt_install() {
  local package="$1" candidate archives="$CACHE_DIR/apt/archives"
  command -v apt-get >/dev/null || die "$package is needed and there is no apt-get to install it"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$archives/partial"
  candidate="$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    log "apt-get update (no $package candidate in the package lists)"
    apt-get update -qq >/dev/null
  fi
  log "apt-get install $package (packages cached in $archives)"
  # apt downloads as its _apt user, which cannot write into root's cache: as root, download as root.
  local sandbox=()
  [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
  apt-get install -y -qq --no-install-recommends -o "Dir::Cache::Archives=$archives" "${sandbox[@]}" "$package" >/dev/null
}
