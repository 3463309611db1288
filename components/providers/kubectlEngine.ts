// The engine calls of the compose stack and the file sync, for a daemon in a pod of a cluster
// (dind-compose:engine.kind: kubernetes): `kubectl exec` into its dind container where the Docker
// engine runs `docker exec`, `kubectl logs`, the pod's status for `inspect`, rsync with kubectl
// exec as its remote shell. The Kubernetes objects themselves are @pulumi/kubernetes resources
// (kubernetes/platform.ts), not made here. Images for preloadImages come from this machine's
// Docker engine, as with a remote engine.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseSyncOutput, rsyncArgs, type SyncReport } from "../transport/rsync";
import {
    DockerCliEngine,
    engine,
    engineInPlace,
    type Engine,
    EngineError,
    type EngineObjectKind,
    type ExecOptions,
    type ExecResult,
    type InspectedObject,
} from "./engine";
import { commandLine, run, type RunResult } from "./exec";

/** Where a daemon's pod is: the providers' `engine` input (absent: the Docker engine). */
export interface KubernetesRef {
    kind: "kubernetes";
    /** The kubeconfig context; undefined: the current one. */
    context?: string;
    namespace: string;
    /** The dind container's name in the pod. */
    container: string;
}

type Runner = (cmd: string, args: string[], opts?: Parameters<typeof run>[2]) => Promise<RunResult>;

/** kubectl's flags that pick the cluster and namespace. */
export function kubectlFlags(ref: Pick<KubernetesRef, "context" | "namespace">): string[] {
    return [...(ref.context ? ["--context", ref.context] : []), "--namespace", ref.namespace];
}

/**
 * The command that runs `command` in the pod's dind container with `workdir` and `env`, which
 * kubectl exec has no flags for: a shell changes directory, `env` sets the variables.
 */
export function kubectlExecArgs(
    ref: KubernetesRef,
    pod: string,
    command: string[],
    opts: { stdin: boolean; tty?: boolean; workdir?: string; env?: string[] },
): string[] {
    const inner = opts.env && opts.env.length > 0 ? ["env", ...opts.env, ...command] : command;
    const wrapped = opts.workdir ? ["sh", "-c", 'cd "$0" && exec "$@"', opts.workdir, ...inner] : inner;
    const stdin = opts.tty ? ["-it"] : opts.stdin ? ["-i"] : [];
    return [...kubectlFlags(ref), "exec", ...stdin, pod, "-c", ref.container, "--", ...wrapped];
}

/**
 * rsync's remote shell for a pod: rsync runs `<rsh> <pod> rsync --server ...`, and kubectl wants
 * `exec -i <pod> -c <container> -- <command>`, so a small script in a temporary folder sits between.
 */
export function writeKubectlRsh(ref: KubernetesRef): { file: string; remove(): void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-rsh-"));
    const file = path.join(dir, "kubectl-rsh");
    const flags = kubectlFlags(ref)
        .map((f) => `'${f.replace(/'/g, "'\\''")}'`)
        .join(" ");
    fs.writeFileSync(file, `#!/bin/sh\npod="$1"; shift\nexec kubectl ${flags} exec -i "$pod" -c '${ref.container}' -- "$@"\n`, {
        mode: 0o755,
    });
    return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A pod of `kubectl get pod -o json`, the fields read here. */
interface PodJson {
    metadata?: { name?: string; uid?: string; ownerReferences?: { uid: string; kind: string }[] };
    status?: { containerStatuses?: { name: string; state?: { running?: { startedAt: string }; waiting?: { reason?: string } } }[] };
}

/**
 * A pod as `inspect` reports a container: its Id is its StatefulSet's UID (what the daemon's
 * `daemonId` is on a cluster: the pod comes and goes, the StatefulSet stays), its state is the
 * dind container's.
 */
export function podAsContainer(pod: PodJson, container: string): InspectedObject {
    const status = pod.status?.containerStatuses?.find((c) => c.name === container);
    const running = status?.state?.running;
    const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === "StatefulSet");
    return {
        Id: owner?.uid ?? pod.metadata?.uid,
        Name: pod.metadata?.name,
        State: {
            Running: running !== undefined,
            Status: running ? "running" : (status?.state?.waiting?.reason ?? "waiting"),
            StartedAt: running?.startedAt ?? "",
        },
    };
}

