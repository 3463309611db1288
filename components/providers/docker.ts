// Docker volumes, networks and containers as Pulumi dynamic resources, driven
// through the engine seam (engine.ts: the docker CLI of the machine running `pulumi`).
//
// Why not @pulumi/docker: its provider plugin cannot be produced on these
// machines (no release downloads, and the Go module proxy refuses
// github.com/pulumi/pulumi-docker/provider/v5 with 403 "This module version is
// not available"; see scripts/versions.sh and the README). These resources do
// the small part of it that dind-compose needs, with real create, read
// (refresh), diff, update and delete against the real engine.
import * as fs from "fs";
import * as pulumi from "../pulumiSdk";
import {
    type ContainerResources,
    type ContainerSpec,
    EngineError,
    engine,
    ignoringMissing,
    isAlreadyExists,
    isInUse,
    isNameInUse,
    isNotFound,
    isOverlap,
    type Labels,
    type Mount,
    type NetworkAttachment,
    type PortBinding,
    succeeded,
    tolerating,
    type HostFile,
    type UploadedFile,
} from "./engine";
import { type InspectedObject, inspectObject, mutating } from "./engineSnapshot";
import { ReferencedDynamicResource } from "./providerReference";
import { sha256 } from "../compose/json";
import { takenSubnets } from "../networkPlan";
import { addressesIn, type Cidr, formatCidr, freeSubnets, parseCidr } from "../subnets";

export type { ContainerResources, HostFile, Mount, NetworkAttachment, PortBinding, UploadedFile } from "./engine";
export { tarOf } from "./tar";

/** The fields of `olds` and `news` whose JSON differs. */
function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, keys: string[]): string[] {
    return keys.filter((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null));
}

/**
 * Adds "name" to the replacement reasons when the object is gone from the engine: a plain
 * `pulumi up` (without --refresh) then recreates what was removed behind Pulumi's back.
 */
async function withMissing(changed: string[], kind: "volume" | "network", id: string): Promise<string[]> {
    if (changed.includes("name")) return changed;
    return (await inspectObject(kind, id)) === undefined ? [...changed, "name"] : changed;
}

function replaceDiff(changed: string[]): pulumi.dynamic.DiffResult {
    return {
        changes: changed.length > 0,
        replaces: changed,
        deleteBeforeReplace: true, // names are fixed, so the old object must go first
        detailedDiff: Object.fromEntries(changed.map((k) => [k, { kind: "update-replace", inputDiff: true }])),
    } as pulumi.dynamic.DiffResult;
}

// ---------------------------------------------------------------- volumes and networks
/** A named, labelled engine object: a volume or a network. */
export interface NamedObjectInputs {
    name: string;
    labels: Labels;
    /**
     * Networks: the IPv4 subnet to create it with (networkPlan.ts); absent: the engine's choice (an
     * existing network keeps its own, and states written before this field have none).
     */
    subnet?: string;
    /** Networks: where the engine places containers without a fixed address (`--ip-range`, within the subnet). */
    ipRange?: string;
    /** Networks: the pool the subnet was planned from (network.pool), where another is taken when the engine refuses it. */
    pool?: string;
}

/**
 * The provider of a named object. Create adopts an object of the same name left
 * by an earlier, interrupted run (for a volume its data is the point); read and
 * diff ask the engine, so one removed by hand is recreated; delete of a missing
 * one succeeds.
 */
