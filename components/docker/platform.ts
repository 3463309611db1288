// The Docker engine's objects (platform.ts): a network per project and one for the gateway, each
// project's cert and data volumes (and, with files: sync, a source volume per folder), its dind
// container and its `tcp` proxy, the gateway container and its upstream addresses. Dynamic
// resources over the docker CLI (providers/docker.ts). Their names and parents are those of every
// state written before the seam: the objects of a project are children of its DindProject, the
// gateway's of the Gateway.
import * as pulumi from "../pulumiSdk";
import {
    GATEWAY_COMMAND,
    GATEWAY_HTTP_PORT,
    GATEWAY_HTTPS_PORT,
    GATEWAY_INDEX_ROOT,
    GATEWAY_NGINX_CONF,
    GATEWAY_RELOAD_COMMAND,
    GATEWAY_TLS_DIR,
    renderTcpProxyConf,
} from "../gatewayConfig";
import { pathKey, PROJECT_LABEL, StackNames, STACK_LABEL, stackLabelValue } from "../names";
import type { NetworkPlan } from "../networkPlan";
import { CA_SHARE_MOUNT, extraHostsNeeded, gatewayAliases } from "../override";
import type { DaemonRequest, GatewayRequest, PlacedDaemon, PlacedGateway, Platform, PlatformContext } from "../platform";
import { Container, Network, Volume } from "../providers/docker";
import { GatewayUpstreams } from "../providers/gatewayUpstreams";
import { securityArgs } from "../security";
import { addressesIn, parseCidr } from "../subnets";
import type { LoadedProject } from "../environment";

const TCP_PROXY_CONF = "/etc/dind-compose/tcp-proxy.conf";

/**
 * An upstream that closes every connection (busybox httpd, HTTP/1.0 servers), and the fallback by
 * name (no keepalive pool for upstreams resolved at request time), make the gateway open a new
 * connection per request, and each closed one holds its local port in TIME_WAIT for 60 s: under
 * load the ports run out and throughput drops (BENCHMARKS.md). Both settings belong to the
 * gateway's own network namespace.
 */
const GATEWAY_SYSCTLS: Record<string, string> = {
    "net.ipv4.tcp_tw_reuse": "1",
    "net.ipv4.ip_local_port_range": "1024 65535",
};

export class DockerPlatform implements Platform {
    private readonly names: StackNames;
    private readonly labels: Record<string, string>;
    private gatewayNetwork?: Network;
    private readonly networks: Record<string, Network> = {};
    private gatewayContainer?: Container;
    private gatewayName?: string;
    private gatewayParent?: pulumi.ComponentResource;
    private routes: GatewayRequest["routes"] = [];

    /** `networks`: network name -> how it is made and the fixed addresses on it (networkPlan.ts). */
    constructor(
        private readonly ctx: PlatformContext,
        private readonly plans: Record<string, NetworkPlan>,
    ) {
        this.names = new StackNames(ctx.pulumiProject, ctx.stack);
        this.labels = { [STACK_LABEL]: stackLabelValue(ctx.pulumiProject, ctx.stack) };
    }

    private subnet(network: string) {
        return this.plans[network]?.create ?? {};
    }

    prepare(parent: pulumi.ComponentResource, name: string): void {
        const names = this.names;
        this.gatewayNetwork = new Network(
            `${name}-gateway-network`,
            { name: names.gatewayNetwork(), labels: this.labels, ...this.subnet(names.gatewayNetwork()) },
            { parent },
        );
        // The project networks come after the gateway's own for the sake of `destroy`. Pulumi deletes
        // in rounds, a resource in the round after everything that depends on it or has it as parent
        // (its ScheduleDeletes): the volumes, children of the DindProjects, go in the round after
        // the dind containers, and the gateway container, which depends on the networks, went with
        // them. With this dependency the networks sit one level deeper, so the gateway container goes
        // in one round with the dind containers and the networks in the next one with the volumes:
        // one round of removals less. dockerd creates networks one at a time anyway.
        for (const p of this.ctx.spec.projects) {
            this.networks[p.name] = new Network(
                `${name}-${p.name}-network`,
                { name: names.network(p.name), labels: { ...this.labels, [PROJECT_LABEL]: p.name }, ...this.subnet(names.network(p.name)) },
                { parent, dependsOn: [this.gatewayNetwork] },
            );
        }
    }

