#!/usr/bin/env bash
# Builds the Kubernetes node and control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy) and the client of the same version (kubectl: cluster.sh uses
# it, so no kubectl has to be installed on the machine) from the Go module k8s.io/kubernetes into
# $CACHE_DIR/kubernetes/kubernetes-v<version>/bin. Idempotent: cached binaries are not rebuilt.
#
# k8s.io/kubernetes' go.mod points the 31 k8s.io/* staging modules at ./staging/src/...; those
# replace lines do not apply to a dependency, so the wrapper module replaces each of them with
# the published staging module v0.<minor>.<patch>. The list is read from the module's own go.mod.
# The version is stamped the way Kubernetes' own build does (component-base/version).
# Cost on 2 cores (measured): ~9 min, ~2.3 GB peak RSS cold; well under a second when cached.
# Usage: scripts/kubernetes/build-binaries.sh   Env: FORCE_BUILD=1 builds again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"
source "$here/versions.sh"

version="$KUBERNETES_VERSION"
staging="v0.${version#*.}" # 1.33.13 -> v0.33.13
minor="${version#*.}"; minor="${minor%%.*}"
out="$CACHE_DIR/kubernetes/kubernetes-v$version/bin"
build="$CACHE_DIR/build/kubernetes-v$version"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

exec 9>"$CACHE_DIR/kubernetes-build-binaries.lock"
flock 9

missing=""
for b in "${binaries[@]}"; do [ -x "$out/$b" ] || missing="$missing $b"; done
if [ -z "$missing" ] && [ -z "${FORCE_BUILD:-}" ]; then
  log "kubernetes v$version: cached ($out)"
  exit 0
fi

started=$SECONDS
log "kubernetes v$version: building${missing:- all} from k8s.io/kubernetes@v$version (first time: ~9 min on 2 cores, ~2.3 GB RAM)"
rm -rf "$build" && mkdir -p "$build"
printf 'module dindcompose/build/kubernetesprobe\n\ngo 1.24.0\n' >"$build/go.mod"
gomod="$(cd "$build" && go_env go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -s "$gomod" ] || die "go mod download k8s.io/kubernetes@v$version gave no go.mod"
replaces="$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$gomod")"
[ "$(printf '%s\n' "$replaces" | wc -l)" -ge 25 ] || die "unexpected staging replace list in $gomod"
cat >"$build/go.mod" <<GOMOD
module dindcompose/build/kubernetes

go 1.24.0

godebug default=go1.24

require k8s.io/kubernetes v$version

replace (
$replaces
)
GOMOD
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for b in "${binaries[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
  printf ')\n'
} >"$build/tools.go"
(cd "$build" && go_env go mod tidy >tidy.log 2>&1) || { cat "$build/tidy.log" >&2; die "go mod tidy failed in $build"; }
mkdir -p "$out.tmp"
pkgs=(); for b in "${binaries[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
(cd "$build" && go_env CGO_ENABLED=0 nice -n 19 go build -trimpath -o "$out.tmp/" \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
  "${pkgs[@]}") || die "go build of the kubernetes binaries failed"
rm -rf "$out" && mv "$out.tmp" "$out"
log "kubernetes v$version: built in $(( SECONDS - started )) s: $("$out/kubelet" --version) ($(du -sh "$out" | cut -f1), $out)"
