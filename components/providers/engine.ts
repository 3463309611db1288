// The seam between the dynamic providers and the container engine: every call the providers make
// to the engine goes through `engine()`, an `Engine`. `DockerCliEngine` drives the docker CLI of
// the machine running `pulumi` (DOCKER_HOST honoured); tests put an in-memory engine in its place
// with `setEngine` (test/unit/fakeEngine.ts). The providers decide what to create, replace or
// update; the engine only says how. Another engine (a Kubernetes one) implements the same interface.
//
// Failures are `EngineError`s, and what a failure means (not found, in use, already exists, name in
// use, not running, unreachable) is recognised here and nowhere else, by the predicates below.
import * as fs from "fs";
import * as os from "os";
import { commandLine, run, type RunOptions, type RunResult } from "./exec";
import { tarOf } from "./tar";
import { formatCidr } from "../subnets";
import { isLocalEngineHost } from "../transport/files";
import { parseSyncOutput, rsyncArgs, type SyncReport } from "../transport/rsync";

export type Labels = Record<string, string>;
export type EngineObjectKind = "container" | "volume" | "network";

/** The fields of `docker <kind> inspect` that the providers read. */
export interface InspectedObject {
    Id?: string;
    Name?: string;
    State?: { Running: boolean; Status: string; StartedAt: string };
    NetworkSettings?: {
        Networks: Record<string, { IPAddress: string }>;
        Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    };
}

export interface Mount {
    type: "bind" | "volume";
    source: string;
    target: string;
    readOnly?: boolean;
}
export interface PortBinding {
    hostIp: string;
    /** 0: an ephemeral port chosen by the engine. */
    hostPort: number;
    containerPort: number;
}
export interface NetworkAttachment {
    name: string;
    aliases: string[];
    /** A fixed IPv4 address on the network; absent: the engine's choice. */
    ip?: string;
}
export interface UploadedFile {
    /** Absolute path inside the container. */
    path: string;
    content: string;
}
/** One address pool of a network: its subnet, and the range the engine gives addresses from when one was set (--ip-range). */
export interface NetworkPool {
    subnet: string;
    ipRange?: string;
}

/**
 * A file copied from this machine into a container: the state holds its digest, not its content
 * (the CA bundle for children is ~200 KB, once per project).
 */
export interface HostFile {
    /** Absolute path inside the container. */
    path: string;
    /** The file on this machine, read when the container is made or the digest changed. */
    source: string;
    /** sha256 (hex) of the content the program expects `source` to hold. */
    sha256: string;
}
export interface ContainerResources {
    cpus?: number;
    /** Bytes; swap is capped at the same figure (no swap beyond it). */
    memory?: number;
}

/** A container to create (not started); `network` is the first network, joined at creation. */
export interface ContainerSpec {
    name: string;
    hostname: string;
    image: string;
    command: string[];
    labels: Labels;
    env: Record<string, string>;
    sysctls?: Record<string, string>;
    mounts: Mount[];
    ports: PortBinding[];
    /** Extra `docker create` flags for privileges (security.ts). */
    securityArgs: string[];
    resources?: ContainerResources;
    restart: "unless-stopped";
    network?: NetworkAttachment;
}

export interface ExecOptions {
    /** Bytes or a stream for the command's stdin (the CLI then runs `docker exec -i`). */
    input?: string | Buffer | NodeJS.ReadableStream;
    /** `NAME=value` entries. */
    env?: string[];
    workdir?: string;
    /** Each chunk of stdout and stderr as it comes. */
    onOutput?: (chunk: string) => void;
}

/** How an exec ended. `command` names it for error messages. */
export interface ExecResult extends RunResult {
    command: string;
}

export interface Engine {
    /** IDs (volumes: names) of the objects of `kind` that carry `label` (a key, or key=value). */
    list(kind: EngineObjectKind, label: string): Promise<string[]>;
    /** Inspects each object; throws (isNotFound) when one of them is missing. */
    inspect(kind: EngineObjectKind, namesOrIds: string[]): Promise<InspectedObject[]>;
    /** Every network on the engine, the stack's or not: name -> its address pools (IPv4 and IPv6). */
    networkSubnets(): Promise<Record<string, NetworkPool[]>>;
    /** The IPv4 networks the engine's host reaches (interfaces, routes other than the default), as CIDRs: a network there would hide them. */
    hostSubnets(): string[];

