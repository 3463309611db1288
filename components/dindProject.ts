import * as pulumi from "./pulumiSdk";
import { ComposeTarget } from "./composeCommand";
import { ProjectSpec, SecurityMode } from "./config";
import { pathKey, PROJECT_LABEL, StackNames } from "./names";
import { ComposeStack } from "./providers/composeStack";
import { Container, HostFile, Network, Volume } from "./providers/docker";
import { SourceSync } from "./providers/sourceSync";
import type { TreeManifest } from "./transport/manifest";
import { renderTcpProxyConf } from "./gatewayConfig";
import { securityArgs } from "./security";

const TCP_PROXY_CONF = "/etc/dind-compose/tcp-proxy.conf";

/** What `npm run compose` needs (the compose project name is the key it is filed under). */
export type ComposeInvocation = Omit<ComposeTarget, "project">;

export interface DindProjectArgs {
    /** The validated project (see config.ts). */
    spec: ProjectSpec;
    names: StackNames;
    /** Labels put on every object (at least the stack label). */
    labels: Record<string, string>;
    /** The dind image, e.g. docker:29-dind. */
    image: string;
    security: SecurityMode;
    readyTimeoutSeconds: number;
    /** Host directories the daemon sees at the same path (the project dir and every path its model leaves it for). */
    mountRoots: string[];
    /**
     * files: sync (transport/files.ts): each of mountRoots' trees, by folder; the folders go into
     * source volumes instead of bind mounts. Undefined: bind-mounted.
     */
    sourceTrees: Record<string, TreeManifest> | undefined;
    /**
     * The user CA's share files (userCa.ts), copied into the dind container for the services that
     * are given the CA (override.ts mounts their directory). Copied, not bind-mounted: a new CA or a
     * changed bundle is an update in place, and a stack from before the user CA gains them without a
     * new dind container. Given whatever the project's trustCa; undefined with a user-supplied
     * gateway certificate.
     */
    caFiles: HostFile[] | undefined;
    /** Flattened compose model, for readable diffs. */
    model: Record<string, string>;
    /** sha256 of every file that feeds a build. */
    buildFiles: Record<string, string>;
    /** sha256 of every other file compose reads besides the compose files. */
    sourceFiles: Record<string, string>;
    /** The image and host address of the container that opens the project's `tcp` ports (spec.tcp). */
    tcpProxy: { image: string; bindAddress: string };
    /** Compose override (YAML) given as the last file; "" for none. */
    override: pulumi.Input<string>;
    /** The project's own network (created by the environment, which the gateway joins too). */
    network: Network;
    /** The dind container's fixed address on it; undefined: the engine's choice (networks made before fixed addresses). */
    address: pulumi.Input<string | undefined>;
}

/**
 * One compose project in its own Docker-in-Docker daemon: a cert volume, a data
 * volume (the inner /var/lib/docker: image cache and child volumes, kept when
 * the daemon container is replaced), the dind container on the project's own
 * network, and the compose stack on it.
 */
export class DindProject extends pulumi.ComponentResource {
    /** Name of the dind container (also its DNS name on the project network). */
    public readonly daemon: pulumi.Output<string>;
    /** The dind container's ID (a new one when it is replaced). */
    public readonly daemonId: pulumi.Output<string>;
    /** Host address of the inner daemon's TLS endpoint, when published (daemonPort). */
    public readonly daemonEndpoint: pulumi.Output<string | undefined>;
    /** Service -> state after the last `up`. */
    public readonly services: pulumi.Output<Record<string, string>>;
    /** What `npm run compose` needs to run compose against this project's daemon as the stack does. */
    public readonly compose: pulumi.Output<ComposeInvocation>;

