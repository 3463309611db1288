#!/usr/bin/env bash
# Builds the two images of the Kubernetes test cluster, idempotently (no registry is reachable):
#   dind-compose/k8s-pause:<PAUSE_VERSION>  FROM scratch + /pause, `gcc -static` of
#       build/pause/linux/pause.c from the k8s.io/kubernetes module (Go module cache)
#   dind-compose/k8s-node:v<KUBERNETES_VERSION>  debootstrap --variant=minbase trixie with
#       NODE_PACKAGES (containerd, runc, CNI plugins, etcd, iptables, ipset, ...) -> a tarball cached
#       in $CACHE_DIR/rootfs -> docker import (ENV PATH) -> docker build adding the binaries of
#       build-binaries.sh and kube-router (build-addons.sh) to /usr/local/bin.
#   dind-compose/k8s-coredns:v<COREDNS_VERSION>, dind-compose/local-path-provisioner:v<version>
#       FROM scratch + the binary of build-addons.sh (cluster.sh load-images puts them on the nodes).
# Each image carries LABEL dind-compose.image-version=<hash of what went into it>; an image
# whose tag exists with the same label is left alone (a warm run takes about a second).
# The node's configuration and start script are not in the image: cluster.sh mounts them.
# Env: DEBIAN_MIRROR (default: the URI of the machine's debian.sources).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"
source "$here/versions.sh"

LABEL_KEY=dind-compose.image-version
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
BIN_DIR="$CACHE_DIR/kubernetes/kubernetes-v$KUBERNETES_VERSION/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

if [ -x /usr/local/bin/docker ] && [ "$(command -v docker)" != /usr/local/bin/docker ]; then
  export PATH="/usr/local/bin:$PATH"
fi
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "no Docker engine answers (run scripts/docker-engine.sh first)"

short_hash() { sha256sum | cut -c1-12; }
image_label() { docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true; }
replace_previous() { # replace_previous TAG OLD-ID: drop the image the tag named before
  if [ -n "$2" ] && [ "$2" != "$(docker image inspect --format '{{.Id}}' "$1")" ]; then
    docker image rm "$2" >/dev/null 2>&1 || true
  fi
}