    /** Creates the volume; one of the same name is kept as it is (no error). */
    createVolume(name: string, labels: Labels): Promise<void>;
    removeVolume(name: string): Promise<void>;
    /** A bridge network; throws (isAlreadyExists) when the name is taken. */
    createNetwork(name: string, labels: Labels, opts: { subnet?: string; ipRange?: string }): Promise<void>;
    /** Throws (isInUse) while containers are attached. */
    removeNetwork(name: string): Promise<void>;
    /** IDs of the containers attached to the network. */
    networkContainers(network: string): Promise<string[]>;
    connectNetwork(network: string, container: string, attachment: { aliases: string[]; ip?: string }): Promise<void>;
    disconnectNetwork(network: string, container: string, opts?: { force?: boolean }): Promise<void>;

    /** Throws (isNameInUse) when a container of that name exists. */
    createContainer(spec: ContainerSpec): Promise<void>;
    startContainer(name: string): Promise<void>;
    stopContainer(name: string): Promise<void>;
    /** Sets the caps that `resources` names (a cap cannot be lifted this way). */
    updateContainerResources(name: string, resources: ContainerResources | undefined): Promise<void>;
    /** Removes it, running or not; `volumes`: its anonymous volumes too. */
    removeContainer(nameOrId: string, opts?: { volumes?: boolean }): Promise<void>;
    /** Writes the files into the container (created or running), making missing directories. */
    copyFiles(container: string, files: UploadedFile[]): Promise<void>;
    /** Runs a command in a running container; never throws for a non-zero exit (see succeeded). */
    exec(container: string, command: string[], opts?: ExecOptions): Promise<ExecResult>;
    /** The last lines of the container's log (stdout and stderr); "" when there are none. */
    logs(container: string, tail: number): Promise<string>;

    /** The image's ID, undefined when the engine does not have it; throws (isUnreachable) when no engine answers. */
    imageId(image: string): Promise<string | undefined>;
    /** Pulls the image from its registry; throws with the registry's answer. */
    pullImage(image: string): Promise<void>;
    /** Host ports the container's bindings ask for ("80/tcp" -> ["8080"]); undefined when there is no such container. */
    requestedHostPorts(container: string): Promise<Record<string, string[]> | undefined>;
    /** CPUs and memory (bytes) the engine has. */
    capacity(): Promise<{ cpus: number; memory: number }>;
    /**
     * Runs `sh -c script` in a throw-away container of `image` with no network and the files it
     * needs at the same paths as here: `mounts`, folders of the engine's machine mounted read-only
     * (an engine on this machine), or `copies`, files of this machine put into the container first
     * (an engine elsewhere). Never throws for a non-zero exit.
     */
    runScript(image: string, script: string, files: { mounts?: string[]; copies?: string[] }): Promise<RunResult>;
    /**
     * Brings `dir` inside the running container into step with `dir` on this machine (rsync.ts);
     * `dryRun`: only says what it would send and delete. Throws an EngineError with rsync's message.
     */
    syncDirectory(container: string, dir: string, opts?: { dryRun?: boolean }): Promise<SyncReport>;
    /** Where the engine is: DOCKER_HOST, or the endpoint of the docker context in use. */
    host(): string;
    /** Writes the image (with its name) as an archive to `file`, as `docker save` does. */
    saveImage(image: string, file: string): Promise<void>;
}

// ---------------------------------------------------------------- errors
/** A failed engine call: `detail` is the engine's own message. */
export class EngineError extends Error {
    constructor(
        readonly command: string,
        readonly exitCode: number,
        readonly detail: string,
    ) {
        super(`${command} failed (exit ${exitCode}): ${detail}`);
        this.name = "EngineError";
    }
}

