// The Kubernetes objects of a stack on a cluster (dind-compose:engine.kind: kubernetes), as plain
// object specs: a StatefulSet of one pod per project (the dind container, /var/lib/docker and each
// synced folder on a PersistentVolumeClaim), its Service and NetworkPolicy, and the gateway's
// Deployment and Service. Pure: platform.ts gives them to @pulumi/kubernetes.
import { createHash } from "crypto";
import type { ResourcesSpec, SecurityMode } from "../config";
import { pathKey } from "../names";

/** The dind container's name in its pod (kubectl exec -c). */
export const DIND_CONTAINER = "dind";
/** Labels that select a stack's pods: the stack, the role (daemon or gateway) and the project. */
export const STACK_SELECTOR = "dind-compose.stack";
export const ROLE_LABEL = "dind-compose.role";
export const PROJECT_SELECTOR = "dind-compose.project";
/** The size asked for the claims; a local-path class does not enforce it. */
export const DATA_CLAIM_SIZE = "20Gi";
export const SOURCE_CLAIM_SIZE = "2Gi";

/**
 * An object name from `s`: lowercase letters, digits and '-' (DNS-1123), at most `max` characters
 * (a StatefulSet's name goes into its pods' controller-revision-hash label, so 52 at most), a
 * digest of the whole kept at the end when it had to be cut.
 */
export function k8sName(s: string, max = 52): string {
    const clean = s
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "");
    if (clean.length <= max) return clean;
    const digest = createHash("sha256").update(s).digest("hex").slice(0, 8);
    return `${clean.slice(0, max - 9).replace(/-+$/, "")}-${digest}`;
}

/** A label value (at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends): `/` of the stack label becomes `.`. */
export function labelValue(s: string): string {
    const v = s.replace(/[^A-Za-z0-9_.-]+/g, ".").replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
    return v.length <= 63 ? v : `${v.slice(0, 54)}.${createHash("sha256").update(s).digest("hex").slice(0, 8)}`;
}

/**
 * The dind container's securityContext (and the pod's runtimeClassName): privileged, as every dind
 * pod (a pod spec cannot widen the devices cgroup as docker's --device-cgroup-rule does, so the
 * Docker engine's `capabilities` mode has no equivalent: preflight.ts refuses it), or sysbox.
 */
export function daemonSecurity(mode: Exclude<SecurityMode, "capabilities">): {
    securityContext: Record<string, unknown>;
    runtimeClassName?: string;
} {
    return mode === "sysbox" ? { securityContext: {}, runtimeClassName: "sysbox-runc" } : { securityContext: { privileged: true } };
}

/** The labels of a namespace the stack makes: its dind pods are privileged, which Pod Security must admit. */
export const NAMESPACE_POD_SECURITY = { "pod-security.kubernetes.io/enforce": "privileged" };

/** cpus and bytes as a container's limits (the project's `resources`). */
export function containerLimits(r: ResourcesSpec): Record<string, string> | undefined {
    const limits: Record<string, string> = {};
    if (r.cpus !== undefined) limits.cpu = String(r.cpus);
    if (r.memory !== undefined) limits.memory = String(r.memory);
    return Object.keys(limits).length > 0 ? limits : undefined;
}

export interface DaemonObjectsArgs {
    /** The StatefulSet's (and Service's, and NetworkPolicy's) name. */
    name: string;
    project: string;
    /** Labels on every object: the stack's (labelValue'd) and the project's. */
    labels: Record<string, string>;
    image: string;
    security: Exclude<SecurityMode, "capabilities">;
    resources: ResourcesSpec;
    storageClass: string | undefined;
    /** Folders synced into claims mounted at the same path (files: sync; on a cluster, always). */
    folders: string[];
    /** Inner published ports the gateway forwards to (the routes' ports). */
    ports: number[];
    /** A ConfigMap whose keys are files for CA_SHARE_MOUNT (the user CA for children); undefined: none. */
    caConfigMap: { name: string; mountPath: string } | undefined;
    /** Spread the stack's daemons over the nodes (topology spread on the hostname). */
    stackSelector: Record<string, string>;
}