debian_mirror() { # as scripts/images.sh
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' /etc/apt/sources.list.d/debian.sources)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

umount_under() {
  local mnt
  # shellcheck disable=SC2013 # mount points from debootstrap have no spaces
  for mnt in $(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$mnt" 2>/dev/null || true
  done
}

rootfs_key() { echo "$NODE_ROOTFS_VERSION-$(printf '%s|%s' "$NODE_SUITE" "$NODE_PACKAGES" | short_hash)"; }

# node_rootfs -> the cached tarball (made the way scripts/images.sh makes its rootfs tarballs)
node_rootfs() {
  local tarball; tarball="$CACHE_DIR/rootfs/k8s-node-$NODE_SUITE-$(rootfs_key).tar"
  if [ -s "$tarball" ]; then echo "$tarball"; return; fi
  command -v debootstrap >/dev/null || apt_install debootstrap
  mkdir -p "$CACHE_DIR/rootfs" "$CACHE_DIR/debs/k8s-node"
  local stale
  for stale in "$CACHE_DIR/rootfs/.build-k8s-node."*; do
    [ -e "$stale" ] || continue
    umount_under "$stale"; rm -rf --one-file-system "$stale"
  done
  local dir mirror started=$SECONDS
  dir="$(mktemp -d "$CACHE_DIR/rootfs/.build-k8s-node.XXXXXX")"; mirror="$(debian_mirror)"
  log "rootfs k8s-node: debootstrap --variant=minbase $NODE_SUITE from $mirror (+ $NODE_PACKAGES)"
  if ! debootstrap --foreign --variant=minbase --include="$NODE_PACKAGES" --cache-dir="$CACHE_DIR/debs/k8s-node" \
      "$NODE_SUITE" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2; rm -rf --one-file-system "$dir"; die "debootstrap (first stage) failed; log: $dir.log"
  fi
  # no service starts in the chroot (containerd's, etcd's postinst)
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"; echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  if ! chroot "$dir" /debootstrap/debootstrap --second-stage >>"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2; umount_under "$dir"; rm -rf --one-file-system "$dir"; die "debootstrap (second stage) failed; log: $dir.log"
  fi
  umount_under "$dir"
  local root="${dir:?}"
  # shellcheck disable=SC2115 # root is checked non-empty just above
  rm -rf --one-file-system "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/dev/* "$root"/tmp/* "$root"/root/.bash_history
  : >"$dir/etc/hostname"; : >"$dir/etc/resolv.conf"
  printf 'deb %s %s main\n' "$mirror" "$NODE_SUITE" >"$dir/etc/apt/sources.list"
  tar -C "$dir" --numeric-owner --xattrs -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$dir" "$dir.log"
  find "$CACHE_DIR/rootfs" -maxdepth 1 -name "k8s-node-$NODE_SUITE-*.tar" ! -name "${tarball##*/}" -delete
  log "rootfs k8s-node: built in $(( SECONDS - started )) s ($(du -h "$tarball" | cut -f1), $tarball)"
  echo "$tarball"
}

build_pause() {
  local src; src="$(go_env go env GOMODCACHE)/k8s.io/kubernetes@v$KUBERNETES_VERSION/build/pause/linux/pause.c"
  if [ ! -f "$src" ]; then
    "$here/build-binaries.sh" # downloads the module
  fi
  [ -f "$src" ] || die "no $src (k8s.io/kubernetes@v$KUBERNETES_VERSION in the module cache)"
  local version; version="$PAUSE_VERSION-$( { sha256sum <"$src"; declare -f build_pause; } | short_hash)"
  if [ "$(image_label "$PAUSE_IMAGE")" = "$version" ]; then
    log "image $PAUSE_IMAGE: up to date ($LABEL_KEY=$version)"; return
  fi
  command -v gcc >/dev/null || apt_install gcc
  [ -e /usr/include/stdio.h ] || apt_install libc6-dev
  local dir; dir="$(mktemp -d)"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-dind-compose" -o "$dir/pause" "$src"
  strip "$dir/pause" 2>/dev/null || true
  local previous; previous="$(docker image inspect --format '{{.Id}}' "$PAUSE_IMAGE" 2>/dev/null || true)"
  tar -C "$dir" --numeric-owner --owner=0 --group=0 -c pause |
    docker import -c 'ENTRYPOINT ["/pause"]' -c "USER 65535:65535" -c "LABEL $LABEL_KEY=$version" - "$PAUSE_IMAGE" >/dev/null
  rm -rf "$dir"
  replace_previous "$PAUSE_IMAGE" "$previous"
  log "image $PAUSE_IMAGE: built ($LABEL_KEY=$version)"
}

# build_scratch_image TAG NAME: FROM scratch + /NAME of build-addons.sh (ENTRYPOINT ["/NAME"])
build_scratch_image() {
  local tag="$1" name="$2" bin
  bin="$("$here/build-addons.sh" --path "$name")"
  [ -x "$bin" ] || "$here/build-addons.sh" "$name"
  local version; version="$( { sha256sum <"$bin"; declare -f build_scratch_image; } | short_hash)"
  if [ "$(image_label "$tag")" = "$version" ]; then
    log "image $tag: up to date ($LABEL_KEY=$version)"; return
  fi
  local dir; dir="$(mktemp -d)"
  mkdir -p "$dir/tmp" "$dir/etc"; chmod 1777 "$dir/tmp"
  cp "$bin" "$dir/$name"
  printf 'root:x:0:0:root:/:/bin/false\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ca-certificates.crt" 2>/dev/null || true
  local previous; previous="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  tar -C "$dir" --numeric-owner --owner=0 --group=0 -c . |
    docker import -c "ENTRYPOINT [\"/$name\"]" -c "ENV PATH=/" -c "LABEL $LABEL_KEY=$version" - "$tag" >/dev/null
  rm -rf "$dir"
  replace_previous "$tag" "$previous"
  log "image $tag: built ($LABEL_KEY=$version)"
}

build_node() {
  local b
  for b in "${BINARIES[@]}"; do
    [ -x "$BIN_DIR/$b" ] || "$here/build-binaries.sh"
  done
  local kube_router; kube_router="$("$here/build-addons.sh" --path kube-router)"
  [ -x "$kube_router" ] || "$here/build-addons.sh" kube-router
  local dockerfile
  dockerfile="$(cat <<DOCKERFILE
ARG BASE
FROM \$BASE
COPY bin/ /usr/local/bin/
# containerd's CRI plugin and runc detect a container from this (AppArmor is not used, etc.),
# as in kind's node image
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/etc/kubernetes/node-start.sh"]
DOCKERFILE
)"
  local version
  version="$(rootfs_key)-$( { printf '%s\n' "$dockerfile"; cd "$BIN_DIR" && sha256sum "${BINARIES[@]}"; sha256sum <"$kube_router"; } | short_hash)"
  if [ "$(image_label "$NODE_IMAGE")" = "$version" ]; then
    log "image $NODE_IMAGE: up to date ($LABEL_KEY=$version)"; return
  fi
  local started=$SECONDS
  local base; base="dind-compose/rootfs-k8s-node:$NODE_SUITE-$(rootfs_key)"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    local tarball; tarball="$(node_rootfs)"
    log "docker import $tarball -> $base"
    docker import -c "ENV $PATH_ENV" -c "LABEL $LABEL_KEY=$(rootfs_key)" -c 'CMD ["bash"]' "$tarball" "$base" >/dev/null
    local old
    for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' dind-compose/rootfs-k8s-node); do
      [ "$old" = "$base" ] || docker image rm "$old" >/dev/null 2>&1 || true
    done
  fi
  local context="$CACHE_DIR/build/k8s-node-image"
  rm -rf "$context" && mkdir -p "$context/bin"
  for b in "${BINARIES[@]}"; do ln "$BIN_DIR/$b" "$context/bin/$b" 2>/dev/null || cp "$BIN_DIR/$b" "$context/bin/$b"; done
  cp "$kube_router" "$context/bin/kube-router"
  printf '%s\n' "$dockerfile" >"$context/Dockerfile"
  local previous; previous="$(docker image inspect --format '{{.Id}}' "$NODE_IMAGE" 2>/dev/null || true)"
  log "image $NODE_IMAGE: docker build FROM $base"
  if ! DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" --label "$LABEL_KEY=$version" \
      -t "$NODE_IMAGE" "$context" >"$CACHE_DIR/build-k8s-node.log" 2>&1; then
    cat "$CACHE_DIR/build-k8s-node.log" >&2; die "docker build of $NODE_IMAGE failed"
  fi
  rm -rf "$context"
  replace_previous "$NODE_IMAGE" "$previous"
  log "image $NODE_IMAGE: built in $(( SECONDS - started )) s ($LABEL_KEY=$version)"
}

exec 9>"$CACHE_DIR/images.lock" # the same lock as scripts/images.sh: one debootstrap at a time
flock 9
started=$SECONDS
build_pause
build_node
build_scratch_image "$COREDNS_IMAGE" coredns
build_scratch_image "$LOCAL_PATH_PROVISIONER_IMAGE" local-path-provisioner
log "kubernetes images ready in $(( SECONDS - started )) s"
