#!/usr/bin/env bash
# Checks the test cluster (cluster.sh up) does what the Kubernetes feature needs, in a namespace of its own
# (dind-compose-verify, deleted at the end unless KEEP=1):
#   scheduling    a pod on each worker (the control plane is tainted)
#   network       pod to pod across the workers, a ClusterIP Service from the other worker, a NodePort from the host
#   dns           CoreDNS: kubernetes.default.svc.cluster.local and the Service's name from a pod
#   storage       a local-path PVC binds; what a pod wrote is there for the next pod
#   netpol        deny-all ingress on the web pod blocks a pod on the other worker; allowing app=gateway lets only it in
#   dind          dind-compose/dind:26-trixie, privileged, in a StatefulSet with /var/lib/docker on a PVC:
#                 docker run of busybox with a named volume; the image and the volume's data survive the pod
# Prints one line per check; exits 1 if one failed.
# Usage: scripts/kubernetes/verify.sh [CHECK...]   (default: all, in the order above)   Env: KEEP=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../lib.sh"

NS=dind-compose-verify
BUSYBOX="$(constant images.standIns.busybox)"
DIND="$(constant images.standIns.dind)"
cluster() { bash "$here/cluster.sh" "$@"; }
k() { cluster kubectl -n "$NS" "$@"; }
failed=0
pass() { printf '[verify] ok    %s\n' "$*" >&2; }
fail() { printf '[verify] FAIL  %s\n' "$*" >&2; failed=1; }
check() { # check DESCRIPTION COMMAND...: pass when COMMAND succeeds
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
fetch() { k exec "$1" -- wget -qO- -T 3 "http://$2/" 2>/dev/null; } # fetch POD HOST[:PORT]
reaches() { [ "$(fetch "$1" "$2")" = "hello from web" ]; }
blocked() { ! fetch "$1" "$2" >/dev/null; }
retry() { local _; for _ in 1 2 3 4 5 6 7 8 9 10; do "$@" && return 0; sleep 1; done; return 1; }

setup() {
  cluster load-images "$BUSYBOX" >/dev/null
  cluster kubectl create namespace "$NS" --dry-run=client -o yaml | cluster kubectl apply -f - >/dev/null
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: dind-compose-test-worker}
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: $BUSYBOX
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && echo "hello from web" > /www/index.html && exec httpd -f -p 8080 -h /www']
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeSelector: {kubernetes.io/hostname: dind-compose-test-worker2}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: $BUSYBOX, imagePullPolicy: Never, command: [sleep, "100000"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: gateway, labels: {app: gateway}}
spec:
  nodeSelector: {kubernetes.io/hostname: dind-compose-test-worker2}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: $BUSYBOX, imagePullPolicy: Never, command: [sleep, "100000"]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
YAML
  k wait --for=condition=Ready pod/web pod/client pod/gateway --timeout=120s >/dev/null
}

check_scheduling() {
  check "web on worker" test "$(k get pod web -o jsonpath='{.spec.nodeName}')" = dind-compose-test-worker
  check "client on worker2" test "$(k get pod client -o jsonpath='{.spec.nodeName}')" = dind-compose-test-worker2
  check "only CoreDNS (it tolerates the taint) on the control plane" test -z "$(cluster kubectl get pods -A --field-selector spec.nodeName=dind-compose-test-control-plane \
    -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' | grep -v '^kube-system/coredns-' || true)"
}

check_network() {
  local ip cip port node_ip
  ip="$(k get pod web -o jsonpath='{.status.podIP}')"
  cip="$(k get svc web -o jsonpath='{.spec.clusterIP}')"
  port="$(k get svc web -o jsonpath='{.spec.ports[0].nodePort}')"
  node_ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' dind-compose-test-worker2)"
  check "pod to pod across workers (client -> $ip:8080)" reaches client "$ip:8080"
  check "ClusterIP from the other worker (client -> $cip)" reaches client "$cip"
  check "NodePort from the host ($node_ip:$port)" test "$(curl -s -m 5 "http://$node_ip:$port/")" = "hello from web"
}

check_dns() {
  check "DNS: kubernetes.default.svc.cluster.local" retry k exec client -- nslookup kubernetes.default.svc.cluster.local
  check "DNS: web.$NS.svc.cluster.local" retry reaches client "web.$NS.svc.cluster.local"
}

