// Checks of dind-compose:engine (kind kubernetes) against the cluster before anything is created:
// the context, the namespace (there and the stack's, there and someone else's, or makeable), the
// storage class. Each failure is a ConfigError naming the key, the value and the fix. The questions
// go to kubectl (`ask`, injected: unit tests answer them); the decisions are pure.
import { ConfigError, CONFIG_NAMESPACE, type EnvironmentSpec, type KubernetesEngineSpec } from "../config";
import { STACK_LABEL } from "../names";
import { kubectlFlags } from "../providers/kubectlEngine";

/** Runs kubectl with `args`; resolves to its exit code and output. */
export type Kubectl = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface ClusterFacts {
    /** The namespace exists, and is not the stack's own (made by an earlier `up`): use it, do not make it. */
    namespaceExists: boolean;
}

const ns = CONFIG_NAMESPACE;

/** Keys of the Docker engine that a cluster does not have (yet): refused, with what to do instead. */
export function unsupportedOnCluster(spec: EnvironmentSpec): string[] {
    const problems: string[] = [];
    spec.projects.forEach((p, i) => {
        if (p.daemonPort !== undefined)
            problems.push(
                `${ns}:projects[${i}].daemonPort ${p.daemonPort}: a daemon in a cluster has no host port; remove it and use npm run compose -- ${p.name} ... or npm run env -- ${p.name} (kubectl exec)`,
            );
        if (p.tcp.length > 0)
            problems.push(
                `${ns}:projects[${i}].tcp: tcp ports are not opened on a cluster yet; remove them and reach the port with kubectl port-forward, or use the Docker engine`,
            );
    });
    if (spec.dind.security === "capabilities")
        problems.push(
            `${ns}:dind.security capabilities: a pod cannot be given the devices an inner runc needs without privileged (Kubernetes has no --device-cgroup-rule); use privileged (the default on a cluster) or sysbox (a node runtime class sysbox-runc)`,
        );
    if (spec.files === "bind")
        problems.push(
            `${ns}:files bind: a cluster's nodes do not see this machine's folders; use auto or sync (the folders are synced into volume claims)`,
        );
    return problems;
}

/** Asks the cluster; throws one ConfigError with every problem. `stackValue`: the stack label's value on a namespace the stack made. */
export async function checkCluster(engine: KubernetesEngineSpec, stackValue: string, kubectl: Kubectl): Promise<ClusterFacts> {
    const problems: string[] = [];
    const contexts = await kubectl(["config", "get-contexts", "-o", "name"]);
    if (contexts.code !== 0) {
        throw new ConfigError([
            `${ns}:engine: kubectl cannot read a kubeconfig (${contexts.stderr.trim() || `exit ${contexts.code}`}); set KUBECONFIG or write ~/.kube/config, then pick its context in ${ns}:engine.context`,
        ]);
    }
    const known = contexts.stdout
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
    if (engine.context !== undefined && !known.includes(engine.context)) {
        throw new ConfigError([
            `${ns}:engine.context "${engine.context}" is not a context of the kubeconfig (${known.join(", ") || "it has none"}); use one of those, or leave the key out for the current context`,
        ]);
    }
    const flags = kubectlFlags({ context: engine.context, namespace: engine.namespace });
    const reach = await kubectl([...flags, "get", "--raw", "/readyz"]);
    if (reach.code !== 0) {
        throw new ConfigError([
            `${ns}:engine: the cluster of context ${engine.context ?? "(current)"} does not answer (${lastLine(reach.stderr)}); start it or fix the kubeconfig (kubectl cluster-info shows the same error)`,
        ]);
    }
    let namespaceExists = false;
    const got = await kubectl([...flags, "get", "namespace", engine.namespace, "-o", "json"]);
    if (got.code === 0) {
        const labels = (JSON.parse(got.stdout) as { metadata?: { labels?: Record<string, string> } }).metadata?.labels ?? {};
        namespaceExists = labels[STACK_LABEL] !== stackValue;
    } else if (/NotFound|not found/.test(got.stderr)) {
        const can = await kubectl([...flags, "auth", "can-i", "create", "namespaces"]);
        if (can.stdout.trim() !== "yes")
            problems.push(
                `${ns}:engine.namespace "${engine.namespace}" does not exist, and this user may not create namespaces (kubectl auth can-i create namespaces: ${can.stdout.trim() || lastLine(can.stderr)}); ask the cluster's admin for one and name it here`,
            );
    } else if (/Forbidden|forbidden/.test(got.stderr)) {
        // Not allowed to read namespaces: one given to this user is used as it is, if it may work in it.
        const work = await kubectl([...flags, "auth", "can-i", "create", "statefulsets.apps"]);
        if (work.stdout.trim() === "yes") namespaceExists = true;
        else
            problems.push(
                `${ns}:engine.namespace "${engine.namespace}": this user may not create namespaces, nor read them, nor create StatefulSets in "${engine.namespace}" (kubectl auth can-i); ask the cluster's admin for a namespace to use and name it here`,
            );
    } else {
        problems.push(`${ns}:engine.namespace "${engine.namespace}": kubectl get namespace failed (${lastLine(got.stderr)})`);
    }
    if (engine.storageClass !== undefined) {
        const sc = await kubectl([...flags, "get", "storageclass", engine.storageClass, "-o", "name"]);
        if (sc.code !== 0) {
            const all = await kubectl([...flags, "get", "storageclass", "-o", "name"]);
            const names = all.stdout
                .split("\n")
                .map((s) => s.replace(/^storageclass[^/]*\//, "").trim())
                .filter(Boolean);
            problems.push(
                `${ns}:engine.storageClass "${engine.storageClass}" is not a storage class of the cluster (${names.join(", ") || "it has none"}); use one of those (on a real filesystem: overlay2 does not work on NFS), or leave the key out for the default class`,
            );
        }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return { namespaceExists };
}

const lastLine = (s: string): string => s.trim().split("\n").slice(-1)[0] ?? "";
