// The gateway's upstream addresses: which address each project's dind container has on its
// project network, written into the gateway (GATEWAY_UPSTREAMS_DIR) for the upstream blocks of its
// nginx config, then `nginx -s reload`. See gatewayConfig.ts for why nginx needs addresses there.
//
// A resource of its own, after the dind containers, rather than a file of the gateway container:
// the gateway is created before the projects (a project with a service on the inner default
// bridge takes the gateway's address into its override), and a gateway that depended on the dind
// containers would also be removed before them on destroy, one step more.
//
// The addresses are read from the engine, not taken as inputs: every diff compares them with what
// was written, so a `pulumi up` rewrites them after a daemon got a new address (an engine restart,
// a container replaced by hand). Until then the gateway falls back to the name.
import * as pulumi from "../pulumiSdk";
import { stableStringify } from "../compose";
import { GATEWAY_PID_FILE, GATEWAY_UPSTREAMS_DIR, upstreamServerLine } from "../gatewayConfig";
import { engine, isNotFound, isNotRunning, succeeded, type UploadedFile } from "./engine";
import { inspectObject, mutating } from "./engineSnapshot";
import { ReferencedDynamicResource } from "./providerReference";
import { shellScript } from "./shellScripts";
import { tarOf } from "./tar";

/** One route: the dind container, the network the gateway reaches it on, the port. */
export interface UpstreamTarget {
    /** The route's key (routes.ts): the project's name for its main route. The input's name predates routes per service and stays, as the state holds it. */
    project: string;
    /** The dind container's ID: a new container is a change, written again (and its pools dropped) even at the same address. */
    daemonId: string;
    network: string;
    port: number;
}

export interface GatewayUpstreamsInputs {
    /** The gateway container's name, and its ID: a new gateway container gets the files written again. */
    gateway: string;
    gatewayId: string;
    targets: UpstreamTarget[];
    /** Run in the gateway after the files are written (nginx -s reload). */
    reloadCommand: string[];
}

export interface GatewayUpstreamsOutputs extends GatewayUpstreamsInputs {
    /** Project -> the address written for it ("" when its daemon had none: the gateway uses the name). */
    addresses: Record<string, string>;
}

/** Each target's address on its network now, "" when the container or the attachment is missing. */
async function currentAddresses(targets: UpstreamTarget[]): Promise<Record<string, string>> {
    const found = await Promise.all(
        targets.map(async (t) => (await inspectObject("container", t.daemonId))?.NetworkSettings?.Networks?.[t.network]?.IPAddress ?? ""),
    );
    return Object.fromEntries(targets.map((t, i) => [t.project, found[i]]));
}

/** The files under GATEWAY_UPSTREAMS_DIR for these addresses (none for a project without one). */
export function upstreamFiles(targets: UpstreamTarget[], addresses: Record<string, string>): UploadedFile[] {
    return targets
        .filter((t) => addresses[t.project])
        .map((t) => ({
            path: `${GATEWAY_UPSTREAMS_DIR}/${t.project}/address.conf`,
            content: upstreamServerLine(addresses[t.project], t.port),
        }));
}

/** Replaces everything under GATEWAY_UPSTREAMS_DIR with `files`, then reloads; one `docker exec`. */
async function writeUpstreams(gateway: string, files: UploadedFile[], reloadCommand: string[]): Promise<void> {
    succeeded(
        await engine().exec(gateway, ["sh", "-c", upstreamsScript("write-upstreams"), "sh", ...reloadCommand], { input: tarOf(files) }),
    );
}

/** scripts/<name>.sh, on GATEWAY_UPSTREAMS_DIR: write-upstreams (untar stdin there, then run "$@"), read-upstreams, clear-upstreams (remove it, then run "$@"). */
const upstreamsScript = (name: "write-upstreams" | "read-upstreams" | "clear-upstreams"): string =>
    shellScript(name, { GATEWAY_UPSTREAMS_DIR, NGINX_PID_FILE: GATEWAY_PID_FILE });

/** Runs the command in the gateway; undefined when the gateway is gone or stopped (nothing to read or clear). */
async function inRunningGateway(gateway: string, command: string[]): Promise<string | undefined> {
    const r = await engine().exec(gateway, command);
    return r.code !== 0 && (isNotFound(r, "container") || isNotRunning(r)) ? undefined : succeeded(r);
}

