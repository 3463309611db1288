#!/usr/bin/env bash
# A three-node Kubernetes test cluster in containers of the host's Docker engine:
#   dind-compose-test-control-plane  etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                                    and containerd + kubelet + kube-proxy (a node, tainted NoSchedule)
#   dind-compose-test-worker(2)      containerd + kubelet + kube-proxy
# on the docker network dind-compose-test (a fixed /24, so that node addresses are known before
# the certificates are made). The apiserver is published on 127.0.0.1:$DIND_COMPOSE_K8S_API_PORT
# (36443); the admin kubeconfig is $CACHE_DIR/kubernetes/kubeconfig, context dind-compose-test.
# Pod network: the CNI bridge plugin on each node with its own pod CIDR (10.244.<n>.0/24), and a
# route on each node to the other nodes' pod CIDRs via their addresses; kube-proxy in iptables mode.
# Certificates: openssl, one CA, a client certificate per component and per kubelet.
# No registry: images pods use are imported into every node's containerd (load-images).
# Add-ons (setup_addons, manifests/): CoreDNS at 10.96.0.10, the local-path StorageClass (default), and
# NetworkPolicy enforcement by kube-router's firewall on each node (node/start.sh; RBAC in manifests/).
# Everything created carries the label dind-compose.test-cluster=1.
#
# Usage: scripts/kubernetes/cluster.sh up                 idempotent; waits until all nodes are Ready
#        scripts/kubernetes/cluster.sh down               removes containers, network, volumes, state
#        scripts/kubernetes/cluster.sh status
#        scripts/kubernetes/cluster.sh load-images IMG... docker save IMG | ctr -n k8s.io images import, on each node
#        scripts/kubernetes/cluster.sh kubectl ARGS...    kubectl with the cluster's kubeconfig
# Env: DIND_COMPOSE_K8S_API_PORT (36443), DIND_COMPOSE_K8S_SUBNETS (candidate /24s for the network).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"
source "$here/versions.sh"

CLUSTER=dind-compose-test
LABEL=dind-compose.test-cluster=1
NETWORK=$CLUSTER
STATE="$CACHE_DIR/kubernetes/cluster"
KUBECONFIG_FILE="$CACHE_DIR/kubernetes/kubeconfig"
API_PORT="${DIND_COMPOSE_K8S_API_PORT:-36443}"
SUBNETS="${DIND_COMPOSE_K8S_SUBNETS:-10.213.0.0/24 10.213.1.0/24 10.213.2.0/24 172.31.213.0/24}"
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
NODES=("$CLUSTER-control-plane" "$CLUSTER-worker" "$CLUSTER-worker2")
READY_TIMEOUT="${DIND_COMPOSE_K8S_READY_TIMEOUT:-240}"

if [ -x /usr/local/bin/docker ] && [ "$(command -v docker)" != /usr/local/bin/docker ]; then
  export PATH="/usr/local/bin:$PATH"
fi

# kubectl of the cluster's version, built by build-binaries.sh (one on PATH if that is not there)
KUBECTL="$CACHE_DIR/kubernetes/kubernetes-v$KUBERNETES_VERSION/bin/kubectl"
[ -x "$KUBECTL" ] || KUBECTL=kubectl
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
node_index() { local i; for i in "${!NODES[@]}"; do if [ "${NODES[$i]}" = "$1" ]; then echo "$i"; fi; done; }

