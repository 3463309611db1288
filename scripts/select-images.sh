#!/usr/bin/env bash
# Picks the dind and nginx images of stacks that do not set dind-compose:images:
# the official defaults when the engine has them or can pull them, otherwise
# the stand-ins that images.sh builds from Debian packages. The choice goes to
# $CACHE_DIR/default-images.json, which env.sh exports to the program as
# DIND_COMPOSE_DEFAULT_IMAGES. The examples' busybox and python images are always built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

official_dind="$(constant images.defaults.dind)"
official_nginx="$(constant images.defaults.nginx)"
standin_dind="$(constant images.standIns.dind)"
standin_nginx="$(constant images.standIns.nginx)"

available() { # image present, or pulled within a bounded time
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  timeout 120 docker pull --quiet "$1" >/dev/null 2>&1
}

examples=(busybox python) # the examples' images, always built
build=("${examples[@]}")
dind=$official_dind nginx=$official_nginx
if ! available "$official_dind"; then dind=$standin_dind build+=(dind); fi
if ! available "$official_nginx"; then nginx=$standin_nginx build+=(nginx); fi
if [ ${#build[@]} -gt ${#examples[@]} ]; then log "images: no registry answers for the official images; using stand-ins built from Debian packages"; fi
DIND_COMPOSE_IMAGES="${build[*]}" bash "$(dirname "${BASH_SOURCE[0]}")/images.sh"
printf '{"dind":"%s","nginx":"%s"}\n' "$dind" "$nginx" >"$CACHE_DIR/default-images.json"
log "images: dind $dind, nginx $nginx (defaults for stacks without dind-compose:images)"