export class KubectlEngine implements Pick<Engine, "exec" | "logs" | "inspect" | "imageId" | "saveImage" | "syncDirectory" | "host"> {
    private readonly local: DockerCliEngine;
    constructor(
        readonly ref: KubernetesRef,
        private readonly runner: Runner = run,
    ) {
        this.local = new DockerCliEngine(runner);
    }

    private async kubectl(args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
        const r = await this.runner("kubectl", args, opts);
        if (r.code !== 0) throw new EngineError(`kubectl ${commandLine(args)}`, r.code, (r.stderr || r.stdout).trim());
        return r.stdout;
    }

    async exec(pod: string, command: string[], opts: ExecOptions = {}): Promise<ExecResult> {
        const args = kubectlExecArgs(this.ref, pod, command, { stdin: opts.input !== undefined, workdir: opts.workdir, env: opts.env });
        const r = await this.runner("kubectl", args, { input: opts.input, onOutput: opts.onOutput });
        return { ...r, command: `kubectl ${commandLine(args)}` };
    }
    async logs(pod: string, tail: number): Promise<string> {
        const r = await this.runner("kubectl", [...kubectlFlags(this.ref), "logs", pod, "-c", this.ref.container, "--tail", String(tail)]);
        return r.code === 0 ? `${r.stdout}${r.stderr}` : "";
    }
    async inspect(kind: EngineObjectKind, names: string[]): Promise<InspectedObject[]> {
        if (kind !== "container") throw new Error(`a cluster has no ${kind}s to inspect`);
        return Promise.all(
            names.map(async (pod) => {
                try {
                    return podAsContainer(
                        JSON.parse(await this.kubectl([...kubectlFlags(this.ref), "get", "pod", pod, "-o", "json"])) as PodJson,
                        this.ref.container,
                    );
                } catch (e) {
                    // As docker says it, so that the providers' predicates read it the same.
                    if (e instanceof EngineError && /NotFound|not found/.test(e.detail))
                        throw new EngineError(e.command, e.exitCode, `No such container: ${pod}`);
                    throw e;
                }
            }),
        );
    }
    imageId(image: string): Promise<string | undefined> {
        return this.local.imageId(image);
    }
    saveImage(image: string, file: string): Promise<void> {
        return this.local.saveImage(image, file);
    }
    async syncDirectory(pod: string, dir: string, opts: { dryRun?: boolean } = {}): Promise<SyncReport> {
        const rsh = writeKubectlRsh(this.ref);
        try {
            const r = await this.runner("rsync", rsyncArgs(pod, dir, [rsh.file], opts));
            if (r.code !== 0) throw new EngineError(`rsync ${dir} to ${pod}`, r.code, (r.stderr || r.stdout).trim());
            return parseSyncOutput(r.stdout);
        } finally {
            rsh.remove();
        }
    }
    host(): string {
        return `kubernetes://${this.ref.context ?? "(current context)"}/${this.ref.namespace}`;
    }
}

/** The calls the compose stack and the file sync make of the engine their daemon runs on. */
export type DaemonEngine = Pick<Engine, "exec" | "logs" | "inspect" | "imageId" | "saveImage" | "syncDirectory" | "host">;

const kubectlEngines = new Map<string, KubectlEngine>();

/** The engine of a daemon: the Docker engine when `ref` is absent (every state written before clusters), else its cluster. */
export function engineFor(ref: KubernetesRef | undefined): DaemonEngine {
    if (!ref) return engine();
    const inPlace = engineInPlace();
    if (inPlace) return inPlace;
    const key = JSON.stringify(ref);
    let e = kubectlEngines.get(key);
    if (!e) kubectlEngines.set(key, (e = new KubectlEngine(ref)));
    return e;
}
