import * as pulumi from "./pulumiSdk";
import { GatewaySpec } from "./config";
import { GATEWAY_HTTP_PORT, GATEWAY_HTTPS_PORT, GATEWAY_INDEX_ROOT, renderNginxConf, Route } from "./gatewayConfig";
import { renderIndexPage } from "./indexPage";
import { Container, Network } from "./providers/docker";
import { GatewayUpstreams } from "./providers/gatewayUpstreams";

export interface GatewayArgs {
    /** Engine-side container name. */
    containerName: string;
    image: string;
    labels: Record<string, string>;
    domain: string;
    spec: GatewaySpec;
    routes: Route[];
    /** The gateway's own network, joined first (so project networks can come and go in place). */
    ownNetwork: Network;
    /** Project networks to join: project name -> network. */
    networks: Record<string, Network>;
    /** The gateway's fixed address on each project network: project name -> address (undefined: the engine's choice). */
    addresses: Record<string, pulumi.Input<string | undefined>>;
    /** Names the gateway answers to on every project network (the project hostnames, see override.ts). */
    aliases: string[];
    /** PEM certificate (chain) and key for HTTPS on spec.httpsPort. */
    tls: { cert: pulumi.Input<string>; key: pulumi.Input<string> };
}

const TLS_DIR = "/etc/dind-compose/tls";
const NGINX_CONF = "/etc/dind-compose/nginx.conf";
const RELOAD_COMMAND = ["nginx", "-c", NGINX_CONF, "-s", "reload"];

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

/**
 * The nginx gateway: joins every project network under every project hostname
 * (so children resolve those names to it), routes `<hostname>` to its project's
 * daemon, and publishes HTTP and HTTPS only on `gateway.bindAddress`. A config
 * change is applied in place (new nginx.conf, `nginx -s reload`; a new project
 * network is joined with `docker network connect`, and a project network whose
 * aliases changed is left and joined again): never a new container.
 */
export class Gateway extends pulumi.ComponentResource {
    /** The gateway's IPv4 address on each project network: project name -> address. */
    public readonly addresses: pulumi.Output<Record<string, string>>;
    public readonly containerName: pulumi.Output<string>;
    private readonly container: Container;
    private readonly resourceName: string;
    private readonly routes: Route[];
    private readonly networks: Record<string, Network>;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:Gateway", name, {}, opts);
        const projects = Object.keys(args.networks).sort();
        const nginxConf = renderNginxConf({
            domain: args.domain,
            routes: args.routes,
            httpPort: GATEWAY_HTTP_PORT,
            indexRoot: GATEWAY_INDEX_ROOT,
            https: { port: GATEWAY_HTTPS_PORT, certFile: `${TLS_DIR}/cert.pem`, keyFile: `${TLS_DIR}/key.pem` },
        });
        const indexHtml = renderIndexPage({ domain: args.domain, routes: args.routes, httpPort: args.spec.httpPort });

        const container = new Container(
            `${name}-nginx`,
            {
                name: args.containerName,
                hostname: "gateway",
                image: args.image,
                labels: args.labels,
                env: {},
                command: ["nginx", "-c", NGINX_CONF, "-g", "daemon off;"],
                mounts: [],
                networks: pulumi
                    .all([args.ownNetwork.name, pulumi.all(projects.map((p) => pulumi.all([args.networks[p].name, args.addresses[p]])))])
                    .apply(([own, joined]) => [
                        { name: own, aliases: [] as string[] },
                        ...joined.map(([name, ip]) => ({ name, aliases: args.aliases, ...(ip ? { ip } : {}) })),
                    ]),
                ports: [
                    { hostIp: args.spec.bindAddress, hostPort: args.spec.httpPort, containerPort: GATEWAY_HTTP_PORT },
                    { hostIp: args.spec.bindAddress, hostPort: args.spec.httpsPort, containerPort: GATEWAY_HTTPS_PORT },
                ],
                securityArgs: [],
                sysctls: GATEWAY_SYSCTLS,
                files: [
                    { path: NGINX_CONF, content: nginxConf },
                    { path: `${GATEWAY_INDEX_ROOT}/index.html`, content: indexHtml },
                    { path: `${TLS_DIR}/cert.pem`, content: args.tls.cert },
                ],
                secretFiles: [{ path: `${TLS_DIR}/key.pem`, content: args.tls.key }],
                reloadCommand: RELOAD_COMMAND,
                running: true,
            },
            { parent: this },
        );

        this.container = container;
        this.resourceName = name;
        this.routes = args.routes;
        this.networks = args.networks;
        this.containerName = container.name;
        this.addresses = pulumi
            .all(projects.map((p) => args.networks[p].name))
            .apply((netNames) =>
                container.ipAddresses.apply((ips) => Object.fromEntries(projects.map((p, i) => [p, ips[netNames[i]] ?? ""]))),
            );
        this.registerOutputs({ addresses: this.addresses, containerName: this.containerName });
    }

    /**
     * Gives each route a pool of kept-alive connections to its project's dind container (`daemonIds`:
     * project name -> container ID, whose creation it waits for): their addresses are written
     * into the gateway once they exist. See gatewayConfig.ts and providers/gatewayUpstreams.ts.
     */
    public keepAliveTo(daemonIds: Record<string, pulumi.Input<string>>): GatewayUpstreams {
        return new GatewayUpstreams(
            `${this.resourceName}-upstreams`,
            {
                gateway: this.container.name,
                // The ID is known in a preview of an in-place update of the gateway: only a new container shows as a change.
                gatewayId: this.container.id,
                // `project` names the route's address file: its key (the project's name for its main route).
                targets: this.routes.map((r) => ({
                    project: r.key,
                    daemonId: daemonIds[r.project],
                    network: this.networks[r.project].name,
                    port: r.upstreamPort,
                })),
                reloadCommand: RELOAD_COMMAND,
            },
            // On destroy the gateway container goes, and its files with it.
            { parent: this, deletedWith: this.container },
        );
    }
}
