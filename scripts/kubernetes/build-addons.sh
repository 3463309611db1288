#!/usr/bin/env bash
# Builds the test cluster's add-ons from Go modules (no registry, no release download), each into
# $CACHE_DIR/kubernetes/<name>-v<version>/<name>. Idempotent: a cached binary is not built again.
#   coredns                 github.com/coredns/coredns (cluster DNS, a Deployment, FROM-scratch image)
#   local-path-provisioner  github.com/rancher/local-path-provisioner (the local-path StorageClass)
#   kube-router             github.com/cloudnativelabs/kube-router/v2 (NetworkPolicy enforcement only:
#                           iptables + ipset, run on each node by node/start.sh)
# None of the three modules has replace lines, so lib.sh's build_from_wrapper builds them.
# Cost on 2 cores (measured, see /tmp/k8s-findings.md of the first run): a few minutes each cold.
# Usage: scripts/kubernetes/build-addons.sh [NAME...]   (default: all)   Env: FORCE_BUILD=1.
#        scripts/kubernetes/build-addons.sh --path NAME  prints where NAME's binary is cached
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"
source "$here/versions.sh"

addon_bin() { # addon_bin NAME -> the cached binary's path
  case "$1" in
    coredns) echo "$CACHE_DIR/kubernetes/coredns-v$COREDNS_VERSION/coredns" ;;
    local-path-provisioner) echo "$CACHE_DIR/kubernetes/local-path-provisioner-v$LOCAL_PATH_PROVISIONER_VERSION/local-path-provisioner" ;;
    kube-router) echo "$CACHE_DIR/kubernetes/kube-router-v$KUBE_ROUTER_VERSION/kube-router" ;;
    *) die "unknown add-on '$1' (coredns, local-path-provisioner, kube-router)" ;;
  esac
}

build_addon() {
  local name="$1" bin module version main ldflags
  bin="$(addon_bin "$name")"
  case "$name" in
    coredns)
      module=github.com/coredns/coredns version="v$COREDNS_VERSION" main=$module
      ldflags="-s -w -X $module/coremain.GitCommit=$version" ;;
    local-path-provisioner)
      module=github.com/rancher/local-path-provisioner version="v$LOCAL_PATH_PROVISIONER_VERSION" main=$module
      ldflags="-s -w -X main.VERSION=$version" ;;
    kube-router)
      module=github.com/cloudnativelabs/kube-router/v2 version="v$KUBE_ROUTER_VERSION" main=$module/cmd/kube-router
      ldflags="-s -w -X $module/pkg/version.Version=$version -X $module/pkg/version.BuildDate=dind-compose" ;;
  esac
  if [ -x "$bin" ] && [ -z "${FORCE_BUILD:-}" ]; then
    log "$name $version: cached ($bin)"; return
  fi
  local started=$SECONDS dir="$CACHE_DIR/build/$name-$version"
  log "$name $version: building from $module@$version"
  mkdir -p "$(dirname "$bin")"
  build_from_wrapper "$dir" "$(printf 'module dindcompose/build/%s\n\ngo 1.24.0\n\nrequire %s %s' "${name//-/}" "$module" "$version")" \
    "$bin.tmp" "$main" "$ldflags" || die "go build of $name failed"
  mv "$bin.tmp" "$bin"
  rm -rf "$dir"
  log "$name $version: built in $(( SECONDS - started )) s ($(du -h "$bin" | cut -f1), $bin)"
}

if [ "${1:-}" = --path ]; then addon_bin "${2:?usage: build-addons.sh --path NAME}"; exit 0; fi
exec 9>"$CACHE_DIR/kubernetes-build-addons.lock"
flock 9
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(coredns local-path-provisioner kube-router)
for name in "${names[@]}"; do
  build_addon "$name"
done