/** The engine's words for each kind of failure. */
const FAILURES = {
    notFound: /no such (container|volume|network|object)|not found/i,
    containerNotFound: /no such container/i,
    inUse: /active endpoints/i,
    alreadyExists: /already exists/i,
    nameInUse: /is already in use/i,
    notRunning: /is not running/i,
    unreachable: /Cannot connect|error during connect/i,
    overlaps: /Pool overlaps|overlaps with other one/i,
};

/** The engine's message in a failure: an EngineError's detail, an exec's stderr, or the text itself. */
function messageOf(failure: unknown): string {
    if (typeof failure === "string") return failure;
    if (failure instanceof EngineError) return failure.detail;
    if (failure instanceof Error) return failure.message;
    const stderr = (failure as { stderr?: unknown } | undefined)?.stderr;
    return typeof stderr === "string" ? stderr : "";
}

/** The object does not exist (so removing it is done already). `container`: only a missing container counts. */
/** The engine refused a network's subnet: another network holds part of it (another stack planned it meanwhile). */
export const isOverlap = (failure: unknown): boolean => FAILURES.overlaps.test(messageOf(failure));
export const isNotFound = (failure: unknown, kind?: "container"): boolean =>
    (kind === "container" ? FAILURES.containerNotFound : FAILURES.notFound).test(messageOf(failure));
/** A network still has containers attached (active endpoints). */
export const isInUse = (failure: unknown): boolean => FAILURES.inUse.test(messageOf(failure));
/** An object of that name exists already (networks). */
export const isAlreadyExists = (failure: unknown): boolean => FAILURES.alreadyExists.test(messageOf(failure));
/** The name is taken by another object (containers: a conflict). */
export const isNameInUse = (failure: unknown): boolean => FAILURES.nameInUse.test(messageOf(failure));
/** The container exists but does not run. */
export const isNotRunning = (failure: unknown): boolean => FAILURES.notRunning.test(messageOf(failure));
/** The daemon does not answer. */
export const isUnreachable = (failure: unknown): boolean => FAILURES.unreachable.test(messageOf(failure));

/** An exec's stdout when it exited 0; else throws an EngineError with its output. */
export function succeeded(r: ExecResult): string {
    if (r.code !== 0) throw new EngineError(r.command, r.code, (r.stderr || r.stdout).trim());
    return r.stdout;
}

/** Runs the call; a failure that `tolerated` recognises gives undefined instead. */
export async function tolerating<T>(call: Promise<T>, tolerated: (failure: unknown) => boolean): Promise<T | undefined> {
    try {
        return await call;
    } catch (e) {
        if (tolerated(e)) return undefined;
        throw e;
    }
}

/** Runs the call; a missing object gives undefined. */
export const ignoringMissing = <T>(call: Promise<T>): Promise<T | undefined> => tolerating(call, (e) => isNotFound(e));

// ---------------------------------------------------------------- the docker CLI
const labelArgs = (labels: Labels): string[] =>
    Object.keys(labels)
        .sort()
        .flatMap((k) => ["--label", `${k}=${labels[k]}`]);

function resourceArgs(r: ContainerResources | undefined): string[] {
    const args: string[] = [];
    if (r?.cpus !== undefined) args.push("--cpus", String(r.cpus));
    if (r?.memory !== undefined) args.push("--memory", String(r.memory), "--memory-swap", String(r.memory));
    return args;
}

/** `docker create` arguments for the spec. */
export function createArgs(s: ContainerSpec): string[] {
    const args = [
        "create",
        "--name",
        s.name,
        "--hostname",
        s.hostname,
        "--restart",
        s.restart,
        ...labelArgs(s.labels),
        ...s.securityArgs,
        ...resourceArgs(s.resources),
    ];
    for (const k of Object.keys(s.env).sort()) args.push("--env", `${k}=${s.env[k]}`);
    for (const k of Object.keys(s.sysctls ?? {}).sort()) args.push("--sysctl", `${k}=${s.sysctls?.[k]}`);
    for (const m of s.mounts) {
        args.push("--mount", `type=${m.type},source=${m.source},target=${m.target}${m.readOnly ? ",readonly" : ""}`);
    }
    for (const p of s.ports) args.push("--publish", `${p.hostIp}:${p.hostPort === 0 ? "" : p.hostPort}:${p.containerPort}`);
    if (s.network) {
        args.push("--network", s.network.name);
        for (const a of s.network.aliases) args.push("--network-alias", a);
        if (s.network.ip) args.push("--ip", s.network.ip);
    }
    args.push(s.image, ...s.command);
    return args;
}

