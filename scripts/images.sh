#!/usr/bin/env bash
# Makes sure the images dind-compose needs exist on the Docker engine,
# idempotently. No container registry is reachable, so they are built from
# Debian trixie packages:
#   rootfs   debootstrap --variant=minbase --include=... trixie -> a tarball in
#            $CACHE_DIR/rootfs, keyed by ROOTFS_VERSION and the package list
#   base     docker import of that tarball (ENV PATH, labels)
#   final    docker build FROM the base with scripts/images/<name>/ (or, for
#            busybox, an import of a FROM-scratch tree)
# Each final image carries LABEL dind-compose.image-version=<version>, where
# the version covers ROOTFS_VERSION, the package list and the files added; an
# image whose tag exists with the same label is left alone.
#
# Images (the tags, in components/constants.json, are a contract with components/ and test/):
#   dind-compose/dind:26-trixie     stand-in for docker:dind (entrypoint contract:
#                                   DOCKER_TLS_CERTDIR, DOCKER_TLS_SAN, TLS on 2376),
#                                   also the docker/compose client image
#   dind-compose/nginx:1.26-trixie  nginx in the foreground, /etc/nginx/nginx.conf
#   dind-compose/busybox:trixie     FROM scratch + busybox-static (sh, httpd, wget)
#   dind-compose/python:3-trixie    python3 (3.13, the whole standard library) on
#                                   the minbase rootfs, for examples/code-runner
# Env: DEBIAN_MIRROR (default: the URI of the machine's debian.sources),
#      DIND_COMPOSE_IMAGES="dind nginx busybox python" (a subset to build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/images" && pwd)"

# Bump when the package lists or the way rootfs tarballs are made change.
ROOTFS_VERSION=2025-1
SUITE=trixie
DIND_IMAGE="$(constant images.standIns.dind)"
NGINX_IMAGE="$(constant images.standIns.nginx)"
BUSYBOX_IMAGE="$(constant images.standIns.busybox)"
PYTHON_IMAGE="$(constant images.standIns.python)"
# docker.io 26.1.5 (dockerd, containerd, runc, tini as docker-init), the CLI and
# the compose v2 plugin, and what the entrypoint uses (openssl, ip, iptables).
# rsync receives the project files for dind-compose:files sync; openssh-server lets a test make the
# image an engine reached over ssh:// (it is not started unless asked).
DIND_PACKAGES=docker.io,docker-cli,docker-compose,containerd,runc,tini,openssl,iptables,iproute2,ca-certificates,procps,kmod,pigz,xz-utils,rsync,openssh-server
NGINX_PACKAGES=nginx,libnginx-mod-stream,ca-certificates,busybox-static
# python3 pulls libpython3.13-stdlib (http.server, json, ...), not only -minimal.
PYTHON_PACKAGES=python3
LABEL_KEY=dind-compose.image-version
PATH_ENV='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

if [ -x /usr/local/bin/docker ] && [ "$(command -v docker)" != /usr/local/bin/docker ]; then
  export PATH="/usr/local/bin:$PATH"
fi
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  die "no Docker engine answers (run scripts/docker-engine.sh first)"

short_hash() { sha256sum | cut -c1-12; }

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri="$(awk '$1 == "deb" && $2 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

image_label() { # image_label TAG -> the version label, or nothing
  docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null || apt_install debootstrap
}

rootfs_key() { echo "$ROOTFS_VERSION-$(printf '%s|%s' "$SUITE" "$1" | short_hash)"; }
tarball_path() { echo "$CACHE_DIR/rootfs/$1-$SUITE-$(rootfs_key "$2").tar"; }
base_tag() { echo "dind-compose/rootfs-$1:$SUITE-$(rootfs_key "$2")"; }