/** A claim template's name for a folder. */
export const sourceClaim = (dir: string): string => `src-${pathKey(dir)}`;

/** The StatefulSet spec (spec only; metadata is the caller's) of one project's daemon. */
export function daemonStatefulSetSpec(a: DaemonObjectsArgs): Record<string, unknown> {
    const podLabels = { ...a.labels, [ROLE_LABEL]: "daemon" };
    const security = daemonSecurity(a.security);
    const limits = containerLimits(a.resources);
    const claim = (name: string, size: string) => ({
        metadata: { name, labels: a.labels },
        spec: {
            accessModes: ["ReadWriteOnce"],
            ...(a.storageClass ? { storageClassName: a.storageClass } : {}),
            resources: { requests: { storage: size } },
        },
    });
    return {
        serviceName: a.name,
        replicas: 1,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [PROJECT_SELECTOR]: a.project, [ROLE_LABEL]: "daemon" } },
        // A replaced pod keeps its claims: the image cache, the children's volumes and the synced folders.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" },
        template: {
            metadata: { labels: podLabels },
            spec: {
                hostname: a.project,
                ...(security.runtimeClassName ? { runtimeClassName: security.runtimeClassName } : {}),
                // dockerd stops its children cleanly within this.
                terminationGracePeriodSeconds: 30,
                enableServiceLinks: false,
                topologySpreadConstraints: [
                    {
                        maxSkew: 1,
                        topologyKey: "kubernetes.io/hostname",
                        whenUnsatisfiable: "DoNotSchedule",
                        // Count only the nodes the pod may go to (not a tainted control plane).
                        nodeTaintsPolicy: "Honor",
                        labelSelector: { matchLabels: { ...a.stackSelector, [ROLE_LABEL]: "daemon" } },
                    },
                ],
                containers: [
                    {
                        name: DIND_CONTAINER,
                        image: a.image,
                        imagePullPolicy: "IfNotPresent",
                        env: [
                            { name: "DOCKER_TLS_CERTDIR", value: "/certs" },
                            { name: "DOCKER_TLS_SAN", value: `DNS:${a.project},DNS:${a.name},DNS:localhost,IP:127.0.0.1` },
                        ],
                        securityContext: security.securityContext,
                        ports: [{ name: "docker-tls", containerPort: 2376 }, ...a.ports.map((p) => ({ containerPort: p }))],
                        ...(limits ? { resources: { limits } } : {}),
                        volumeMounts: [
                            { name: "data", mountPath: "/var/lib/docker" },
                            { name: "certs", mountPath: "/certs" },
                            ...a.folders.map((dir) => ({ name: sourceClaim(dir), mountPath: dir })),
                            ...(a.caConfigMap ? [{ name: "user-ca", mountPath: a.caConfigMap.mountPath, readOnly: true }] : []),
                        ],
                    },
                ],
                volumes: [
                    // The daemon's certificates are made at its start; the compose client in the pod reads them.
                    { name: "certs", emptyDir: {} },
                    ...(a.caConfigMap ? [{ name: "user-ca", configMap: { name: a.caConfigMap.name } }] : []),
                ],
            },
        },
        volumeClaimTemplates: [claim("data", DATA_CLAIM_SIZE), ...a.folders.map((dir) => claim(sourceClaim(dir), SOURCE_CLAIM_SIZE))],
    };
}

/** The project's Service: the routes' ports of its daemon pod, for the gateway. */
export function daemonServiceSpec(a: Pick<DaemonObjectsArgs, "project" | "labels" | "ports">): Record<string, unknown> {
    const ports = [...new Set(a.ports)].sort((x, y) => x - y);
    return {
        type: "ClusterIP",
        selector: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [PROJECT_SELECTOR]: a.project, [ROLE_LABEL]: "daemon" },
        // A Service needs a port; a project with no route keeps the daemon's.
        ports: (ports.length > 0 ? ports : [2376]).map((p) => ({ name: `p${p}`, port: p, targetPort: p, protocol: "TCP" })),
    };
}