function namedObjectProvider(kind: "volume" | "network", blocked?: RemovalBlocker): pulumi.dynamic.ResourceProvider {
    return {
        create: (inputs: NamedObjectInputs) =>
            mutating(async () => {
                // One call, no inspect first: `volume create` of a name that exists succeeds and keeps
                // the volume, `network create` refuses with "already exists"; either way it is adopted.
                const e = engine();
                if (kind === "network" && inputs.subnet && inputs.pool) return { id: inputs.name, outs: await createInPool(inputs) };
                const create =
                    kind === "volume" ? e.createVolume(inputs.name, inputs.labels) : e.createNetwork(inputs.name, inputs.labels, inputs);
                await tolerating(create, isAlreadyExists);
                return { id: inputs.name, outs: inputs };
            }),
        async read(id: string, props: NamedObjectInputs) {
            const found = await inspectObject(kind, id);
            return found === undefined ? { id: "", props: {} } : { id, props };
        },
        async diff(id: string, olds: NamedObjectInputs, news: NamedObjectInputs) {
            const changed = changedKeys({ ...olds }, { ...news }, ["name", "labels"]);
            // Only a subnet asked for both times counts: a network that exists is given none (it keeps its own).
            if (olds.subnet !== undefined && news.subnet !== undefined && olds.subnet !== news.subnet) changed.push("subnet");
            return replaceDiff(await withMissing(changed, kind, id));
        },
        delete: (id: string) =>
            mutating(async () => {
                const rm = (): Promise<void> => (kind === "volume" ? engine().removeVolume(id) : engine().removeNetwork(id));
                // One call when nothing is in the way. Otherwise (the engine refused, or the object is
                // gone already) clear the way and remove what is left.
                const removed = await tolerating(
                    rm().then(() => true),
                    (e) => isNotFound(e) || (blocked?.blocks(e) ?? false),
                );
                if (removed === undefined && blocked !== undefined) {
                    await blocked.clear(id);
                    await ignoringMissing(rm());
                }
            }),
    };
}

/**
 * Creates a network with its planned subnet; when the engine refuses it because another network
 * took part of it since the plan (another stack's `up` at the same time), with the next free one
 * of the pool, as the engine sees it now. The subnet and range it got are its outputs, which the
 * fixed addresses on it are derived from (environment.ts). One at a time in this process.
 */
function createInPool(inputs: NamedObjectInputs): Promise<NamedObjectInputs> {
    const g = globalThis as { __dindComposeNetworkCreates?: Promise<unknown> };
    const run = async (): Promise<NamedObjectInputs> => {
        let subnet = inputs.subnet as string;
        for (let attempt = 1; ; attempt++) {
            const ipRange = addressesIn(parseCidr(subnet) as Cidr).ipRange;
            try {
                await tolerating(engine().createNetwork(inputs.name, inputs.labels, { subnet, ipRange }), isAlreadyExists);
                return { ...inputs, subnet, ipRange };
            } catch (err) {
                if (!isOverlap(err) || attempt >= 8) throw err;
                const pool = parseCidr(inputs.pool as string) as Cidr;
                const { taken } = await takenSubnets();
                const [next] = freeSubnets(pool, parseCidr(subnet)?.prefix ?? 28, taken, 1);
                if (next === undefined) throw err;
                subnet = formatCidr(next);
            }
        }
    };
    const done = (g.__dindComposeNetworkCreates ?? Promise.resolve()).then(run, run);
    g.__dindComposeNetworkCreates = done.catch(() => undefined);
    return done;
}

/** What keeps an object from being removed (the engine's refusal) and how to clear it. */
interface RemovalBlocker {
    blocks(failure: unknown): boolean;
    clear(id: string): Promise<void>;
}

export const volumeProvider = namedObjectProvider("volume");

/** Containers joined by hand (not ours) block a network's removal: they are detached, then it is removed. */
const joinedContainers: RemovalBlocker = {
    blocks: isInUse,
    async clear(network: string): Promise<void> {
        for (const c of (await ignoringMissing(engine().networkContainers(network))) ?? []) {
            await ignoringMissing(engine().disconnectNetwork(network, c, { force: true }));
        }
    },
};

export const networkProvider = namedObjectProvider("network", joinedContainers);

// Where the provider process finds each provider (see providerReference.ts).
const volumeReference = { moduleFile: __filename, exportName: "volumeProvider" };
const networkReference = { moduleFile: __filename, exportName: "networkProvider" };

type NamedObjectArgs = {
    name: pulumi.Input<string>;
    labels: pulumi.Input<Labels>;
    subnet?: pulumi.Input<string>;
    ipRange?: pulumi.Input<string>;
    pool?: pulumi.Input<string>;
};

