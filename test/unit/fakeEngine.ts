// An in-memory Engine (components/providers/engine.ts) for the providers' unit tests: volumes,
// networks with their endpoints, containers with their state, files and addresses, images. It
// fails the way the docker CLI does (EngineErrors carrying docker's own words), so the providers'
// predicates are exercised too. Every call is logged in `calls` ("verb object").
import * as fs from "fs";
import { mutating } from "../../components/providers/engineSnapshot";
import {
    type ContainerResources,
    type ContainerSpec,
    type Engine,
    EngineError,
    type EngineObjectKind,
    type ExecOptions,
    type ExecResult,
    type InspectedObject,
    type Labels,
    type NetworkPool,
    type UploadedFile,
} from "../../components/providers/engine";
import { type RunResult } from "../../components/providers/exec";
import type { SyncReport } from "../../components/transport/rsync";

export interface FakeContainer {
    id: string;
    name: string;
    spec: ContainerSpec;
    running: boolean;
    startedAt: string;
    /** Network name -> its address and aliases there. */
    networks: Map<string, { ip: string; aliases: string[] }>;
    files: Map<string, string>;
    resources?: ContainerResources;
}

export interface FakeNetwork {
    id: string;
    labels: Labels;
    subnet?: string;
    ipRange?: string;
    /** Containers attached (IDs), ours or joined by hand. */
    endpoints: Set<string>;
}

/** Answers an exec in a running container; the default answers every command with exit 0 and no output. */
export type ExecHandler = (c: FakeContainer, command: string[], opts: ExecOptions) => Partial<ExecResult> | undefined;

/**
 * Runs a change made behind the providers' back (by hand, by the engine). Inside `mutating`, so the
 * providers' snapshot of the engine (engineSnapshot.ts, kept up to 5 s) is dropped, as a later
 * command of Pulumi's would find it.
 */
export const behindTheBack = (change: () => unknown): Promise<unknown> => mutating(async () => change());

const failure = (command: string, detail: string): EngineError => new EngineError(command, 1, detail);

export class FakeEngine implements Engine {
    readonly volumes = new Map<string, { labels: Labels }>();
    readonly networks = new Map<string, FakeNetwork>();
    readonly containers = new Map<string, FakeContainer>();
    readonly images = new Map<string, string>();
    readonly calls: string[] = [];
    execHandler: ExecHandler = () => undefined;
    private serial = 0;
    private clock = Date.parse("2026-01-01T00:00:00Z");

    private nextId(prefix: string): string {
        this.serial++;
        return `${prefix}${String(this.serial).padStart(12, "0")}`;
    }
    private now(): string {
        this.clock += 1000;
        return new Date(this.clock).toISOString();
    }

    /** The container by name or ID. */
    container(nameOrId: string): FakeContainer | undefined {
        return this.containers.get(nameOrId) ?? [...this.containers.values()].find((c) => c.id === nameOrId);
    }
    private mustContainer(nameOrId: string, verb: string): FakeContainer {
        const c = this.container(nameOrId);
        if (!c) throw failure(`docker ${verb} ${nameOrId}`, `Error response from daemon: No such container: ${nameOrId}`);
        return c;
    }
    private mustNetwork(name: string, verb: string): FakeNetwork {
        const n = this.networks.get(name);
        if (!n) throw failure(`docker network ${verb} ${name}`, `Error response from daemon: network ${name} not found`);
        return n;
    }
    private attach(c: FakeContainer, network: string, aliases: string[], ip?: string): void {
        const n = this.mustNetwork(network, "connect");
        if (c.networks.has(network))
            throw failure(
                `docker network connect ${network}`,
                `Error response from daemon: endpoint with name ${c.name} already exists in network ${network}`,
            );
        n.endpoints.add(c.id);
        c.networks.set(network, { ip: ip ?? `10.${[...this.networks.keys()].indexOf(network)}.0.${n.endpoints.size + 1}`, aliases });
    }