/** `docker exec` arguments: `-i` when there is input (composeCommand.ts builds the same for compose). */
export function execArgs(container: string, command: string[], opts: Pick<ExecOptions, "env" | "workdir"> & { stdin: boolean }): string[] {
    return [
        "exec",
        ...(opts.stdin ? ["-i"] : []),
        ...(opts.workdir !== undefined ? ["--workdir", opts.workdir] : []),
        ...(opts.env ?? []).flatMap((e) => ["--env", e]),
        container,
        ...command,
    ];
}

export type Runner = (file: string, args: string[], opts?: RunOptions) => Promise<RunResult>;

/** The Engine on the docker CLI. `runner` runs the `docker` program (exec.ts's run; tests record it). */
/** Networks this machine reaches directly or by a route (a LAN, a VPN), other than the default route: a subnet there would hide them. */
export function machineSubnets(): string[] {
    const out: string[] = [];
    for (const addrs of Object.values(os.networkInterfaces())) {
        for (const a of addrs ?? []) {
            if (a.family === "IPv4" && !a.internal && a.cidr) {
                out.push(a.cidr);
            }
        }
    }
    // /proc/net/route: destination and mask in little-endian hex.
    const routes = fs.existsSync("/proc/net/route") ? fs.readFileSync("/proc/net/route", "utf8").split("\n").slice(1) : [];
    for (const line of routes) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8 || f[1] === "00000000") continue;
        const le = (hex: string): number => Buffer.from(hex, "hex").readUInt32LE(0);
        const mask = le(f[7]);
        const prefix = mask.toString(2).replace(/0+$/, "").length;
        out.push(formatCidr({ base: le(f[1]), prefix }));
    }
    return out;
}

/**
 * The docker CLI's engine: DOCKER_HOST, else the endpoint of the context in use (DOCKER_CONTEXT or
 * the config's currentContext, read from the CLI's own files), else the local socket.
 */
export function dockerEngineHost(env: NodeJS.ProcessEnv = process.env): string {
    if (env.DOCKER_HOST) return env.DOCKER_HOST;
    const localSocket = "unix:///var/run/docker.sock";
    const configDir = env.DOCKER_CONFIG ?? `${os.homedir()}/.docker`;
    let context = env.DOCKER_CONTEXT;
    try {
        context ??= (JSON.parse(fs.readFileSync(`${configDir}/config.json`, "utf8")) as { currentContext?: string }).currentContext;
    } catch {
        // no config: the default context
    }
    if (!context || context === "default") return localSocket;
    const crypto = require("crypto") as typeof import("crypto");
    const meta = `${configDir}/contexts/meta/${crypto.createHash("sha256").update(context).digest("hex")}/meta.json`;
    try {
        const host = (JSON.parse(fs.readFileSync(meta, "utf8")) as { Endpoints?: { docker?: { Host?: string } } }).Endpoints?.docker?.Host;
        return host ?? localSocket;
    } catch {
        return localSocket; // the CLI itself will name a context it cannot find
    }
}

/** Whether the engine runs on this machine, so that its interfaces, routes and folders are this machine's. */
export const engineIsLocal = (): boolean => isLocalEngineHost(engine().host());

export class DockerCliEngine implements Engine {
    constructor(private readonly runner: Runner = run) {}

    /** Runs docker; throws an EngineError for a non-zero exit. */
    private async docker(args: string[], opts: RunOptions = {}): Promise<string> {
        const r = await this.runner("docker", args, opts);
        if (r.code !== 0) throw new EngineError(commandLine(args), r.code, (r.stderr || r.stdout).trim());
        return r.stdout;
    }