export class Volume extends ReferencedDynamicResource {
    declare public readonly name: pulumi.Output<string>;
    constructor(resourceName: string, args: NamedObjectArgs, opts?: pulumi.CustomResourceOptions) {
        super(volumeReference, resourceName, args, opts, "docker", "Volume");
    }
}

export class Network extends ReferencedDynamicResource {
    declare public readonly name: pulumi.Output<string>;
    /** The subnet and range it was made with (undefined for networks made before network.pool). */
    declare public readonly subnet: pulumi.Output<string | undefined>;
    declare public readonly ipRange: pulumi.Output<string | undefined>;
    constructor(resourceName: string, args: NamedObjectArgs, opts?: pulumi.CustomResourceOptions) {
        // Named, even when not given, so that they are read back from the state (an existing network is given no subnet).
        super(networkReference, resourceName, { subnet: undefined, ipRange: undefined, ...args }, opts, "docker", "Network");
    }
}

// ---------------------------------------------------------------- containers
export interface ContainerInputs {
    name: string;
    image: string;
    labels: Labels;
    env: Record<string, string>;
    command: string[];
    mounts: Mount[];
    networks: NetworkAttachment[];
    ports: PortBinding[];
    /** Extra `docker create` flags for privileges (see security.ts). */
    securityArgs: string[];
    /** Kernel settings of the container's own network namespace (`--sysctl`); absent: none. */
    sysctls?: Record<string, string>;
    hostname: string;
    /** Written into the container before it starts; changes are applied in place (see reloadCommand). */
    files: UploadedFile[];
    /**
     * Like `files`, for secrets (private keys): a separate input, so that a secret
     * one does not hide the readable diff of `files` in `pulumi preview --diff`.
     */
    secretFiles: UploadedFile[];
    /**
     * Files copied from this machine, by digest (see HostFile); changes are applied in place, like
     * `files`. Absent: none (states written before the key existed see no change).
     */
    hostFiles?: HostFile[];
    /** Run in the container after the files changed in place (e.g. nginx -s reload). */
    reloadCommand: string[];
    /** Desired state; a stopped container reads back as false, so `up --refresh` starts it. */
    running: boolean;
    /** CPU and memory caps (changed in place with `docker update`); absent: none. */
    resources?: ContainerResources;
}

/** Whether a cap that was set is now unset: `docker update` cannot lift a cap, only a new container can. */
function capLifted(olds: ContainerResources | undefined, news: ContainerResources | undefined): boolean {
    return (olds?.cpus !== undefined && news?.cpus === undefined) || (olds?.memory !== undefined && news?.memory === undefined);
}

export interface ContainerOutputs extends ContainerInputs {
    containerId: string;
    /** IPv4 address of the container on each network it joined. */
    ipAddresses: Record<string, string>;
    /** Host ports actually bound, "containerPort/tcp" -> "hostIp:hostPort". */
    boundPorts: Record<string, string>;
}

// `networks` is not here: networks after the first are joined and left in place (see networksUpdate).
const REPLACE_KEYS = ["name", "image", "labels", "env", "command", "mounts", "ports", "securityArgs", "sysctls", "hostname"];
const UPDATE_KEYS = ["networks", "files", "secretFiles", "hostFiles", "reloadCommand", "running", "resources"];

/** Whether a change of networks needs a new container: only the first one (given to `docker create`) does. */
function firstNetworkChanged(olds: NetworkAttachment[] | undefined, news: NetworkAttachment[]): boolean {
    return JSON.stringify((olds ?? [])[0] ?? null) !== JSON.stringify(news[0] ?? null);
}

/** Runs the calls concurrently (one `docker network connect` per project network adds up at 8 projects); throws the first error once all have settled. */
async function allSettledOrThrow(calls: Promise<unknown>[]): Promise<void> {
    const failed = (await Promise.allSettled(calls)).find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
}

/** Joins a container to a network after its first, with the attachment's aliases. */
function connectNetwork(container: string, n: NetworkAttachment): Promise<void> {
    return engine().connectNetwork(n.name, container, n);
}

