#!/usr/bin/env bash
# Builds the Pulumi command provider plugin from its Go module into
# $CACHE_DIR/pulumi-resource-command-v<version>/bin.
# Usage: scripts/build-command-provider.sh <version> <module pseudo-version>
set -euo pipefail
source "$(dirname "$0")/lib.sh"

version="$1"        # e.g. 1.2.1 (the npm SDK's version)
module_version="$2" # pseudo-version of github.com/pulumi/pulumi-command/provider at that tag
out="$CACHE_DIR/pulumi-resource-command-v$version"
if [ -x "$out/bin/pulumi-resource-command" ]; then
  log "pulumi-resource-command v$version: cached in $out"
  exit 0
fi
log "pulumi-resource-command v$version: building from Go modules (first time: a few minutes)"
rm -rf "$out/bin.tmp" && mkdir -p "$out/bin.tmp"
build_from_wrapper "$CACHE_DIR/build/pulumi-resource-command-v$version" "module dindcompose/build/command

go 1.25.0

require github.com/pulumi/pulumi-command/provider $module_version" \
  "$out/bin.tmp/pulumi-resource-command" github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command \
  "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$version"
rm -rf "$out/bin" && mv "$out/bin.tmp" "$out/bin"
log "pulumi-resource-command v$version: built in $out/bin"