# rootfs_tarball NAME PACKAGES -> path of the cached tarball (built if missing)
rootfs_tarball() {
  local name="$1" packages="$2"
  local tarball; tarball="$(tarball_path "$name" "$packages")"
  if [ -s "$tarball" ]; then
    log "rootfs $name: cached ($tarball)"
    echo "$tarball"; return
  fi
  ensure_debootstrap
  # a package cache per rootfs: two of them may be built at the same time
  mkdir -p "$CACHE_DIR/rootfs" "$CACHE_DIR/debs/$name"
  local stale # left by an interrupted run (runs are serialised by the lock below)
  for stale in "$CACHE_DIR/rootfs/.build-$name."*; do
    [ -e "$stale" ] || continue
    umount_under "$stale"; rm -rf --one-file-system "$stale"
  done
  local dir; dir="$(mktemp -d "$CACHE_DIR/rootfs/.build-$name.XXXXXX")"
  local mirror; mirror="$(debian_mirror)"
  local started=$SECONDS
  log "rootfs $name: debootstrap --variant=minbase $SUITE from $mirror (+ $packages)"
  # Two stages, so that a policy-rc.d is in place before any package is
  # configured: docker.io's postinst must not start a dockerd in the chroot.
  if ! debootstrap --foreign --variant=minbase --include="$packages" --cache-dir="$CACHE_DIR/debs/$name" \
      "$SUITE" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2; rm -rf --one-file-system "$dir"; die "debootstrap (first stage) failed; log: $dir.log"
  fi
  printf '#!/bin/sh\n# no service starts in images\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod +x "$dir/usr/sbin/policy-rc.d"
  # No fsync per file: a rootfs is thrown away on failure anyway (this halves
  # the second stage; Debian's own docker images keep the same setting).
  mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
  echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  if ! chroot "$dir" /debootstrap/debootstrap --second-stage >>"$dir.log" 2>&1; then
    tail -n 20 "$dir.log" >&2; umount_under "$dir"; rm -rf --one-file-system "$dir"; die "debootstrap (second stage) failed; log: $dir.log"
  fi
  umount_under "$dir"
  # Slim down: package caches and lists, logs, docs (as Debian's docker images do).
  local root="${dir:?}"
  # shellcheck disable=SC2115 # root is checked non-empty just above
  rm -rf --one-file-system "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log \
    "$root"/var/log/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/dev/* "$root"/tmp/* "$root"/root/.bash_history
  : >"$dir/etc/hostname"; : >"$dir/etc/resolv.conf"
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$dir/etc/apt/sources.list"
  tar -C "$dir" --numeric-owner --xattrs -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf --one-file-system "$dir" "$dir.log"
  log "rootfs $name: built in $(( SECONDS - started )) s ($(du -h "$tarball" | cut -f1), $tarball)"
  echo "$tarball"
}

umount_under() { # unmount whatever debootstrap left mounted under DIR
  local mnt
  # shellcheck disable=SC2013 # mount points from debootstrap have no spaces
  for mnt in $(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$mnt" 2>/dev/null || true
  done
}

# base_image NAME PACKAGES -> tag of the imported rootfs
base_image() {
  local name="$1" packages="$2"
  local key; key="$(rootfs_key "$packages")"
  local tag; tag="$(base_tag "$name" "$packages")"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag"; return
  fi
  local tarball; tarball="$(rootfs_tarball "$name" "$packages")"
  log "docker import $tarball -> $tag"
  docker import -c "ENV $PATH_ENV" -c "LABEL $LABEL_KEY=$key" -c 'CMD ["bash"]' \
    "$tarball" "$tag" >/dev/null
  # Older rootfs versions of this image: untag them, drop their tarballs.
  local old
  for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "dind-compose/rootfs-$name"); do
    [ "$old" = "$tag" ] || docker image rm "$old" >/dev/null 2>&1 || true
  done
  find "$CACHE_DIR/rootfs" -maxdepth 1 -name "$name-$SUITE-*.tar" ! -name "${tarball##*/}" -delete
  echo "$tag"
}

# the label of a built image: rootfs version, package list, files added
image_version() {
  local context="$IMAGES_DIR/$1"
  echo "$ROOTFS_VERSION-$( { printf '%s|%s\n' "$SUITE" "$2"; cd "$context" && find . -type f | LC_ALL=C sort | xargs sha256sum; } | short_hash)"
}
busybox_version() {
  echo "$ROOTFS_VERSION-$(printf '%s|%s|%s\n' "$SUITE" "$NGINX_PACKAGES" "$(declare -f build_busybox)" | short_hash)"
}

# build_image TAG NAME PACKAGES: docker build scripts/images/NAME FROM the base
build_image() {
  local tag="$1" name="$2" packages="$3"
  local context="$IMAGES_DIR/$name"
  local version; version="$(image_version "$name" "$packages")"
  if [ "$(image_label "$tag")" = "$version" ]; then
    log "image $tag: up to date ($LABEL_KEY=$version)"
    return
  fi
  local started=$SECONDS
  local previous; previous="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  local base; base="$(base_image "$name" "$packages")"
  log "image $tag: docker build FROM $base"
  # The classic builder: it needs no buildx plugin and works with any engine.
  if ! DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base" \
      --label "$LABEL_KEY=$version" -t "$tag" "$context" >"$CACHE_DIR/build-$name.log" 2>&1; then
    cat "$CACHE_DIR/build-$name.log" >&2; die "docker build of $tag failed"
  fi
  # the image this tag named before, unless a container still uses it
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "image $tag: built in $(( SECONDS - started )) s ($LABEL_KEY=$version)"
}