    constructor(name: string, args: DindProjectArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:DindProject", name, {}, opts);
        const { spec, names } = args;
        const labels = { ...args.labels, [PROJECT_LABEL]: spec.name };

        const certs = new Volume(`${name}-certs`, { name: names.certVolume(spec.name), labels }, { parent: this });
        const data = new Volume(`${name}-data`, { name: names.dataVolume(spec.name), labels }, { parent: this });
        const network = args.network;

        // files: sync: a volume per folder, at the folder's path, filled by the SourceSync below.
        const sourceVolumes =
            args.sourceTrees &&
            args.mountRoots.map(
                (dir) => new Volume(`${name}-src-${pathKey(dir)}`, { name: names.sourceVolume(spec.name, dir), labels }, { parent: this }),
            );
        const folderMounts = args.mountRoots.map((dir, n) =>
            sourceVolumes
                ? { type: "volume" as const, source: sourceVolumes[n].name, target: dir }
                : { type: "bind" as const, source: dir, target: dir },
        );

        const daemonName = names.dind(spec.name);
        const dind = new Container(
            `${name}-dind`,
            {
                name: daemonName,
                hostname: spec.name,
                image: args.image,
                labels,
                env: {
                    DOCKER_TLS_CERTDIR: "/certs",
                    // The certificate must match the names the compose client and the gateway use.
                    DOCKER_TLS_SAN: `DNS:${spec.name},DNS:${daemonName},DNS:localhost,IP:127.0.0.1`,
                },
                command: [],
                mounts: [
                    { type: "volume", source: certs.name, target: "/certs" },
                    { type: "volume", source: data.name, target: "/var/lib/docker" },
                    ...folderMounts,
                ],
                networks: pulumi
                    .all([network.name, args.address])
                    .apply(([name, ip]) => [{ name, aliases: [spec.name], ...(ip ? { ip } : {}) }]),
                ports: spec.daemonPort === undefined ? [] : [{ hostIp: "127.0.0.1", hostPort: spec.daemonPort, containerPort: 2376 }],
                securityArgs: securityArgs(args.security),
                files: [],
                secretFiles: [],
                ...(args.caFiles ? { hostFiles: args.caFiles } : {}),
                reloadCommand: [],
                running: true,
                // Absent rather than {} when unset: states written before the key existed see no change.
                ...(Object.keys(spec.resources).length > 0 ? { resources: spec.resources } : {}),
            },
            { parent: this },
        );

        const files =
            args.sourceTrees &&
            new SourceSync(
                `${name}-files`,
                { project: spec.name, daemon: dind.name, daemonId: dind.containerId, dirs: args.sourceTrees },
                { parent: this, deletedWith: dind },
            );

        const stack = new ComposeStack(
            `${name}-stack`,
            {
                project: spec.name,
                daemon: dind.name,
                daemonId: dind.containerId,
                dir: spec.dir,
                composeFiles: spec.composeFiles,
                override: args.override,
                env: spec.env,
                preloadImages: spec.preloadImages,
                readyTimeoutSeconds: args.readyTimeoutSeconds,
                model: args.model,
                buildFiles: args.buildFiles,
                sourceFiles: args.sourceFiles,
                // What was running comes back when the inner daemon restarts (with the engine, after a
                // reboot), as the dind container itself does: nobody has to run `pulumi up` for it.
                restartPolicy: "unless-stopped",
            },
            // When the dind container goes too (destroy, a project removed from the config),
            // `docker compose down` inside it is wasted time (up to its stop timeout per project):
            // removing the container stops its daemon and every child at once, and the children's
            // volumes live in the data volume, which goes as well. The stack's own delete (compose
            // down) still runs when the stack alone is deleted.
            { parent: this, deletedWith: dind, ...(files ? { dependsOn: [files] } : {}) },
        );

        if (spec.tcp.length > 0) {
            // A container of its own, so that opening a port (which only a new container can do)
            // neither restarts the daemon and its children nor drops the gateway's connections.
            new Container(
                `${name}-tcp`,
                {
                    name: names.tcpProxy(spec.name),
                    hostname: `${spec.name}-tcp`,
                    image: args.tcpProxy.image,
                    labels,
                    env: {},
                    command: ["nginx", "-c", TCP_PROXY_CONF, "-g", "daemon off;"],
                    mounts: [],
                    networks: [{ name: network.name, aliases: [] }],
                    ports: spec.tcp.map((t) => ({ hostIp: args.tcpProxy.bindAddress, hostPort: t.hostPort, containerPort: t.hostPort })),
                    securityArgs: [],
                    files: [{ path: TCP_PROXY_CONF, content: renderTcpProxyConf({ upstreamHost: daemonName, forwards: spec.tcp }) }],
                    secretFiles: [],
                    reloadCommand: ["nginx", "-c", TCP_PROXY_CONF, "-s", "reload"],
                    running: true,
                },
                { parent: this, dependsOn: [dind] },
            );
        }

        this.daemon = dind.name;
        this.daemonId = dind.containerId;
        this.daemonEndpoint = dind.boundPorts.apply((p) => (p["2376/tcp"] ? `tcp://${p["2376/tcp"]}` : undefined));
        this.services = stack.services;
        this.compose = pulumi.output({
            daemon: dind.name,
            dir: spec.dir,
            composeFiles: spec.composeFiles,
            env: spec.env,
            override: args.override,
        });
        this.registerOutputs({ daemon: this.daemon, daemonEndpoint: this.daemonEndpoint, services: this.services, compose: this.compose });
    }
}