/**
 * Joins the networks that are new, leaves those that are gone, and leaves and joins again those
 * whose aliases changed (Docker cannot change the aliases of an attachment), without stopping the
 * container. Each network's leave and join run back to back, so a network is without the container
 * only for that moment, not while the others are handled.
 */
async function networksUpdate(name: string, olds: NetworkAttachment[], news: NetworkAttachment[]): Promise<void> {
    const oldByName = new Map(olds.slice(1).map((n) => [n.name, n]));
    const newByName = new Map(news.slice(1).map((n) => [n.name, n]));
    const leave = (n: NetworkAttachment) => ignoringMissing(engine().disconnectNetwork(n.name, name));
    const calls: Promise<unknown>[] = [];
    for (const o of oldByName.values()) if (!newByName.has(o.name)) calls.push(leave(o));
    for (const n of newByName.values()) {
        const o = oldByName.get(n.name);
        if (o === undefined) calls.push(connectNetwork(name, n));
        else if (JSON.stringify(o) !== JSON.stringify(n)) calls.push(leave(o).then(() => connectNetwork(name, n)));
    }
    await allSettledOrThrow(calls);
}

async function uploadFiles(name: string, files: UploadedFile[], hostFiles: HostFile[] = []): Promise<void> {
    // Works on created and on running containers; missing parent directories are created.
    const all = [...files, ...hostFiles.map(readHostFile)];
    if (all.length > 0) await engine().copyFiles(name, all);
}

/** A host file's content, refused when it is not what the program saw (the state would name a digest the container does not hold). */
function readHostFile(f: HostFile): UploadedFile {
    const content = fs.readFileSync(f.source, "utf8");
    const digest = sha256(content);
    if (digest !== f.sha256)
        throw new Error(`${f.source} changed while this update ran (sha256 ${digest}, expected ${f.sha256}): run the command again`);
    return { path: f.path, content };
}

type InspectedContainer = Required<Pick<InspectedObject, "Id" | "State" | "NetworkSettings">>;

async function inspectContainer(name: string): Promise<InspectedContainer | undefined> {
    return (await inspectObject("container", name)) as InspectedContainer | undefined;
}

function outputsOf(inputs: ContainerInputs, c: InspectedContainer): ContainerOutputs {
    const ipAddresses: Record<string, string> = {};
    for (const [net, s] of Object.entries(c.NetworkSettings.Networks ?? {})) ipAddresses[net] = s.IPAddress;
    const boundPorts: Record<string, string> = {};
    for (const [port, bindings] of Object.entries(c.NetworkSettings.Ports ?? {})) {
        if (bindings && bindings.length > 0) boundPorts[port] = `${bindings[0].HostIp}:${bindings[0].HostPort}`;
    }
    return { ...inputs, running: c.State.Running, containerId: c.Id, ipAddresses, boundPorts };
}

/** What `create` makes: the container with its first network (the others are joined after). */
function containerSpec(i: ContainerInputs): ContainerSpec {
    const { name, hostname, image, command, labels, env, sysctls, mounts, ports, securityArgs, resources } = i;
    return {
        name,
        hostname,
        image,
        command,
        labels,
        env,
        sysctls,
        mounts,
        ports,
        securityArgs,
        resources,
        restart: "unless-stopped",
        network: i.networks[0],
    };
}

