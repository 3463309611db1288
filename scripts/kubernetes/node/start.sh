#!/bin/bash
# PID 1 of a test-cluster node container (dind-compose/k8s-node). cluster.sh mounts this file and
# the node's configuration (node.env, pki/, kubeconfigs, component configs) at /etc/kubernetes.
# Starts containerd, on the control plane etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler, then kubelet and kube-proxy, each in a restart loop with its log in
# /var/log/kubernetes/<name>.log. Not for a real machine: see the sysctl note below.
set -euo pipefail
# shellcheck source=/dev/null # written by cluster.sh
source /etc/kubernetes/node.env # NODE_NAME NODE_IP ROLE POD_CIDR CLUSTER_CIDR SERVICE_CIDR ROUTES CGROUP_ROOT
K=/etc/kubernetes
LOGS=/var/log/kubernetes
mkdir -p "$LOGS" /var/lib/etcd /var/lib/kubelet /etc/cni/net.d /run/dind-compose
say() { printf '[node %s] %s\n' "$NODE_NAME" "$*"; }

children=()
stop() { say "stopping"; kill "${children[@]}" 2>/dev/null || true; exit 0; }
trap stop TERM INT

# kubelet's mounts need shared propagation; sysfs is mounted read-only in a non-privileged container.
mount --make-rshared /
mount -o remount,rw /sys 2>/dev/null || say "sysfs stays read-only"

# kubelet sets kernel tunables that are not namespaced (vm.overcommit_memory, kernel.panic, ...)
# and exits if it cannot: in a container they are the host's. Where the host's value differs from
# the one kubelet wants, a file with kubelet's value is bind-mounted over the /proc/sys entry of
# this container, so kubelet reads what it wants and the host's kernel is left alone.
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  f="/proc/sys/${kv%%=*}" v="${kv#*=}"
  [ -e "$f" ] || continue
  if [ "$(cat "$f")" != "$v" ]; then
    fake="/run/dind-compose/sysctl-$(tr / - <<<"${kv%%=*}")"
    echo "$v" >"$fake"
    mount --bind -o ro "$fake" "$f" 2>/dev/null || mount --bind "$fake" "$f"
  fi
done

# kubelet wants its cgroup root (cgroup v1, cgroupfs driver: one per node, outside the container's
# own cgroup) to exist in every hierarchy; a new cpuset cgroup starts with no cpus and mems.
for hierarchy in /sys/fs/cgroup/*/; do
  [ "$hierarchy" = /sys/fs/cgroup/unified/ ] && continue
  mkdir -p "$hierarchy${CGROUP_ROOT#/}"
done
if [ -d /sys/fs/cgroup/cpuset ]; then
  dir=/sys/fs/cgroup/cpuset
  for part in $(tr / ' ' <<<"$CGROUP_ROOT"); do
    parent="$dir"; dir="$dir/$part"
    for f in cpuset.cpus cpuset.mems; do
      [ -n "$(cat "$dir/$f")" ] || cat "$parent/$f" >"$dir/$f"
    done
  done
fi
[ -s /etc/machine-id ] || tr -d - </proc/sys/kernel/random/uuid >/etc/machine-id

# Namespaced networking settings (this container's netns).
sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null ||
  say "no br_netfilter sysctls in this netns"
# Pod network: a bridge per node (the CNI bridge plugin), a route to each other node's pod CIDR
# via that node's address on the docker network, masquerade only for traffic leaving the cluster.
for route in $ROUTES; do ip route replace "${route%=*}" via "${route#*=}"; done
iptables -t nat -C POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE 2>/dev/null ||
  iptables -t nat -A POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -j MASQUERADE
cat >/etc/cni/net.d/10-dind-compose.conflist <<CNI
{
  "cniVersion": "1.0.0",
  "name": "dind-compose",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI

supervise() { # supervise NAME COMMAND...: runs COMMAND again 2 s after each exit
  local name="$1"; shift
  (
    trap 'kill $pid 2>/dev/null; exit 0' TERM
    while true; do
      "$@" >>"$LOGS/$name.log" 2>&1 &
      pid=$!
      wait $pid && rc=0 || rc=$?
      echo "[node-start] $name exited with $rc, restarting in 2 s" >>"$LOGS/$name.log"
      sleep 2
    done
  ) &
  children+=($!)
}

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { say "gave up waiting for: $*"; return 1; }
    sleep 0.5
  done
}

supervise containerd containerd --config "$K/containerd.toml"
wait_for 60 test -S /run/containerd/containerd.sock
for image in "$K"/images/*.tar; do # images cluster.sh put there (the pause image)
  if [ -e "$image" ]; then ctr -n k8s.io images import "$image" >/dev/null 2>&1 || true; fi
done

if [ "$ROLE" = control-plane ]; then
  supervise etcd etcd --name "$NODE_NAME" --data-dir /var/lib/etcd \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --snapshot-count 10000
  supervise kube-apiserver kube-apiserver --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
    --etcd-servers=http://127.0.0.1:2379 --service-cluster-ip-range="$SERVICE_CIDR" \
    --tls-cert-file=$K/pki/apiserver.crt --tls-private-key-file=$K/pki/apiserver.key --client-ca-file=$K/pki/ca.crt \
    --kubelet-client-certificate=$K/pki/apiserver-kubelet-client.crt --kubelet-client-key=$K/pki/apiserver-kubelet-client.key \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file=$K/pki/sa.pub --service-account-signing-key-file=$K/pki/sa.key \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --profiling=false
  supervise kube-controller-manager kube-controller-manager --bind-address=127.0.0.1 \
    --kubeconfig=$K/controller-manager.conf --authentication-kubeconfig=$K/controller-manager.conf \
    --authorization-kubeconfig=$K/controller-manager.conf --leader-elect=false \
    --cluster-signing-cert-file=$K/pki/ca.crt --cluster-signing-key-file=$K/pki/ca.key --root-ca-file=$K/pki/ca.crt \
    --service-account-private-key-file=$K/pki/sa.key --use-service-account-credentials=true \
    --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false --profiling=false
  supervise kube-scheduler kube-scheduler --bind-address=127.0.0.1 --kubeconfig=$K/scheduler.conf \
    --authentication-kubeconfig=$K/scheduler.conf --authorization-kubeconfig=$K/scheduler.conf \
    --leader-elect=false --profiling=false
fi

taints=()
[ "$ROLE" = control-plane ] && taints=(--register-with-taints=node-role.kubernetes.io/control-plane=:NoSchedule)
supervise kubelet kubelet --config=$K/kubelet-config.yaml --kubeconfig=$K/kubelet.conf \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" "${taints[@]}"
supervise kube-proxy kube-proxy --config=$K/kube-proxy-config.yaml
# NetworkPolicy enforcement (the CNI bridge has none): kube-router's network policy controller only, iptables
# and ipset in this node's netns; pod routing stays with the bridge and the routes above, services with kube-proxy.
if command -v kube-router >/dev/null && [ -s $K/kube-router.conf ]; then
  supervise kube-router kube-router --kubeconfig=$K/kube-router.conf --hostname-override="$NODE_NAME" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767
fi
say "started (${ROLE}, pod CIDR $POD_CIDR)"
while true; do wait || true; sleep 1; done