# --- certificates and configuration ------------------------------------------------------------
pki="$STATE/pki"
new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
cert() { # cert NAME SUBJECT [SANS]: a certificate signed by the cluster CA (server+client with SANS)
  local name="$1" subject="$2" sans="${3:-}"
  new_key "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
kubeconfig() { # kubeconfig FILE SERVER CERT-NAME USER
  cat >"$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER
  cluster:
    server: $2
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $4
  user:
    client-certificate-data: $(base64 -w0 "$pki/$3.crt")
    client-key-data: $(base64 -w0 "$pki/$3.key")
contexts:
- name: $CLUSTER
  context:
    cluster: $CLUSTER
    user: $4
current-context: $CLUSTER
YAML
  chmod 600 "$1"
}

make_state() { # make_state PREFIX (e.g. 10.213.0): the CA, certificates and each node's /etc/kubernetes
  local prefix="$1" cp_ip="$1.10"
  rm -rf "$STATE" && mkdir -p "$pki"
  new_key "$pki/ca.key"
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=$CLUSTER-ca" -days 3650 -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:${NODES[0]},DNS:localhost,IP:10.96.0.1,IP:$cp_ip,IP:127.0.0.1"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert admin "/O=system:masters/CN=kubernetes-admin"
  cert controller-manager "/CN=system:kube-controller-manager"
  cert scheduler "/CN=system:kube-scheduler"
  cert kube-proxy "/CN=system:kube-proxy"
  cert kube-router "/CN=system:kube-router"
  kubeconfig "$KUBECONFIG_FILE" "https://127.0.0.1:$API_PORT" admin kubernetes-admin
  docker save "$PAUSE_IMAGE" -o "$STATE/pause.tar"

  local routes_all="" i
  for i in "${!NODES[@]}"; do routes_all="$routes_all 10.244.$i.0/24=$prefix.$((10 + i))"; done
  for i in "${!NODES[@]}"; do
    local node="${NODES[$i]}" dir="$STATE/nodes/${NODES[$i]}" role=worker
    [ "$i" = 0 ] && role=control-plane
    mkdir -p "$dir/pki" "$dir/images"
    cp "$here/node/start.sh" "$dir/node-start.sh"
    ln "$STATE/pause.tar" "$dir/images/pause.tar"
    cert "node-$node" "/O=system:nodes/CN=system:node:$node"
    cp "$pki/ca.crt" "$dir/pki/"
    kubeconfig "$dir/kubelet.conf" "https://$cp_ip:6443" "node-$node" "system:node:$node"
    kubeconfig "$dir/kube-proxy.conf" "https://$cp_ip:6443" kube-proxy system:kube-proxy
    kubeconfig "$dir/kube-router.conf" "https://$cp_ip:6443" kube-router system:kube-router
    if [ "$role" = control-plane ]; then
      cp "$pki"/{ca.key,sa.key,sa.pub,apiserver.crt,apiserver.key,apiserver-kubelet-client.crt,apiserver-kubelet-client.key} "$dir/pki/"
      kubeconfig "$dir/controller-manager.conf" https://127.0.0.1:6443 controller-manager system:kube-controller-manager
      kubeconfig "$dir/scheduler.conf" https://127.0.0.1:6443 scheduler system:kube-scheduler
    fi
    local routes="" r
    for r in $routes_all; do [ "${r%%=*}" = "10.244.$i.0/24" ] || routes="$routes $r"; done
    cat >"$dir/node.env" <<ENV
NODE_NAME=$node
NODE_IP=$prefix.$((10 + i))
ROLE=$role
POD_CIDR=10.244.$i.0/24
CLUSTER_CIDR=$CLUSTER_CIDR
SERVICE_CIDR=$SERVICE_CIDR
ROUTES="${routes# }"
CGROUP_ROOT=/$CLUSTER/$node
ENV
    # containerd 1.7: no CAP_SYS_RESOURCE in the node container, so the pods' oom_score_adj may not
    # go below containerd's own (restrict_oom_score_adj); the sandbox image is the local pause image.
    cat >"$dir/containerd.toml" <<TOML
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
TOML
    # kubelet: cgroup v1 with the cgroupfs driver (the engine's), its own cgroup root per node;
    # no image garbage collection (no registry to pull an image back from) and no disk eviction.
    cat >"$dir/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /$CLUSTER/$node
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
oomScoreAdj: 0
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
resolvConf: /etc/kubernetes/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%"}
serializeImagePulls: false
YAML
    cat >"$dir/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: /etc/kubernetes/kube-proxy.conf}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $node
oomScoreAdj: 0
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
    # the nameservers of the host (the engine's embedded DNS at 127.0.0.11 is not reachable from pods)
    grep -E '^(nameserver|search|options)' /etc/resolv.conf | grep -v '127\.' >"$dir/resolv.conf" || true
    [ -s "$dir/resolv.conf" ] || echo "nameserver 1.1.1.1" >"$dir/resolv.conf"
  done
}

# --- containers --------------------------------------------------------------------------------
ours() { docker "$1" ls -q --filter "label=$LABEL" "${@:2}"; }

create_network() { # prints the /24 prefix (e.g. 10.213.0) of the network made
  local subnet
  if docker network inspect "$NETWORK" >/dev/null 2>&1; then
    subnet="$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "$NETWORK")"
    echo "${subnet%.*}"; return
  fi
  for subnet in $SUBNETS; do
    if docker network create --label "$LABEL" --subnet "$subnet" "$NETWORK" >/dev/null 2>"$CACHE_DIR/kubernetes/network.err"; then
      echo "${subnet%.*}"; return
    fi
  done
  cat "$CACHE_DIR/kubernetes/network.err" >&2
  die "no free subnet among $SUBNETS for the docker network $NETWORK (DIND_COMPOSE_K8S_SUBNETS)"
}

run_node() { # run_node INDEX PREFIX
  local i="$1" prefix="$2" node="${NODES[$1]}" publish=()
  [ "$i" = 0 ] && publish=(-p "127.0.0.1:$API_PORT:6443")
  local flags; mapfile -t flags < <(constant dindCapabilityFlags)
  docker volume create --label "$LABEL" "$node-var" >/dev/null
  docker run -d --restart unless-stopped --name "$node" --hostname "$node" --label "$LABEL" --label "dind-compose.test-cluster.node=$node" \
    --network "$NETWORK" --ip "$prefix.$((10 + i))" "${publish[@]}" "${flags[@]}" \
    --device /dev/kmsg --tmpfs /run --tmpfs /tmp \
    --volume "$node-var:/var" --volume "$STATE/nodes/$node:/etc/kubernetes:ro" \
    --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv4.conf.all.rp_filter=0 \
    "$NODE_IMAGE" >/dev/null
}

all_running() {
  local node
  for node in "${NODES[@]}"; do
    [ "$(docker inspect -f '{{.State.Running}}' "$node" 2>/dev/null)" = true ] || return 1
  done
  [ -s "$KUBECONFIG_FILE" ]
}

wait_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) node i
  until k get --raw /readyz >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "the apiserver did not answer in ${READY_TIMEOUT} s (logs: docker exec ${NODES[0]} tail /var/log/kubernetes/kube-apiserver.log)"
    sleep 1
  done
  # kube-router's RBAC as soon as the apiserver answers: its informers retry with a growing back-off
  k apply -f "$here/manifests/kube-router.yaml" >/dev/null
  for node in "${NODES[@]}"; do
    until k get node "$node" >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || die "node $node did not register in ${READY_TIMEOUT} s (logs: docker exec $node tail /var/log/kubernetes/kubelet.log)"
      sleep 1
    done
    i="$(node_index "$node")"
    # the pod CIDR the node's bridge uses, for tools that read it (kubelet may not set it itself)
    if [ -z "$(k get node "$node" -o jsonpath='{.spec.podCIDR}')" ]; then
      k patch node "$node" --type merge -p "{\"spec\":{\"podCIDR\":\"10.244.$i.0/24\",\"podCIDRs\":[\"10.244.$i.0/24\"]}}" >/dev/null
    fi
    if [ "$i" = 0 ]; then k label node "$node" --overwrite node-role.kubernetes.io/control-plane= >/dev/null
    else k label node "$node" --overwrite node-role.kubernetes.io/worker= >/dev/null; fi
  done
  local left=$((deadline - SECONDS)); [ $left -gt 0 ] || left=1
  k wait --for=condition=Ready node --all --timeout="${left}s" >/dev/null ||
    { k get nodes -o wide >&2; die "not all nodes are Ready after ${READY_TIMEOUT} s"; }
}