/** Only the stack's gateway reaches a project's daemon pod; everything it calls goes out as before. */
export function daemonNetworkPolicySpec(a: Pick<DaemonObjectsArgs, "project" | "labels">): Record<string, unknown> {
    return {
        podSelector: { matchLabels: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [PROJECT_SELECTOR]: a.project, [ROLE_LABEL]: "daemon" } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [ROLE_LABEL]: "gateway" } } }] }],
    };
}

export interface GatewayObjectsArgs {
    labels: Record<string, string>;
    image: string;
    /** The nginx command (gateway.ts). */
    command: string[];
    /** The ConfigMap of the config files and the Secret of the key, with where each key goes. */
    configMap: string;
    configFiles: { key: string; path: string }[];
    secret: string;
    secretFiles: { key: string; path: string }[];
    /** sha256 of everything the pod reads: a change rolls the pod (nginx reads its config at start). */
    configDigest: string;
    httpPort: number;
    httpsPort: number;
}

/** The gateway's Deployment spec: one nginx pod with its files from the ConfigMap and the Secret. */
export function gatewayDeploymentSpec(a: GatewayObjectsArgs): Record<string, unknown> {
    const podLabels = { ...a.labels, [ROLE_LABEL]: "gateway" };
    const mount = (volume: string) => (f: { key: string; path: string }) => ({
        name: volume,
        mountPath: f.path,
        subPath: f.key,
        readOnly: true,
    });
    return {
        replicas: 1,
        selector: { matchLabels: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [ROLE_LABEL]: "gateway" } },
        template: {
            metadata: { labels: podLabels, annotations: { "dind-compose/config-sha256": a.configDigest } },
            spec: {
                enableServiceLinks: false,
                containers: [
                    {
                        name: "nginx",
                        image: a.image,
                        imagePullPolicy: "IfNotPresent",
                        command: a.command,
                        ports: [
                            { name: "http", containerPort: a.httpPort },
                            { name: "https", containerPort: a.httpsPort },
                        ],
                        readinessProbe: { tcpSocket: { port: a.httpPort }, periodSeconds: 2 },
                        volumeMounts: [...a.configFiles.map(mount("config")), ...a.secretFiles.map(mount("tls"))],
                    },
                ],
                volumes: [
                    { name: "config", configMap: { name: a.configMap } },
                    { name: "tls", secret: { secretName: a.secret } },
                ],
            },
        },
    };
}

/** The gateway's Service: NodePort by default, so that it answers on every node. */
export function gatewayServiceSpec(
    a: Pick<GatewayObjectsArgs, "labels" | "httpPort" | "httpsPort"> & { type: "NodePort" | "ClusterIP" | "LoadBalancer" },
): Record<string, unknown> {
    return {
        type: a.type,
        selector: { [STACK_SELECTOR]: a.labels[STACK_SELECTOR], [ROLE_LABEL]: "gateway" },
        ports: [
            { name: "http", port: a.httpPort, targetPort: a.httpPort, protocol: "TCP" },
            { name: "https", port: a.httpsPort, targetPort: a.httpsPort, protocol: "TCP" },
        ],
    };
}

/** An Ingress that sends every hostname of the stack (a wildcard under the domain, and each route's own) to the gateway. */
export function gatewayIngressSpec(a: {
    ingressClass: string;
    service: string;
    domain: string;
    hostnames: string[];
    httpPort: number;
}): Record<string, unknown> {
    const hosts = [...new Set([`*.${a.domain}`, a.domain, ...a.hostnames.filter((h) => !h.endsWith(`.${a.domain}`))])];
    return {
        ingressClassName: a.ingressClass,
        rules: hosts.map((host) => ({
            host,
            http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: a.service, port: { number: a.httpPort } } } }] },
        })),
    };
}