export const containerProvider: pulumi.dynamic.ResourceProvider = {
    create: (inputs: ContainerInputs) =>
        mutating(async () => {
            // A container of the same name from an interrupted run blocks `create`: replace it.
            const e = engine();
            const created = await tolerating(
                e.createContainer(containerSpec(inputs)).then(() => true),
                isNameInUse,
            );
            if (created === undefined) {
                await ignoringMissing(e.removeContainer(inputs.name));
                await e.createContainer(containerSpec(inputs));
            }
            try {
                await allSettledOrThrow(inputs.networks.slice(1).map((n) => connectNetwork(inputs.name, n)));
                await uploadFiles(inputs.name, [...inputs.files, ...inputs.secretFiles], inputs.hostFiles);
                if (inputs.running) await e.startContainer(inputs.name);
            } catch (err) {
                await ignoringMissing(e.removeContainer(inputs.name));
                throw err;
            }
            const c = await inspectContainer(inputs.name);
            if (!c) throw new Error(`container ${inputs.name} vanished right after it was created`);
            return { id: c.Id, outs: outputsOf(inputs, c) };
        }),

    async read(id: string, props: ContainerOutputs) {
        const c = await inspectContainer(id);
        if (!c) return { id: "", props: {} };
        return { id, props: outputsOf(props, c) };
    },

    async diff(id: string, olds: ContainerOutputs, news: ContainerInputs) {
        const replaces = changedKeys({ ...olds }, { ...news }, REPLACE_KEYS);
        if (firstNetworkChanged(olds.networks, news.networks)) replaces.push("networks");
        if (capLifted(olds.resources, news.resources)) replaces.push("resources");
        // The engine, not only the state: a container removed by hand is recreated, a stopped one started.
        const actual = await inspectContainer(id);
        if (!actual) replaces.push("containerId");
        if (replaces.length > 0) return replaceDiff(replaces);
        const updates = changedKeys({ ...olds }, { ...news }, UPDATE_KEYS);
        if (actual && news.running && !actual.State.Running && !updates.includes("running")) updates.push("running");
        return {
            changes: updates.length > 0,
            detailedDiff: Object.fromEntries(updates.map((k) => [k, { kind: "update", inputDiff: true }])),
        } as pulumi.dynamic.DiffResult;
    },

    update: (id: string, olds: ContainerOutputs, news: ContainerInputs) =>
        mutating(async () => {
            const c = await inspectContainer(id);
            if (!c) throw new Error(`container ${news.name} (${id.slice(0, 12)}) is gone; run 'pulumi up --refresh' to recreate it`);
            const e = engine();
            if (JSON.stringify(olds.resources ?? null) !== JSON.stringify(news.resources ?? null))
                await e.updateContainerResources(news.name, news.resources);
            if (news.running && !c.State.Running) await e.startContainer(news.name);
            await networksUpdate(news.name, olds.networks ?? [], news.networks);
            if (changedKeys({ ...olds }, { ...news }, ["files", "secretFiles", "hostFiles"]).length > 0) {
                await uploadFiles(news.name, [...news.files, ...news.secretFiles], news.hostFiles);
                if (news.running && news.reloadCommand.length > 0) succeeded(await e.exec(news.name, news.reloadCommand));
            }
            if (!news.running && c.State.Running) await e.stopContainer(news.name);
            const after = await inspectContainer(id);
            if (!after) throw new Error(`container ${news.name} vanished during the update`);
            return { outs: outputsOf(news, after) };
        }),

    delete: (id: string, props: ContainerOutputs) =>
        mutating(async () => {
            await engine()
                .removeContainer(id, { volumes: true })
                .catch((e: unknown) => {
                    if (!isNotFound(e, "container"))
                        throw new Error(`docker rm ${props.name ?? id} failed: ${e instanceof EngineError ? e.detail : String(e)}`);
                });
        }),
};

const containerReference = { moduleFile: __filename, exportName: "containerProvider" };

/** Inputs at any depth may be Outputs: the engine resolves them before the provider runs. */
export type DeepInput<T> = T extends (infer U)[]
    ? pulumi.Input<DeepInput<U>[]>
    : T extends object
      ? pulumi.Input<{ [K in keyof T]: DeepInput<T[K]> }>
      : pulumi.Input<T>;

export type ContainerArgs = { [K in keyof ContainerInputs]: DeepInput<ContainerInputs[K]> };

export class Container extends ReferencedDynamicResource {
    declare public readonly name: pulumi.Output<string>;
    declare public readonly containerId: pulumi.Output<string>;
    declare public readonly ipAddresses: pulumi.Output<Record<string, string>>;
    declare public readonly boundPorts: pulumi.Output<Record<string, string>>;
    constructor(resourceName: string, args: ContainerArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            containerReference,
            resourceName,
            { ...args, containerId: undefined, ipAddresses: undefined, boundPorts: undefined },
            opts,
            "docker",
            "Container",
        );
    }
}