    // ------------------------------------------------------------ helpers for tests
    /** A container that exists already (a dind container the stack runs on, a foreign one). */
    addContainer(name: string, opts: { running?: boolean; labels?: Labels } = {}): FakeContainer {
        const spec: ContainerSpec = {
            name,
            hostname: name,
            image: "busybox",
            command: [],
            labels: opts.labels ?? {},
            env: {},
            mounts: [],
            ports: [],
            securityArgs: [],
            restart: "unless-stopped",
        };
        const c: FakeContainer = {
            id: this.nextId("c"),
            name,
            spec,
            running: opts.running ?? true,
            startedAt: this.now(),
            networks: new Map(),
            files: new Map(),
        };
        this.containers.set(name, c);
        return c;
    }
    /** Restarts a container behind the providers' back (a new StartedAt). */
    restart(name: string): void {
        const c = this.mustContainer(name, "restart");
        c.running = true;
        c.startedAt = this.now();
    }
    /** Joins a container to a network by hand. */
    join(network: string, container: string, ip?: string): void {
        this.attach(this.mustContainer(container, "network connect"), network, [], ip);
    }

    // ------------------------------------------------------------ Engine
    async list(kind: EngineObjectKind, label: string): Promise<string[]> {
        this.calls.push(`list ${kind}`);
        const key = label.split("=")[0];
        if (kind === "volume") return [...this.volumes].filter(([, v]) => key in v.labels).map(([name]) => name);
        if (kind === "network") return [...this.networks.values()].filter((n) => key in n.labels).map((n) => n.id);
        return [...this.containers.values()].filter((c) => key in c.spec.labels).map((c) => c.id);
    }

    async inspect(kind: EngineObjectKind, namesOrIds: string[]): Promise<InspectedObject[]> {
        this.calls.push(`inspect ${kind} ${namesOrIds.join(" ")}`);
        return namesOrIds.map((name) => {
            if (kind === "volume") {
                if (!this.volumes.has(name))
                    throw failure(`docker volume inspect ${name}`, `Error response from daemon: get ${name}: no such volume`);
                return { Name: name };
            }
            if (kind === "network") {
                const entry = [...this.networks].find(([n, v]) => n === name || v.id === name);
                if (!entry) throw failure(`docker network inspect ${name}`, `Error response from daemon: network ${name} not found`);
                return { Id: entry[1].id, Name: entry[0] };
            }
            const c = this.mustContainer(name, "container inspect");
            const networks = Object.fromEntries([...c.networks].map(([n, a]) => [n, { IPAddress: c.running ? a.ip : "" }]));
            const ports = Object.fromEntries(
                c.spec.ports.map((p) => [
                    `${p.containerPort}/tcp`,
                    c.running ? [{ HostIp: p.hostIp, HostPort: String(p.hostPort || 49153) }] : null,
                ]),
            );
            const state = { Running: c.running, Status: c.running ? "running" : "exited", StartedAt: c.startedAt };
            return { Id: c.id, Name: `/${c.name}`, State: state, NetworkSettings: { Networks: networks, Ports: ports } };
        });
    }