# busybox: FROM scratch, the static busybox of the trixie busybox-static package
# (taken from the nginx rootfs tarball) with a symlink per applet.
build_busybox() {
  local tag="$BUSYBOX_IMAGE"
  local version; version="$(busybox_version)"
  if [ "$(image_label "$tag")" = "$version" ]; then
    log "image $tag: up to date ($LABEL_KEY=$version)"
    return
  fi
  local tarball; tarball="$(rootfs_tarball nginx "$NGINX_PACKAGES")"
  local dir; dir="$(mktemp -d)"
  mkdir -p "$dir/bin" "$dir/etc" "$dir/root" "$dir/tmp" "$dir/var/www" "$dir/home" "$dir/usr" "$dir/dev" "$dir/proc" "$dir/sys"
  chmod 1777 "$dir/tmp"
  # trixie is merged-/usr: the file lives in usr/bin (bin is a symlink)
  tar -xOf "$tarball" ./usr/bin/busybox >"$dir/bin/busybox" 2>/dev/null ||
    tar -xOf "$tarball" ./bin/busybox >"$dir/bin/busybox" ||
    { rm -rf "$dir"; die "no busybox in $tarball"; }
  chmod 0755 "$dir/bin/busybox"
  local applet
  for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' >"$dir/etc/group"
  log "image $tag: docker import of a FROM-scratch tree ($(find "$dir/bin" -type l | wc -l) applets)"
  local previous; previous="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
  tar -C "$dir" --numeric-owner --owner=0 --group=0 -c . |
    docker import -c "ENV PATH=/bin" -c "LABEL $LABEL_KEY=$version" -c 'CMD ["sh"]' - "$tag" >/dev/null
  rm -rf "$dir"
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
  log "image $tag: built ($LABEL_KEY=$version)"
}

# one build at a time per cache (two checkouts, CI and a developer)
exec 9>"$CACHE_DIR/images.lock"
flock 9

started=$SECONDS
images="${DIND_COMPOSE_IMAGES:-dind nginx busybox python}"

# Rootfs tarballs that a stale image needs and that are not there yet are
# built first, side by side (debootstrap is mostly waiting on one core).
declare -A missing=()
for image in $images; do
  case "$image" in
    dind | nginx | python)
      case "$image" in
        dind) tag="$DIND_IMAGE" packages="$DIND_PACKAGES" ;;
        nginx) tag="$NGINX_IMAGE" packages="$NGINX_PACKAGES" ;;
        python) tag="$PYTHON_IMAGE" packages="$PYTHON_PACKAGES" ;;
      esac
      if [ "$(image_label "$tag")" != "$(image_version "$image" "$packages")" ] &&
         ! docker image inspect "$(base_tag "$image" "$packages")" >/dev/null 2>&1 &&
         [ ! -s "$(tarball_path "$image" "$packages")" ]; then
        missing[$image]="$packages"
      fi ;;
    busybox)
      if [ "$(image_label "$BUSYBOX_IMAGE")" != "$(busybox_version)" ] &&
         [ ! -s "$(tarball_path nginx "$NGINX_PACKAGES")" ]; then
        missing[nginx]="$NGINX_PACKAGES"
      fi ;;
  esac
done
if [ "${#missing[@]}" -gt 1 ]; then
  ensure_debootstrap # once, before apt could run twice
  declare -A pids=()
  for name in "${!missing[@]}"; do
    rootfs_tarball "$name" "${missing[$name]}" >/dev/null &
    pids[$name]=$!
  done
  failed=""
  for name in "${!pids[@]}"; do
    wait "${pids[$name]}" || failed="$failed $name"
  done
  [ -z "$failed" ] || die "building the rootfs of:$failed failed (see above)"
fi

for image in $images; do
  case "$image" in
    dind) build_image "$DIND_IMAGE" dind "$DIND_PACKAGES" ;;
    nginx) build_image "$NGINX_IMAGE" nginx "$NGINX_PACKAGES" ;;
    busybox) build_busybox ;;
    python) build_image "$PYTHON_IMAGE" python "$PYTHON_PACKAGES" ;;
    *) die "unknown image '$image' (dind, nginx, busybox, python)" ;;
  esac
done
log "images ready in $(( SECONDS - started )) s"
