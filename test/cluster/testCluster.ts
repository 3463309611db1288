// The test cluster (scripts/kubernetes/cluster.sh: a control plane and two workers in containers
// of this machine's Docker engine) for the cluster tests: started if it is not running, the
// images the stacks use imported into its nodes, and kubectl with its kubeconfig.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_DIR, runCommand } from "../integration/harness";

const CACHE_DIR = process.env.DIND_COMPOSE_CACHE ?? path.join(os.homedir(), ".cache", "dind-compose");
const VERSIONS = fs.readFileSync(path.join(REPO_DIR, "scripts", "kubernetes", "versions.sh"), "utf8");
const KUBERNETES_VERSION = /^KUBERNETES_VERSION=(\S+)$/m.exec(VERSIONS)?.[1] ?? "";
/** kubectl of the cluster's version, built with the cluster's binaries. */
export const KUBE_BIN = path.join(CACHE_DIR, "kubernetes", `kubernetes-v${KUBERNETES_VERSION}`, "bin");
export const KUBECONFIG = path.join(CACHE_DIR, "kubernetes", "kubeconfig");
export const CONTEXT = "dind-compose-test";
export const WORKERS = ["dind-compose-test-worker", "dind-compose-test-worker2"];

/** What a stack's commands need to reach the cluster: its kubeconfig, and its kubectl first on PATH. */
export const clusterEnv = (): Record<string, string> => ({ KUBECONFIG, PATH: `${KUBE_BIN}:${process.env.PATH ?? ""}` });

async function script(name: string, ...args: string[]): Promise<void> {
    const r = await runCommand("bash", [path.join(REPO_DIR, "scripts", "kubernetes", name), ...args], {
        cwd: REPO_DIR,
        env: process.env,
        timeoutMs: 60 * 60_000,
    });
    console.log(`[cluster] ${name} ${args.join(" ")} -> exit ${r.code} in ${r.seconds.toFixed(1)} s`);
    if (r.code !== 0) throw new Error(`scripts/kubernetes/${name} ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
}

/**
 * The provider plugin installed and the cluster up, with `images` on every node. Each step is
 * cached (cold: the plugin ~12 min, the Kubernetes binaries ~7 min, the node image a few; warm:
 * seconds), and `up` starts the node containers again when they are not all running (after an
 * engine restart).
 */
export async function ensureCluster(images: string[]): Promise<{ startedHere: boolean }> {
    const before = await runCommand("docker", ["inspect", "-f", "{{.State.Running}}", "dind-compose-test-control-plane"]);
    await script("build-provider.sh");
    await script("cluster.sh", "up");
    await script("cluster.sh", "load-images", ...images);
    return { startedHere: before.stdout.trim() !== "true" };
}

/** Stops the cluster if the tests started it (its three nodes hold ~1 GB and a core's worth of work); one a developer runs stays. */
export async function releaseCluster(c: { startedHere: boolean } | undefined): Promise<void> {
    if (c?.startedHere) await script("cluster.sh", "down");
}

export interface KubectlResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** kubectl against the test cluster; never throws for a non-zero exit. */
export async function kubectl(...args: string[]): Promise<KubectlResult> {
    const r = await runCommand(path.join(KUBE_BIN, "kubectl"), ["--kubeconfig", KUBECONFIG, "--context", CONTEXT, ...args], {
        cwd: REPO_DIR,
        env: process.env,
        timeoutMs: 5 * 60_000,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** kubectl that must succeed; its stdout. */
export async function kubectlOk(...args: string[]): Promise<string> {
    const r = await kubectl(...args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
}

/** A node's address on the cluster's docker network (where its node ports answer from this machine). */
export async function nodeAddress(node: string): Promise<string> {
    return (await kubectlOk("get", "node", node, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)).trim();
}

/** The namespace's objects that a stack leaves behind, and the volumes still bound to its claims. */
export async function clusterLeftovers(namespace: string): Promise<string[]> {
    const left: string[] = [];
    const ns = await kubectl("get", "namespace", namespace, "-o", "name");
    if (ns.code === 0) {
        const objects = await kubectl("get", "all,configmap,secret,pvc,networkpolicy,ingress", "-n", namespace, "-o", "name");
        left.push(`namespace ${namespace}`, ...objects.stdout.split("\n").filter((l) => l && !l.includes("kube-root-ca.crt")));
    }
    const pvs = JSON.parse(await kubectlOk("get", "pv", "-o", "json")) as {
        items: { metadata: { name: string }; spec: { claimRef?: { namespace: string } } }[];
    };
    left.push(...pvs.items.filter((pv) => pv.spec.claimRef?.namespace === namespace).map((pv) => `pv ${pv.metadata.name}`));
    return left;
}

/** Removes what a failed test left in the cluster: the namespace (with its claims) and their volumes. */
export async function removeNamespace(namespace: string): Promise<void> {
    await kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=180s");
    const pvs = JSON.parse(await kubectlOk("get", "pv", "-o", "json")) as {
        items: { metadata: { name: string }; spec: { claimRef?: { namespace: string } } }[];
    };
    for (const pv of pvs.items.filter((p) => p.spec.claimRef?.namespace === namespace))
        await kubectl("delete", "pv", pv.metadata.name, "--wait=false");
}