cmd_up() {
  local started=$SECONDS
  exec 8>"$CACHE_DIR/kubernetes-cluster.lock"; flock 8
  if all_running; then
    wait_ready
    setup_addons
    log "cluster $CLUSTER: up (${#NODES[@]} nodes Ready, $(( SECONDS - started )) s), KUBECONFIG=$KUBECONFIG_FILE"
    return
  fi
  "$here/images.sh" # builds the binaries (kubectl too) first if they are missing
  KUBECTL="$CACHE_DIR/kubernetes/kubernetes-v$KUBERNETES_VERSION/bin/kubectl"
  [ -x "$KUBECTL" ] || die "no $KUBECTL (scripts/kubernetes/build-binaries.sh builds it)"
  teardown
  mkdir -p "$CACHE_DIR/kubernetes"
  local prefix; prefix="$(create_network)"
  make_state "$prefix"
  local i
  for i in "${!NODES[@]}"; do run_node "$i" "$prefix"; done
  log "cluster $CLUSTER: ${#NODES[@]} node containers started on $NETWORK ($prefix.0/24), waiting for the nodes"
  wait_ready
  setup_addons
  log "cluster $CLUSTER: up in $(( SECONDS - started )) s, KUBECONFIG=$KUBECONFIG_FILE (context $CLUSTER), apiserver https://127.0.0.1:$API_PORT"
}