check_storage() {
  local pod
  for pod in writer-1 writer-2; do
    k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 100Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: $pod}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: w
    image: $BUSYBOX
    imagePullPolicy: Never
    command: [sh, -c, 'echo $pod >> /data/log; exec sleep 100000']
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
YAML
    k wait --for=condition=Ready "pod/$pod" --timeout=120s >/dev/null || true
    [ "$pod" = writer-2 ] || k delete pod "$pod" --wait >/dev/null
  done
  check "PVC data bound (local-path)" test "$(k get pvc data -o jsonpath='{.status.phase}')" = Bound
  check "PVC data survives its pod" test "$(k exec writer-2 -- cat /data/log | tr '\n' ' ')" = "writer-1 writer-2 "
  k delete pod writer-2 --wait=false >/dev/null
}

check_netpol() {
  local ip; ip="$(k get pod web -o jsonpath='{.status.podIP}')"
  k apply -f - >/dev/null <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all-ingress}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
YAML
  check "deny-all ingress: client on the other worker blocked" retry blocked client "$ip:8080"
  check "deny-all ingress: gateway blocked too" retry blocked gateway "$ip:8080"
  k delete networkpolicy web-deny-all-ingress >/dev/null
  k apply -f - >/dev/null <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-gateway}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: gateway}}}]}]
YAML
  check "allow app=gateway: gateway gets in" retry reaches gateway "$ip:8080"
  check "allow app=gateway: client still blocked" retry blocked client "$ip:8080"
  k delete networkpolicy web-allow-gateway >/dev/null
  check "policies removed: client gets in again" retry reaches client "$ip:8080"
}

dind_ready() { k exec dind-0 -- docker version >/dev/null 2>&1; }
check_dind() {
  cluster load-images "$DIND" >/dev/null
  k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: dind}
spec: {clusterIP: None, selector: {app: dind}, ports: [{name: docker-tls, port: 2376}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: dind}
spec:
  serviceName: dind
  replicas: 1
  selector: {matchLabels: {app: dind}}
  template:
    metadata: {labels: {app: dind}}
    spec:
      containers:
      - name: dind
        image: $DIND
        imagePullPolicy: Never
        env: [{name: DOCKER_TLS_CERTDIR, value: /certs}]
        securityContext: {privileged: true}
        volumeMounts:
        - {name: docker, mountPath: /var/lib/docker}
        - {name: certs, mountPath: /certs}
      volumes: [{name: certs, emptyDir: {}}]
  volumeClaimTemplates:
  - metadata: {name: docker}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}
YAML
  k rollout status statefulset/dind --timeout=180s >/dev/null || true
  check "dind: dockerd answers in the pod" retry dind_ready
  docker save "$BUSYBOX" | k exec -i dind-0 -- docker load >/dev/null 2>&1 || true
  check "dind: docker run with a named volume" k exec dind-0 -- docker run --rm -v appdata:/data "$BUSYBOX" sh -c 'echo one >> /data/f'
  k delete pod dind-0 --wait >/dev/null
  k wait --for=condition=Ready pod/dind-0 --timeout=180s >/dev/null 2>&1 || true
  retry dind_ready || true
  check "dind: the image survives the pod" k exec dind-0 -- docker image inspect "$BUSYBOX"
  check "dind: the volume's data survives the pod" test "$(k exec dind-0 -- docker run --rm -v appdata:/data "$BUSYBOX" cat /data/f 2>/dev/null)" = one
}

checks=("$@")
[ ${#checks[@]} -gt 0 ] || checks=(scheduling network dns storage netpol dind)
started=$SECONDS
setup
for c in "${checks[@]}"; do
  case "$c" in
    scheduling | network | dns | storage | netpol | dind) "check_$c" ;;
    *) die "unknown check '$c' (scheduling network dns storage netpol dind)" ;;
  esac
done
if [ -z "${KEEP:-}" ]; then cluster kubectl delete namespace "$NS" --wait=false >/dev/null; fi
if [ "$failed" = 0 ]; then log "verify: all checks passed in $(( SECONDS - started )) s"; else log "verify: some checks FAILED"; exit 1; fi
