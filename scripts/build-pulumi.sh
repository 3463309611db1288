#!/usr/bin/env bash
# Builds the Pulumi CLI and a Node.js language host from Go modules into
# $CACHE_DIR/pulumi-v<cli version>/bin. Release downloads are not reachable
# on these machines; the Go module proxy is (README, "What the two commands install, and where").
#
# The language host: the module github.com/pulumi/pulumi/sdk/nodejs/cmd/
# pulumi-language-nodejs/v3 is refused by the module proxy here (403 "This
# module version is not available", for v3.259.0's commit, for tags and for
# @latest). Up to sdk/v3 v3.68.0 the same host lived inside the sdk/v3 module,
# which the proxy serves, so it is built from there. It only starts
# `node .../@pulumi/pulumi/cmd/run`: the program still runs on the pinned,
# current Node.js SDK.
# Usage: scripts/build-pulumi.sh <cli version> <language host sdk version>
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cli_version="$1"      # e.g. 3.259.0
langhost_version="$2" # e.g. 3.68.0
out="$CACHE_DIR/pulumi-v$cli_version-lang$langhost_version"
launchers="$(dirname "$0")/launchers"

# bin/ holds the CLI and the project's two launchers (scripts/launchers/); the language host's
# binary is in libexec/. The launchers are written again on every run: they are small, and a
# cache laid out before them (the host's binary in bin/) is moved into this layout.
install_launchers() {
  mkdir -p "$out/libexec"
  if [ ! -x "$out/libexec/pulumi-language-nodejs" ] && [ -x "$out/bin/pulumi-language-nodejs" ] && ! head -c 2 "$out/bin/pulumi-language-nodejs" | grep -q '#!'; then
    mv "$out/bin/pulumi-language-nodejs" "$out/libexec/pulumi-language-nodejs"
  fi
  for launcher in pulumi-language-nodejs pulumi-resource-pulumi-nodejs; do
    cmp -s "$launchers/$launcher" "$out/bin/$launcher" || install -m 0755 "$launchers/$launcher" "$out/bin/$launcher"
  done
}

if [ -x "$out/bin/pulumi" ] && { [ -x "$out/libexec/pulumi-language-nodejs" ] || [ -x "$out/bin/pulumi-language-nodejs" ]; }; then
  install_launchers
  log "pulumi v$cli_version: cached in $out"
  exit 0
fi
mkdir -p "$out/bin.tmp"

clipboard='replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e'
log "pulumi v$cli_version: building the CLI from Go modules (first time: several minutes on 2 cores)"
GO_BUILD_TAGS=osusergo,grpcnotrace build_from_wrapper "$CACHE_DIR/build/pulumi-cli-v$cli_version" "module dindcompose/build/pulumicli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v$cli_version
	github.com/pulumi/pulumi/sdk/v3 v$cli_version
)

$clipboard" "$out/bin.tmp/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$cli_version"

log "pulumi-language-nodejs v$langhost_version: building from Go modules"
GO_BUILD_TAGS=osusergo,grpcnotrace build_from_wrapper "$CACHE_DIR/build/pulumi-language-nodejs-v$langhost_version" "module dindcompose/build/langhost

go 1.20

require github.com/pulumi/pulumi/sdk/v3 v$langhost_version

$clipboard" "$out/bin.tmp/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs \
  "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$langhost_version"

rm -rf "${out:?}/bin" "${out:?}/libexec" && mv "$out/bin.tmp" "$out/bin"
install_launchers
log "pulumi: built $("$out/bin/pulumi" version) in $out/bin"