# setup_addons: the add-ons' images imported into every node, manifests/*.yaml applied, CoreDNS and the
# provisioner rolled out. Skipped while the manifests and the images are those of the last run.
setup_addons() {
  local busybox images key
  busybox="$(constant images.standIns.busybox)" # the provisioner's helper pods
  docker image inspect "$busybox" >/dev/null 2>&1 || DIND_COMPOSE_IMAGES=busybox "$here/../images.sh"
  images=("$COREDNS_IMAGE" "$LOCAL_PATH_PROVISIONER_IMAGE" "$busybox")
  # the manifests name the images of versions.sh (and the helper pods the project's busybox)
  render() {
    local f
    for f in "$here"/manifests/*.yaml; do
      echo --- # a file's last document does not run into the next file's first
      sed -e "s#image: dind-compose/k8s-coredns:.*#image: $COREDNS_IMAGE#" \
        -e "s#image: dind-compose/local-path-provisioner:.*#image: $LOCAL_PATH_PROVISIONER_IMAGE#" \
        -e "s#image: dind-compose/busybox:.*#image: $busybox#" "$f"
    done
  }
  key="$( { render; docker image inspect -f '{{.Id}}' "${images[@]}"; } | sha256sum | cut -c1-16)"
  local previous; previous="$(cat "$STATE/addons.key" 2>/dev/null || true)"
  if [ "$previous" = "$key" ]; then return; fi
  local started=$SECONDS
  cmd_load_images "${images[@]}"
  render | k apply -f - >/dev/null
  if [ -n "$previous" ]; then # an image rebuilt under the same tag: new pods
    k -n kube-system rollout restart deploy/coredns >/dev/null
    k -n local-path-storage rollout restart deploy/local-path-provisioner >/dev/null
  fi
  k -n kube-system rollout status deploy/coredns --timeout=120s >/dev/null ||
    die "CoreDNS did not start (kubectl -n kube-system describe pod -l k8s-app=kube-dns)"
  k -n local-path-storage rollout status deploy/local-path-provisioner --timeout=120s >/dev/null ||
    die "local-path-provisioner did not start (kubectl -n local-path-storage describe pod)"
  echo "$key" >"$STATE/addons.key"
  log "cluster $CLUSTER: add-ons ready in $(( SECONDS - started )) s (CoreDNS 10.96.0.10, StorageClass local-path, NetworkPolicy by kube-router)"
}

cleanup_cgroups() { # the kubelets' cgroup roots (/$CLUSTER/<node>) outside the containers' cgroups
  local d
  for d in /sys/fs/cgroup/*/"$CLUSTER"; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

teardown() {
  local ids
  mapfile -t ids < <(ours container -a); [ ${#ids[@]} = 0 ] || docker rm -f -v "${ids[@]}" >/dev/null
  mapfile -t ids < <(ours network); [ ${#ids[@]} = 0 ] || docker network rm "${ids[@]}" >/dev/null
  mapfile -t ids < <(ours volume); [ ${#ids[@]} = 0 ] || docker volume rm "${ids[@]}" >/dev/null
  cleanup_cgroups
  rm -rf "$STATE" "$KUBECONFIG_FILE" "$CACHE_DIR/kubernetes/network.err"
}

cmd_down() {
  exec 8>"$CACHE_DIR/kubernetes-cluster.lock"; flock 8
  teardown
  log "cluster $CLUSTER: removed (containers, network, volumes, state)"
}

cmd_status() {
  docker ps -a --filter "label=$LABEL" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
  if [ -s "$KUBECONFIG_FILE" ]; then k get nodes -o wide || true; fi
}

cmd_load_images() {
  [ $# -gt 0 ] || die "usage: cluster.sh load-images IMAGE..."
  local image id tmp node
  tmp="$(mktemp)"
  for image in "$@"; do
    id="$(docker image inspect -f '{{.Id}}' "$image")" || die "no image $image on the engine"
    local todo=()
    for node in "${NODES[@]}"; do
      if docker exec "$node" ctr -n k8s.io images ls -q | grep -qx "docker.io/${image#docker.io/}" &&
         docker exec "$node" ctr -n k8s.io content get "$id" >/dev/null 2>&1; then continue; fi
      todo+=("$node")
    done
    if [ ${#todo[@]} = 0 ]; then log "image $image: on every node"; continue; fi
    docker save -o "$tmp" "$image"
    for node in "${todo[@]}"; do
      docker exec -i "$node" ctr -n k8s.io images import - <"$tmp" >/dev/null || die "importing $image into $node failed"
    done
    log "image $image: imported into ${todo[*]}"
  done
  rm -f "$tmp"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  load-images) shift; cmd_load_images "$@" ;;
  kubectl) shift; k "$@" ;;
  *) die "usage: $0 up|down|status|load-images IMAGE...|kubectl ARGS..." ;;
esac
