#!/usr/bin/env bash
# Builds the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes) from Go modules,
# caches it in $CACHE_DIR/kubernetes/pulumi-resource-kubernetes-v<version>/, and installs it
# into the project's PULUMI_HOME (`pulumi plugin install resource kubernetes v<version> --file`).
# Idempotent: a cached binary is not built again, an installed identical plugin is left alone.
#
# Why a hand-made wrapper module (not build_from_wrapper):
#  - the proxy serves one version of github.com/pulumi/pulumi-kubernetes/provider/v4, the
#    pseudo-version of tag v4.25.0's commit (versions.sh); its go.mod has
#    `replace .../sdk/v4 => ../sdk`, which a dependency's replace lines cannot honour, so the
#    wrapper requires github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.25.0 itself;
#  - cmd/pulumi-resource-kubernetes/main.go embeds schema-embed.json and
#    terraform-mapping-embed.json, which the repository generates (go generate) and the module
#    zip does not hold. The zip holds their sources, schema.json and terraform-mapping.json, and
#    the repository's generate.go, which re-marshals them with the schema's version set. The
#    wrapper copies main.go, runs a copy of generate.go (as a normal package, so that go mod
#    tidy sees its imports) and builds.
# Cost on 2 cores (measured): ~15 min and ~4.6 GB peak RSS cold; seconds when cached.
# Usage: scripts/kubernetes/build-provider.sh   Env: FORCE_BUILD=1 builds again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"
source "$here/versions.sh"

version="$PULUMI_KUBERNETES_VERSION"
module=github.com/pulumi/pulumi-kubernetes/provider/v4
out="$CACHE_DIR/kubernetes/pulumi-resource-kubernetes-v$version"
bin="$out/pulumi-resource-kubernetes"
build="$CACHE_DIR/build/pulumi-kubernetes-v$version"
with_env="$here/../with-env.sh"

exec 9>"$CACHE_DIR/kubernetes-build-provider.lock"
flock 9

if [ ! -x "$bin" ] || [ -n "${FORCE_BUILD:-}" ]; then
  started=$SECONDS
  log "pulumi-resource-kubernetes v$version: building from $module@$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION (first time: ~15 min on 2 cores, ~4.6 GB RAM)"
  rm -rf "$build" && mkdir -p "$build/gen" "$out"
  cat >"$build/go.mod" <<GOMOD
module dindcompose/build/pulumikubernetes

go 1.24.7

require (
	$module $PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v$version
)
GOMOD
  # the provider's main.go needs a package in the module graph to copy it from: tidy first with
  # a tools file that imports the provider package main.go imports
  printf 'package main\n\nimport _ "%s/pkg/provider"\n\nfunc main() {}\n' "$module" >"$build/main.go"
  cat >"$build/gen/tools.go" <<'GO'
package main

import _ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
GO
  (cd "$build" && go_env go mod tidy >tidy.log 2>&1) || { cat "$build/tidy.log" >&2; die "go mod tidy failed in $build"; }
  src="$(cd "$build" && go_env go list -m -f '{{.Dir}}' "$module")"
  [ -f "$src/cmd/pulumi-resource-kubernetes/main.go" ] || die "no cmd/pulumi-resource-kubernetes/main.go in $src"
  cp "$src/cmd/pulumi-resource-kubernetes/main.go" "$build/main.go"
  # generate.go carries `//go:build ignore`: without it, it is a package tidy has already seen
  sed '/^\/\/go:build ignore$/d; /^\/\/ +build ignore$/d' "$src/cmd/pulumi-resource-kubernetes/generate.go" >"$build/gen/main.go"
  rm "$build/gen/tools.go"
  cp "$src/cmd/pulumi-resource-kubernetes/schema.json" "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$build/"
  chmod u+w "$build"/*.json
  log "pulumi-resource-kubernetes v$version: generating schema-embed.json (version $version)"
  (cd "$build" && go_env VERSION="$version" nice -n 19 go run ./gen) || die "generating the embedded schema failed"
  if [ ! -s "$build/schema-embed.json" ] || [ ! -s "$build/terraform-mapping-embed.json" ]; then
    die "generate.go wrote no embed files"
  fi
  log "pulumi-resource-kubernetes v$version: go build"
  (cd "$build" && go_env CGO_ENABLED=0 nice -n 19 go build -trimpath \
    -ldflags "-s -w -X $module/pkg/version.Version=$version" -o "$bin.tmp" .) || die "go build of the provider failed"
  mv "$bin.tmp" "$bin"
  log "pulumi-resource-kubernetes v$version: built in $(( SECONDS - started )) s ($(du -h "$bin" | cut -f1), $bin)"
else
  log "pulumi-resource-kubernetes v$version: cached ($bin)"
fi

# Installed into the project's PULUMI_HOME, unless the same binary is there already.
installed="$(bash "$with_env" sh -c 'echo "$PULUMI_HOME"')/plugins/resource-kubernetes-v$version/pulumi-resource-kubernetes"
if cmp -s "$bin" "$installed"; then
  log "pulumi-resource-kubernetes v$version: installed ($installed)"
else
  log "pulumi plugin install resource kubernetes v$version --file $bin"
  bash "$with_env" pulumi plugin install resource kubernetes "v$version" --file "$bin" --reinstall >&2
fi