    async createVolume(name: string, labels: Labels): Promise<void> {
        this.calls.push(`createVolume ${name}`);
        if (!this.volumes.has(name)) this.volumes.set(name, { labels });
    }
    async removeVolume(name: string): Promise<void> {
        this.calls.push(`removeVolume ${name}`);
        if (!this.volumes.delete(name))
            throw failure(`docker volume rm ${name}`, `Error response from daemon: get ${name}: no such volume`);
    }
    async createNetwork(name: string, labels: Labels, opts: { subnet?: string; ipRange?: string }): Promise<void> {
        this.calls.push(`createNetwork ${name}`);
        if (this.networks.has(name))
            throw failure(`docker network create ${name}`, `Error response from daemon: network with name ${name} already exists`);
        // The engine refuses a subnet that overlaps another network's (the fake compares exact subnets).
        if (opts.subnet && [...this.networks.values()].some((n) => n.subnet === opts.subnet))
            throw failure(
                `docker network create ${name}`,
                "Error response from daemon: Pool overlaps with other one on this address space",
            );
        this.networks.set(name, { id: this.nextId("n"), labels, subnet: opts.subnet, ipRange: opts.ipRange, endpoints: new Set() });
    }
    /** What the engine's host reaches (none unless a test sets it). */
    hostRoutes: string[] = [];
    hostSubnets(): string[] {
        return this.hostRoutes;
    }
    async networkSubnets(): Promise<Record<string, NetworkPool[]>> {
        return Object.fromEntries(
            [...this.networks].map(([name, n]) => [
                name,
                n.subnet === undefined ? [] : [n.ipRange === undefined ? { subnet: n.subnet } : { subnet: n.subnet, ipRange: n.ipRange }],
            ]),
        );
    }
    async removeNetwork(name: string): Promise<void> {
        this.calls.push(`removeNetwork ${name}`);
        const n = this.mustNetwork(name, "rm");
        if (n.endpoints.size > 0)
            throw failure(
                `docker network rm ${name}`,
                `Error response from daemon: error while removing network: network ${name} id ${n.id} has active endpoints`,
            );
        this.networks.delete(name);
    }
    async networkContainers(network: string): Promise<string[]> {
        this.calls.push(`networkContainers ${network}`);
        return [...this.mustNetwork(network, "inspect").endpoints];
    }
    async connectNetwork(network: string, container: string, attachment: { aliases: string[]; ip?: string }): Promise<void> {
        this.calls.push(`connectNetwork ${network} ${container}`);
        this.attach(this.mustContainer(container, "network connect"), network, attachment.aliases, attachment.ip);
    }
    async disconnectNetwork(network: string, container: string, opts: { force?: boolean } = {}): Promise<void> {
        this.calls.push(`disconnectNetwork ${network} ${container}${opts.force ? " --force" : ""}`);
        const n = this.mustNetwork(network, "disconnect");
        const c = this.mustContainer(container, "network disconnect");
        if (!c.networks.delete(network))
            throw failure(
                `docker network disconnect ${network}`,
                `Error response from daemon: container ${c.id} is not connected to network ${network}`,
            );
        n.endpoints.delete(c.id);
    }

    async createContainer(spec: ContainerSpec): Promise<void> {
        this.calls.push(`createContainer ${spec.name}`);
        const old = this.containers.get(spec.name);
        if (old)
            throw failure(
                `docker create ${spec.name}`,
                `Error response from daemon: Conflict. The container name "/${spec.name}" is already in use by container "${old.id}". You have to remove (or rename) that container to be able to reuse that name.`,
            );
        const c: FakeContainer = {
            id: this.nextId("c"),
            name: spec.name,
            spec,
            running: false,
            startedAt: "0001-01-01T00:00:00Z",
            networks: new Map(),
            files: new Map(),
            resources: spec.resources,
        };
        this.containers.set(spec.name, c);
        if (spec.network) this.attach(c, spec.network.name, spec.network.aliases, spec.network.ip);
    }
    async startContainer(name: string): Promise<void> {
        this.calls.push(`startContainer ${name}`);
        const c = this.mustContainer(name, "start");
        c.running = true;
        c.startedAt = this.now();
    }
    async stopContainer(name: string): Promise<void> {
        this.calls.push(`stopContainer ${name}`);
        this.mustContainer(name, "stop").running = false;
    }
    async updateContainerResources(name: string, resources: ContainerResources | undefined): Promise<void> {
        this.calls.push(`updateContainerResources ${name} ${JSON.stringify(resources ?? {})}`);
        this.mustContainer(name, "update").resources = resources;
    }
    async removeContainer(nameOrId: string, opts: { volumes?: boolean } = {}): Promise<void> {
        this.calls.push(`removeContainer ${nameOrId}${opts.volumes ? " --volumes" : ""}`);
        const c = this.mustContainer(nameOrId, "rm");
        for (const n of c.networks.keys()) this.networks.get(n)?.endpoints.delete(c.id);
        this.containers.delete(c.name);
    }
    async copyFiles(container: string, files: UploadedFile[]): Promise<void> {
        this.calls.push(`copyFiles ${container} ${files.map((f) => f.path).join(" ")}`);
        const c = this.mustContainer(container, "cp");
        for (const f of files) c.files.set(f.path, f.content);
    }
    async exec(container: string, command: string[], opts: ExecOptions = {}): Promise<ExecResult> {
        this.calls.push(`exec ${container} ${command.slice(0, 4).join(" ")}`);
        const name = `docker exec ${container}`;
        const c = this.container(container);
        if (!c) return { code: 1, stdout: "", stderr: `Error response from daemon: No such container: ${container}\n`, command: name };
        if (!c.running)
            return { code: 1, stdout: "", stderr: `Error response from daemon: container ${c.id} is not running\n`, command: name };
        const r = this.execHandler(c, command, opts) ?? {};
        for (const chunk of [r.stdout, r.stderr]) if (chunk) opts.onOutput?.(chunk);
        return { code: r.code ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "", command: name };
    }
    async logs(container: string, tail: number): Promise<string> {
        this.calls.push(`logs ${container} ${tail}`);
        return "";
    }