/** Project -> the address in its file as read-upstreams.sh listed it (`<project> <content of its address.conf>` per line) ("" for none or one that names another port). */
export function writtenAddresses(targets: UpstreamTarget[], listing: string): Record<string, string> {
    const found = new Map<string, string>();
    for (const line of listing.split("\n")) {
        const m = /^(\S+) server (\S+?):(\d+);$/.exec(line.trim());
        if (m) found.set(m[1], `${m[2]}:${m[3]}`);
    }
    return Object.fromEntries(
        targets.map((t) => {
            const [address, port] = (found.get(t.project) ?? ":").split(":");
            return [t.project, Number(port) === t.port ? address : ""];
        }),
    );
}

async function apply(inputs: GatewayUpstreamsInputs): Promise<GatewayUpstreamsOutputs> {
    const addresses = await currentAddresses(inputs.targets);
    await writeUpstreams(inputs.gateway, upstreamFiles(inputs.targets, addresses), inputs.reloadCommand);
    return { ...inputs, addresses };
}

const INPUT_KEYS: (keyof GatewayUpstreamsInputs)[] = ["gateway", "gatewayId", "targets", "reloadCommand"];

export const gatewayUpstreamsProvider: pulumi.dynamic.ResourceProvider = {
    create: (inputs: GatewayUpstreamsInputs) =>
        mutating(async () => {
            const outs = await apply(inputs);
            return { id: `${inputs.gateway}-upstreams`, outs };
        }),

    // Refresh: the addresses the gateway has now (a file edited or lost shows as a change on the next up).
    async read(id: string, props: GatewayUpstreamsOutputs) {
        const listing = await inRunningGateway(props.gateway, ["sh", "-c", upstreamsScript("read-upstreams")]);
        if (listing === undefined) return { id, props }; // the gateway's own refresh notices; a new one gets the files
        return { id, props: { ...props, addresses: writtenAddresses(props.targets, listing) } };
    },

    async diff(_id: string, olds: GatewayUpstreamsOutputs, news: GatewayUpstreamsInputs) {
        const changed: string[] = INPUT_KEYS.filter((k) => stableStringify(olds[k]) !== stableStringify(news[k]));
        // Targets not known yet (a dind container being replaced) are a change already, and name nothing to ask about.
        const known = Array.isArray(news.targets) && !JSON.stringify(news.targets).includes(pulumi.unknownValue);
        // Key order aside: the state gives the addresses back with keys sorted, the targets are in route order.
        if (known && stableStringify(await currentAddresses(news.targets)) !== stableStringify(olds.addresses ?? {}))
            changed.push("addresses");
        return {
            changes: changed.length > 0,
            detailedDiff: Object.fromEntries(changed.map((k) => [k, { kind: "update", inputDiff: k !== "addresses" }])),
        } as pulumi.dynamic.DiffResult;
    },

    update: (_id: string, _olds: GatewayUpstreamsOutputs, news: GatewayUpstreamsInputs) =>
        mutating(async () => ({ outs: await apply(news) })),

    // Back to names only. A gateway that is gone or stopped has nothing to clear.
    delete: (_id: string, props: GatewayUpstreamsOutputs) =>
        mutating(async () => {
            await inRunningGateway(props.gateway, ["sh", "-c", upstreamsScript("clear-upstreams"), "sh", ...props.reloadCommand]);
        }),
};

const gatewayUpstreamsReference = { moduleFile: __filename, exportName: "gatewayUpstreamsProvider" };

export type GatewayUpstreamsArgs = {
    gateway: pulumi.Input<string>;
    gatewayId: pulumi.Input<string>;
    targets: pulumi.Input<pulumi.Input<{ project: string; daemonId: pulumi.Input<string>; network: pulumi.Input<string>; port: number }>[]>;
    reloadCommand: string[];
};

export class GatewayUpstreams extends ReferencedDynamicResource {
    declare public readonly addresses: pulumi.Output<Record<string, string>>;
    constructor(resourceName: string, args: GatewayUpstreamsArgs, opts?: pulumi.CustomResourceOptions) {
        super(gatewayUpstreamsReference, resourceName, { ...args, addresses: undefined }, opts, "gateway", "Upstreams");
    }
}
