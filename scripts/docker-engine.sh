#!/usr/bin/env bash
# Ensures a Docker engine answers, idempotently, and finds out which dind
# security mode works on it.
#   1. `docker version` answers (DOCKER_HOST honoured): use that engine.
#   2. Otherwise install Debian's docker.io (if dockerd is missing) and start
#      dockerd in the background (log + pidfile under $CACHE_DIR), then wait
#      for it with bounded retries.
#   3. Probe whether `--privileged` containers start on this engine; if not,
#      whether the `capabilities` flag set does (see DIND_CAPABILITY_FLAGS).
#      The finding goes to $CACHE_DIR/engine.json, e.g.
#      {"privileged": false, "capabilities": true, "securityMode": "capabilities", "serverVersion": "20.10.24", ...}
#      and is reused while the engine (version, ID) and the boot are the same.
# Env: DOCKER_HOST (an engine elsewhere: never started here),
#      DIND_COMPOSE_REPROBE=1 (probe again), DOCKERD_WAIT_SECONDS (default 60).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENGINE_JSON="$CACHE_DIR/engine.json"
DOCKERD_LOG="$CACHE_DIR/dockerd.log"
DOCKERD_PIDFILE="/var/run/docker.pid"
PROBE_IMAGE="dind-compose/engine-probe:1"
# The flags the program gives dind containers in the `capabilities` mode (components/security.ts).
mapfile -t DIND_CAPABILITY_FLAGS < <(constant dindCapabilityFlags)
[ ${#DIND_CAPABILITY_FLAGS[@]} -gt 0 ] || die "cannot read dindCapabilityFlags from $CONSTANTS_JSON"

# The 28.x client in /usr/local/bin stays first (apt's docker.io adds /usr/bin/docker).
if [ -x /usr/local/bin/docker ] && [ "$(command -v docker)" != /usr/local/bin/docker ]; then
  export PATH="/usr/local/bin:$PATH"
fi

server_version() { docker version --format '{{.Server.Version}}' 2>/dev/null; }

local_socket() {
  case "${DOCKER_HOST:-}" in
    "" | unix:///var/run/docker.sock | unix:///run/docker.sock) return 0 ;;
    *) return 1 ;;
  esac
}

in_chroot() {
  # Compares our root with init's root (needs /proc); a chroot makes them differ.
  [ -r /proc/1/root ] || return 1
  [ "$(stat -c %d:%i / 2>/dev/null)" != "$(stat -Lc %d:%i /proc/1/root 2>/dev/null)" ]
}

install_docker_io() {
  if command -v dockerd >/dev/null 2>&1; then
    log "dockerd: $(command -v dockerd) is installed"
    return
  fi
  # No recommends: apparmor, needrestart, git, cgroupfs-mount are not needed here.
  apt_install docker.io
  command -v dockerd >/dev/null || die "docker.io installed but dockerd is not on PATH"
}

start_dockerd() {
  in_chroot && die "this shell runs in a chroot: dockerd must not be started here (docker exec would land in the host's namespaces)"
  local pid
  if [ -s "$DOCKERD_PIDFILE" ] && pid="$(cat "$DOCKERD_PIDFILE")" && kill -0 "$pid" 2>/dev/null; then
    log "dockerd already running (pid $pid), waiting for it to answer"
  else
    rm -f "$DOCKERD_PIDFILE"
    log "starting dockerd in the background (log: $DOCKERD_LOG, pidfile: $DOCKERD_PIDFILE)"
    # setsid: its own session, so it outlives this script and its terminal.
    setsid dockerd --pidfile "$DOCKERD_PIDFILE" >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
  fi
  local wait_s="${DOCKERD_WAIT_SECONDS:-60}" i
  for ((i = 0; i < wait_s * 4; i++)); do
    if server_version >/dev/null; then
      log "dockerd answers after $(( i / 4 )).$(( i % 4 * 25 )) s"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      die "dockerd (pid $pid) exited; log above ($DOCKERD_LOG)"
    fi
    sleep 0.25
  done
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer within ${wait_s} s; log above ($DOCKERD_LOG)"
}

# --- 1. an engine that answers -------------------------------------------
if version="$(server_version)"; then
  log "Docker engine ${DOCKER_HOST:-unix:///var/run/docker.sock}: server $version"
elif ! local_socket; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer (docker version failed); this script only starts a local engine"
else
  install_docker_io
  start_dockerd
  version="$(server_version)" || die "dockerd started but docker version fails"
  log "Docker engine unix:///var/run/docker.sock: server $version"
fi

# --- 2. which dind security mode works -----------------------------------
engine_id="$(docker info --format '{{.ID}}' 2>/dev/null || true)"
boot_id="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || true)"
probe_key="$version|$engine_id|$boot_id|$(printf '%s ' "${DIND_CAPABILITY_FLAGS[@]}" | sha256sum | cut -c1-12)"

json_field() { # json_field FILE KEY -> raw value of a top-level scalar
  sed -nE "s/.*\"$2\": *\"?([^\",}]*)\"?.*/\1/p" "$1" | head -n1
}

if [ "${DIND_COMPOSE_REPROBE:-}" != 1 ] && [ -s "$ENGINE_JSON" ] &&
   [ "$(json_field "$ENGINE_JSON" probeKey)" = "$probe_key" ]; then
  mode="$(json_field "$ENGINE_JSON" securityMode)"
  log "dind security mode: $mode (probed before for this engine and boot; $ENGINE_JSON)"
  exit 0
fi

# The probe image: one static binary (tini-static, shipped with docker.io as
# docker-init, or busybox-static), imported into an image; no registry needed.
ensure_probe_image() {
  docker image inspect "$PROBE_IMAGE" >/dev/null 2>&1 && return
  local bin="" candidate
  for candidate in /usr/bin/tini-static /usr/sbin/docker-init /usr/bin/docker-init /usr/libexec/docker/docker-init /bin/busybox; do
    if [ -x "$candidate" ] && ! ldd "$(readlink -f "$candidate")" >/dev/null 2>&1; then bin="$(readlink -f "$candidate")"; break; fi
  done
  if [ -z "$bin" ]; then
    log "no static binary for the probe image: apt-get install tini"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
    bin=/usr/bin/tini-static
  fi
  local dir; dir="$(mktemp -d)"
  cp "$bin" "$dir/probe"
  log "building $PROBE_IMAGE (docker import of $bin)"
  tar -C "$dir" -c probe | docker import -c 'CMD ["/probe", "--version"]' \
    -c 'LABEL dind-compose.image-version=1' - "$PROBE_IMAGE" >/dev/null
  rm -rf "$dir"
}
ensure_probe_image

probe() { # probe <name> <docker run flags...>: prints the error on failure
  local name="$1"; shift
  local out
  if out="$(docker run --rm --network none "$@" "$PROBE_IMAGE" 2>&1)"; then
    return 0
  fi
  local line
  line="$(printf '%s\n' "$out" | grep -iE 'error|denied|not permitted' | head -n 1)"
  log "  $name FAILS: $(printf '%s' "${line:-$out}" | tail -n 1 | cut -c1-400)"
  return 1
}

privileged=false capabilities=false
log "probing --privileged containers on this engine"
if probe privileged --privileged; then
  privileged=true
fi
log "probing the capabilities flag set (${DIND_CAPABILITY_FLAGS[*]:0:2} ...)"
if probe capabilities "${DIND_CAPABILITY_FLAGS[@]}"; then
  capabilities=true
fi
if [ "$privileged" = true ]; then
  mode=privileged
elif [ "$capabilities" = true ]; then
  mode=capabilities
else
  die "neither --privileged nor the capabilities flag set can start a container on this engine (server $version)"
fi

cat >"$ENGINE_JSON.tmp" <<EOF
{"privileged": $privileged, "capabilities": $capabilities, "securityMode": "$mode", "serverVersion": "$version", "probeKey": "$probe_key"}
EOF
mv "$ENGINE_JSON.tmp" "$ENGINE_JSON"
if [ "$privileged" = true ]; then
  log "dind security mode: privileged (--privileged works on server $version) -> $ENGINE_JSON"
else
  log "dind security mode: capabilities (--privileged FAILS on server $version; use: $(printf '%q ' "${DIND_CAPABILITY_FLAGS[@]}")) -> $ENGINE_JSON"
fi
