#!/usr/bin/env bash
# Baseline 2 of `npm run bench`: the hand-written way, in the spirit of the
# setup dind-compose grew out of. Per project: a dind container, wait for its
# daemon, copy the base image in, `docker compose up` inside it. Projects in
# parallel (background jobs), as a fair script would. No gateway, no
# per-project network, no state: only what is needed to get the projects up.
#
#   bench/dind-script.sh up   NAME=DIR ...   # containers bench-s-NAME
#   bench/dind-script.sh down NAME ...       # rm -f, with their volumes
#
# Environment: DIND_IMAGE, PRELOAD (image copied into every daemon),
# SECURITY_ARGS (the docker run flags for the dind container, one per line:
# --privileged, or the `capabilities` set of components/constants.json on
# Docker 20.10 engines where --privileged fails).
set -euo pipefail

standin() { node -p "require('$(dirname "${BASH_SOURCE[0]}")/../components/constants.json').images.standIns.$1"; }
DIND_IMAGE="${DIND_IMAGE:-$(standin dind)}"
PRELOAD="${PRELOAD:-$(standin busybox)}"
PREFIX="${PREFIX:-bench-s-}"
mapfile -t SECURITY < <(printf '%s\n' "${SECURITY_ARGS:---privileged}")

up_one() {
  local name="$1" dir="$2" c="$PREFIX$1"
  docker run -d --name "$c" --hostname "$name" "${SECURITY[@]}" \
    -e DOCKER_TLS_CERTDIR=/certs -v "$dir:$dir" "$DIND_IMAGE" >/dev/null
  until docker exec "$c" docker version >/dev/null 2>&1; do sleep 0.2; done
  docker save "$PRELOAD" | docker exec -i "$c" docker load -q >/dev/null
  docker exec -w "$dir" "$c" docker compose -p "$name" up -d --wait >/dev/null
}

case "${1:-}" in
  up)
    shift
    for pair in "$@"; do up_one "${pair%%=*}" "${pair#*=}" & done
    status=0
    for job in $(jobs -p); do wait "$job" || status=1; done
    exit "$status"
    ;;
  down)
    shift
    # -v: the anonymous /var/lib/docker volume of each dind container goes too.
    docker rm -f -v "${@/#/$PREFIX}" >/dev/null
    ;;
  *)
    echo "usage: $0 up NAME=DIR ... | down NAME ..." >&2
    exit 2
    ;;
esac