    async imageId(image: string): Promise<string | undefined> {
        this.calls.push(`imageId ${image}`);
        return this.images.get(image);
    }
    async saveImage(image: string, file: string): Promise<void> {
        this.calls.push(`saveImage ${image}`);
        fs.writeFileSync(file, `image ${image}`);
    }
    /** Images a registry would give (name -> ID); any other pull fails as Docker Hub's refusal does. */
    readonly registry = new Map<string, string>();
    async pullImage(image: string): Promise<void> {
        this.calls.push(`pullImage ${image}`);
        const id = this.registry.get(image);
        if (id === undefined)
            throw failure(
                `docker pull --quiet ${image}`,
                `Error response from daemon: pull access denied for ${image}, repository does not exist`,
            );
        this.images.set(image, id);
    }
    async requestedHostPorts(container: string): Promise<Record<string, string[]> | undefined> {
        const c = this.container(container);
        if (!c) return undefined;
        const out: Record<string, string[]> = {};
        for (const p of c.spec.ports) (out[`${p.containerPort}/tcp`] ??= []).push(String(p.hostPort));
        return out;
    }
    /** What `capacity` reports. */
    machine = { cpus: 2, memory: 8 * 1024 ** 3 };
    async capacity(): Promise<{ cpus: number; memory: number }> {
        return this.machine;
    }
    /** Answers `runScript` (the fake runs no container): undefined gives exit 0 with no output. */
    scriptHandler:
        ((image: string, script: string, files: { mounts?: string[]; copies?: string[] }) => Partial<RunResult> | undefined) | undefined;
    async runScript(image: string, script: string, files: { mounts?: string[]; copies?: string[] }): Promise<RunResult> {
        this.calls.push(`runScript ${image}`);
        return { code: 0, stdout: "", stderr: "", ...this.scriptHandler?.(image, script, files) };
    }
    /** What `host` reports: a local socket unless a test says otherwise. */
    engineHost = "unix:///var/run/docker.sock";
    host(): string {
        return this.engineHost;
    }
    /** Folders synced into each container: container -> dir -> the files in it, as relative path -> content. */
    synced = new Map<string, Map<string, Record<string, string>>>();
    /** What each `syncDirectory` call finds in `dir` on this machine (tests set it; default: the real folder). */
    localTree: (dir: string) => Record<string, string> = (dir) => readTree(dir);
    async syncDirectory(container: string, dir: string, opts: { dryRun?: boolean } = {}): Promise<SyncReport> {
        this.calls.push(`sync${opts.dryRun ? " --dry-run" : ""} ${dir} ${container}`);
        const c = this.containers.get(container);
        if (!c || !c.running)
            throw new EngineError(`rsync ${dir} to ${container}`, 255, `Error response from daemon: container ${container} is not running`);
        const there = this.synced.get(container)?.get(dir) ?? {};
        const here = this.localTree(dir);
        const sent = Object.keys(here).filter((f) => there[f] !== here[f]);
        const deleted = Object.keys(there).filter((f) => !(f in here));
        if (!opts.dryRun) {
            if (!this.synced.has(container)) this.synced.set(container, new Map());
            this.synced.get(container)?.set(dir, { ...here });
        }
        return { sent, deleted, bytes: opts.dryRun ? 0 : sent.reduce((n, f) => n + here[f].length, 0) };
    }
}

/** Every file under `dir` (relative path -> content); an absent folder is empty. */
function readTree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string, rel: string): void => {
        if (!fs.existsSync(d)) return;
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const r = rel === "" ? e.name : `${rel}/${e.name}`;
            if (e.isDirectory()) walk(`${d}/${e.name}`, r);
            else if (e.isFile()) out[r] = fs.readFileSync(`${d}/${e.name}`, "utf8");
        }
    };
    walk(dir, "");
    return out;
}