    /**
     * The fixed addresses on a project network: those of its subnet, for a network made with the
     * range addressesIn gives (networks made before have none). A network on the engine already
     * is read from it: its outputs in a state from before subnets lack the keys, which a preview
     * would show as unknown, and every container on it as replaced. A new one is read from its
     * outputs: it may get another subnet than planned (createInPool).
     */
    private fixed(project: string): pulumi.Output<{ dind: string; gateway: string } | undefined> {
        const fixedIn = (subnet: string | undefined, ipRange: string | undefined) => {
            const c = subnet === undefined ? undefined : parseCidr(subnet);
            const a = c && addressesIn(c);
            return a && a.ipRange === ipRange ? { dind: a.dind, gateway: a.gateway } : undefined;
        };
        const existing = this.plans[this.names.network(project)]?.existing;
        const n = this.networks[project];
        return existing
            ? pulumi.output(fixedIn(existing.subnet, existing.ipRange))
            : pulumi.all([n.subnet, n.ipRange]).apply(([s, r]) => fixedIn(s, r));
    }

    upstreamHost(project: string): string {
        return this.names.dind(project);
    }

    /**
     * The nginx gateway container: joins every project network under every project hostname (so
     * children resolve those names to it) and publishes HTTP and HTTPS only on
     * `gateway.bindAddress`. A config change is applied in place (new nginx.conf, `nginx -s
     * reload`; a new project network is joined with `docker network connect`, and a project network
     * whose aliases changed is left and joined again): never a new container.
     */
    gateway(g: GatewayRequest): PlacedGateway {
        const spec = this.ctx.spec;
        const projects = Object.keys(this.networks).sort();
        const aliases = gatewayAliases(g.hostnames);
        const addresses = Object.fromEntries(spec.projects.map((p) => [p.name, this.fixed(p.name).apply((a) => a?.gateway)]));
        const own = this.gatewayNetwork as Network;
        const container = new Container(
            `${g.name}-nginx`,
            {
                name: this.names.gateway(),
                hostname: "gateway",
                image: spec.images.nginx,
                labels: this.labels,
                env: {},
                command: GATEWAY_COMMAND,
                mounts: [],
                networks: pulumi
                    .all([own.name, pulumi.all(projects.map((p) => pulumi.all([this.networks[p].name, addresses[p]])))])
                    .apply(([ownName, joined]) => [
                        { name: ownName, aliases: [] as string[] },
                        ...joined.map(([name, ip]) => ({ name, aliases, ...(ip ? { ip } : {}) })),
                    ]),
                ports: [
                    { hostIp: spec.gateway.bindAddress, hostPort: spec.gateway.httpPort, containerPort: GATEWAY_HTTP_PORT },
                    { hostIp: spec.gateway.bindAddress, hostPort: spec.gateway.httpsPort, containerPort: GATEWAY_HTTPS_PORT },
                ],
                securityArgs: [],
                sysctls: GATEWAY_SYSCTLS,
                files: [
                    { path: GATEWAY_NGINX_CONF, content: g.nginxConf },
                    { path: `${GATEWAY_INDEX_ROOT}/index.html`, content: g.indexHtml },
                    { path: `${GATEWAY_TLS_DIR}/cert.pem`, content: g.tls.cert },
                ],
                secretFiles: [{ path: `${GATEWAY_TLS_DIR}/key.pem`, content: g.tls.key }],
                reloadCommand: GATEWAY_RELOAD_COMMAND,
                running: true,
            },
            { parent: g.parent },
        );
        this.gatewayContainer = container;
        this.gatewayName = g.name;
        this.gatewayParent = g.parent;
        this.routes = g.routes;
        const byProject = pulumi
            .all(projects.map((p) => this.networks[p].name))
            .apply((netNames) =>
                container.ipAddresses.apply((ips) => Object.fromEntries(projects.map((p, i) => [p, ips[netNames[i]] ?? ""]))),
            );
        return { name: container.name, addressFor: (project) => byProject.apply((a) => a[project] || undefined) };
    }

    /** Docker's embedded DNS serves the hostnames to services on project networks: only those on the inner default bridge need extra_hosts. */
    extraHosts(loaded: LoadedProject, hostnames: string[]): Record<string, string[]> {
        return extraHostsNeeded({ services: loaded.services, bridgeServices: loaded.bridgeServices, hostnames });
    }