    async list(kind: EngineObjectKind, label: string): Promise<string[]> {
        const all = kind === "container" ? ["--all"] : [];
        const noTrunc = kind === "volume" ? [] : ["--no-trunc"];
        const out = await this.docker([kind, "ls", ...all, "--quiet", ...noTrunc, "--filter", `label=${label}`]);
        return out
            .split("\n")
            .map((s) => s.trim())
            .filter(Boolean);
    }
    async inspect(kind: EngineObjectKind, namesOrIds: string[]): Promise<InspectedObject[]> {
        return JSON.parse(await this.docker([kind, "inspect", ...namesOrIds])) as InspectedObject[];
    }

    hostSubnets(): string[] {
        // This machine's, when the engine is on it; an engine elsewhere is not asked (its host's routes are not in its API).
        return isLocalEngineHost(this.host()) ? machineSubnets() : [];
    }
    async networkSubnets(): Promise<Record<string, NetworkPool[]>> {
        const ids = (await this.docker(["network", "ls", "--quiet", "--no-trunc"])).split("\n").filter(Boolean);
        if (ids.length === 0) return {};
        // A network removed between the two calls is no longer in the way.
        const r = await this.runner("docker", [
            "network",
            "inspect",
            "--format",
            "{{.Name}}{{range .IPAM.Config}} {{.Subnet}},{{.IPRange}}{{end}}",
            ...ids,
        ]);
        const vanished = r.stderr
            .split("\n")
            .filter(Boolean)
            .every((l) => isNotFound(l));
        if (r.code !== 0 && !vanished) throw new EngineError("docker network inspect", r.code, r.stderr.trim());
        const lines = r.stdout.split("\n").filter(Boolean);
        const pool = (field: string): NetworkPool => {
            const [subnet, ipRange] = field.split(",");
            return ipRange ? { subnet, ipRange } : { subnet };
        };
        return Object.fromEntries(lines.map((l) => l.trim().split(/\s+/)).map(([name, ...pools]) => [name, pools.map(pool)]));
    }

    async createVolume(name: string, labels: Labels): Promise<void> {
        await this.docker(["volume", "create", ...labelArgs(labels), name]);
    }
    async removeVolume(name: string): Promise<void> {
        await this.docker(["volume", "rm", "--force", name]);
    }
    async createNetwork(name: string, labels: Labels, opts: { subnet?: string; ipRange?: string }): Promise<void> {
        const addressing = [...(opts.subnet ? ["--subnet", opts.subnet] : []), ...(opts.ipRange ? ["--ip-range", opts.ipRange] : [])];
        await this.docker(["network", "create", "--driver", "bridge", ...addressing, ...labelArgs(labels), name]);
    }
    async removeNetwork(name: string): Promise<void> {
        await this.docker(["network", "rm", name]);
    }
    async networkContainers(network: string): Promise<string[]> {
        const out = await this.docker(["network", "inspect", "--format", "{{range $k, $v := .Containers}}{{$k}} {{end}}", network]);
        return out.trim().split(/\s+/).filter(Boolean);
    }
    async connectNetwork(network: string, container: string, attachment: { aliases: string[]; ip?: string }): Promise<void> {
        await this.docker([
            "network",
            "connect",
            ...attachment.aliases.flatMap((a) => ["--alias", a]),
            ...(attachment.ip ? ["--ip", attachment.ip] : []),
            network,
            container,
        ]);
    }
    async disconnectNetwork(network: string, container: string, opts: { force?: boolean } = {}): Promise<void> {
        await this.docker(["network", "disconnect", ...(opts.force ? ["--force"] : []), network, container]);
    }

