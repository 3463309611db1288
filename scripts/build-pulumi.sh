#!/usr/bin/env bash
# Builds the Pulumi CLI and a Node.js language host from Go modules into
# $CACHE_DIR/pulumi-v<cli version>/bin. Release downloads are not reachable
# on these machines; the Go module proxy is (see ../shared/TOOLCHAIN.md).
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
if [ -x "$out/bin/pulumi" ] && [ -x "$out/bin/pulumi-language-nodejs" ] && [ -x "$out/bin/pulumi-resource-pulumi-nodejs" ]; then
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

# Dynamic providers run through this small launcher, shipped in the sdk/v3 module.
sdk_dir="$(cd "$CACHE_DIR/build/pulumi-cli-v$cli_version" && go_env go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
install -m 0755 "$sdk_dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$out/bin.tmp/"

rm -rf "$out/bin" && mv "$out/bin.tmp" "$out/bin"
log "pulumi: built $("$out/bin/pulumi" version) in $out/bin"