    /**
     * A cert volume, a data volume (the inner /var/lib/docker: image cache and child volumes, kept
     * when the daemon container is replaced), with files: sync a source volume per folder, the dind
     * container on the project's own network, and the `tcp` proxy.
     */
    daemon(d: DaemonRequest): PlacedDaemon {
        const { spec, name, parent } = d;
        const names = this.names;
        const labels = { ...this.labels, [PROJECT_LABEL]: spec.name };
        const ctx = this.ctx;
        const certs = new Volume(`${name}-certs`, { name: names.certVolume(spec.name), labels }, { parent });
        const data = new Volume(`${name}-data`, { name: names.dataVolume(spec.name), labels }, { parent });
        const network = this.networks[spec.name];
        const address = this.fixed(spec.name).apply((a) => a?.dind);

        // files: sync: a volume per folder, at the folder's path, filled by the environment's SourceSync.
        const mountRoots = d.loaded.mountRoots;
        const sourceVolumes =
            d.sourceTrees &&
            mountRoots.map(
                (dir) => new Volume(`${name}-src-${pathKey(dir)}`, { name: names.sourceVolume(spec.name, dir), labels }, { parent }),
            );
        const folderMounts = mountRoots.map((dir, n) =>
            sourceVolumes
                ? { type: "volume" as const, source: sourceVolumes[n].name, target: dir }
                : { type: "bind" as const, source: dir, target: dir },
        );
        const caFiles = ctx.ca?.shareFiles.map((f) => ({ path: `${CA_SHARE_MOUNT}/${f.name}`, source: f.source, sha256: f.sha256 }));

        const daemonName = names.dind(spec.name);
        const dind = new Container(
            `${name}-dind`,
            {
                name: daemonName,
                hostname: spec.name,
                image: ctx.spec.images.dind,
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
                    .all([network.name, address])
                    .apply(([netName, ip]) => [{ name: netName, aliases: [spec.name], ...(ip ? { ip } : {}) }]),
                ports: spec.daemonPort === undefined ? [] : [{ hostIp: "127.0.0.1", hostPort: spec.daemonPort, containerPort: 2376 }],
                securityArgs: securityArgs(ctx.spec.dind.security),
                files: [],
                secretFiles: [],
                // Copied, not bind-mounted: a new CA or a changed bundle is an update in place, and a
                // stack from before the user CA gains them without a new dind container.
                ...(caFiles ? { hostFiles: caFiles } : {}),
                reloadCommand: [],
                running: true,
                // Absent rather than {} when unset: states written before the key existed see no change.
                ...(Object.keys(spec.resources).length > 0 ? { resources: spec.resources } : {}),
            },
            { parent },
        );

        if (spec.tcp.length > 0) {
            // A container of its own, so that opening a port (which only a new container can do)
            // neither restarts the daemon and its children nor drops the gateway's connections.
            new Container(
                `${name}-tcp`,
                {
                    name: names.tcpProxy(spec.name),
                    hostname: `${spec.name}-tcp`,
                    image: ctx.spec.images.nginx,
                    labels,
                    env: {},
                    command: ["nginx", "-c", TCP_PROXY_CONF, "-g", "daemon off;"],
                    mounts: [],
                    networks: [{ name: network.name, aliases: [] }],
                    ports: spec.tcp.map((t) => ({ hostIp: ctx.spec.gateway.bindAddress, hostPort: t.hostPort, containerPort: t.hostPort })),
                    securityArgs: [],
                    files: [{ path: TCP_PROXY_CONF, content: renderTcpProxyConf({ upstreamHost: daemonName, forwards: spec.tcp }) }],
                    secretFiles: [],
                    reloadCommand: ["nginx", "-c", TCP_PROXY_CONF, "-s", "reload"],
                    running: true,
                },
                { parent, dependsOn: [dind] },
            );
        }

        return {
            daemon: dind.name,
            daemonId: dind.containerId,
            daemonEndpoint: dind.boundPorts.apply((p) => (p["2376/tcp"] ? `tcp://${p["2376/tcp"]}` : undefined)),
            engine: undefined,
            resource: dind,
        };
    }

    /**
     * Gives each route a pool of kept-alive connections to its project's dind container: their
     * addresses are written into the gateway once they exist. See gatewayConfig.ts and
     * providers/gatewayUpstreams.ts.
     */
    finish(daemonIds: Record<string, pulumi.Output<string>>): void {
        const container = this.gatewayContainer as Container;
        new GatewayUpstreams(
            `${this.gatewayName}-upstreams`,
            {
                gateway: container.name,
                // The ID is known in a preview of an in-place update of the gateway: only a new container shows as a change.
                gatewayId: container.id,
                // `project` names the route's address file: its key (the project's name for its main route).
                targets: this.routes.map((r) => ({
                    project: r.key,
                    daemonId: daemonIds[r.project],
                    network: this.networks[r.project].name,
                    port: r.upstreamPort,
                })),
                reloadCommand: GATEWAY_RELOAD_COMMAND,
            },
            // On destroy the gateway container goes, and its files with it.
            { parent: this.gatewayParent, deletedWith: container },
        );
    }
}