    async createContainer(spec: ContainerSpec): Promise<void> {
        await this.docker(createArgs(spec));
    }
    async startContainer(name: string): Promise<void> {
        await this.docker(["start", name]);
    }
    async stopContainer(name: string): Promise<void> {
        await this.docker(["stop", name]);
    }
    async updateContainerResources(name: string, resources: ContainerResources | undefined): Promise<void> {
        await this.docker(["update", ...resourceArgs(resources), name]);
    }
    async removeContainer(nameOrId: string, opts: { volumes?: boolean } = {}): Promise<void> {
        await this.docker(["rm", "--force", ...(opts.volumes ? ["--volumes"] : []), nameOrId]);
    }
    async copyFiles(container: string, files: UploadedFile[]): Promise<void> {
        await this.docker(["cp", "-", `${container}:/`], { input: tarOf(files) });
    }
    async exec(container: string, command: string[], opts: ExecOptions = {}): Promise<ExecResult> {
        const args = execArgs(container, command, { ...opts, stdin: opts.input !== undefined });
        const r = await this.runner("docker", args, { input: opts.input, onOutput: opts.onOutput });
        return { ...r, command: commandLine(args) };
    }
    async logs(container: string, tail: number): Promise<string> {
        const r = await this.runner("docker", ["logs", "--tail", String(tail), container]);
        return `${r.stdout}${r.stderr}`;
    }

    async imageId(image: string): Promise<string | undefined> {
        const r = await this.runner("docker", ["image", "inspect", "--format", "{{.Id}}", image]);
        if (r.code !== 0 && isUnreachable(r.stderr)) throw new EngineError("docker image inspect", r.code, r.stderr.trim());
        return r.code === 0 ? r.stdout.trim() : undefined;
    }
    async pullImage(image: string): Promise<void> {
        await this.docker(["pull", "--quiet", image]);
    }
    async requestedHostPorts(container: string): Promise<Record<string, string[]> | undefined> {
        const r = await this.runner("docker", ["container", "inspect", "--format", "{{json .HostConfig.PortBindings}}", container]);
        if (r.code !== 0) return undefined;
        const bindings = JSON.parse(r.stdout.trim() || "null") as Record<string, { HostPort: string }[] | null> | null;
        return Object.fromEntries(Object.entries(bindings ?? {}).map(([port, list]) => [port, (list ?? []).map((b) => b.HostPort)]));
    }
    async capacity(): Promise<{ cpus: number; memory: number }> {
        const [cpus, memory] = (await this.docker(["info", "--format", "{{.NCPU}} {{.MemTotal}}"])).trim().split(/\s+/).map(Number);
        return { cpus, memory };
    }
    runScript(image: string, script: string, files: { mounts?: string[]; copies?: string[] }): Promise<RunResult> {
        const volumes = (files.mounts ?? []).flatMap((m) => ["--volume", `${m}:${m}:ro`]);
        const copies = files.copies ?? [];
        if (copies.length === 0) {
            return this.runner("docker", ["run", "--rm", "--network", "none", "--entrypoint", "sh", ...volumes, image, "-c", script]);
        }
        // The files come as a tar archive on stdin, unpacked at their paths before the script runs (on
        // a line of its own: the script may start jobs with &, whose stdin sh makes /dev/null).
        const archive = tarOf(copies.map((f) => ({ path: f, content: fs.readFileSync(f, "utf8") })));
        return this.runner(
            "docker",
            ["run", "--rm", "-i", "--network", "none", "--entrypoint", "sh", ...volumes, image, "-c", `tar -x -C / || exit 1\n${script}`],
            {
                input: archive,
            },
        );
    }
    async syncDirectory(container: string, dir: string, opts: { dryRun?: boolean } = {}): Promise<SyncReport> {
        const args = rsyncArgs(container, dir, ["docker", "exec", "-i"], opts);
        const r = await this.runner("rsync", args);
        if (r.code !== 0) throw new EngineError(`rsync ${dir} to ${container}`, r.code, (r.stderr || r.stdout).trim());
        return parseSyncOutput(r.stdout);
    }
    host(): string {
        return dockerEngineHost();
    }
    async saveImage(image: string, file: string): Promise<void> {
        await this.docker(["save", "--output", file, image]);
    }
}

let current: Engine | undefined;

/** The engine the providers use: the docker CLI unless a test set another. */
export function engine(): Engine {
    return (current ??= new DockerCliEngine());
}

/** The engine a test put in place of the docker CLI (setEngine), if any: it stands in for a cluster's too. */
export function engineInPlace(): Engine | undefined {
    return current instanceof DockerCliEngine ? undefined : current;
}

/** Puts `e` in place of the engine (tests); undefined: back to the docker CLI. */
export function setEngine(e: Engine | undefined): void {
    current = e;
}
