import * as pulumi from "./pulumiSdk";
import { GATEWAY_HTTP_PORT, GATEWAY_HTTPS_PORT, GATEWAY_INDEX_ROOT, GATEWAY_TLS_DIR, renderNginxConf, Route } from "./gatewayConfig";
import { renderIndexPage } from "./indexPage";
import type { Platform } from "./platform";

export interface GatewayArgs {
    platform: Platform;
    domain: string;
    /** The port the index page's links name (gateway.httpPort). */
    httpPort: number;
    routes: Route[];
    /** Every hostname the stack serves: the domain and each route's. */
    hostnames: string[];
    /** PEM certificate (chain) and key for HTTPS. */
    tls: { cert: pulumi.Input<string>; key: pulumi.Input<string> };
}

/**
 * The nginx gateway: routes `<hostname>` to its project's daemon, and the bare domain to the index
 * page. Its nginx.conf and index page are the same on every engine; the platform runs them (a
 * container on the Docker engine, a Deployment on a cluster).
 */
export class Gateway extends pulumi.ComponentResource {
    /** The gateway's name on the engine. */
    public readonly containerName: pulumi.Output<string>;
    /** The address children of a project reach the gateway at (their extra_hosts). */
    public readonly addressFor: (project: string) => pulumi.Output<string | undefined>;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:Gateway", name, {}, opts);
        const nginxConf = renderNginxConf({
            domain: args.domain,
            routes: args.routes,
            httpPort: GATEWAY_HTTP_PORT,
            indexRoot: GATEWAY_INDEX_ROOT,
            https: { port: GATEWAY_HTTPS_PORT, certFile: `${GATEWAY_TLS_DIR}/cert.pem`, keyFile: `${GATEWAY_TLS_DIR}/key.pem` },
        });
        const indexHtml = renderIndexPage({ domain: args.domain, routes: args.routes, httpPort: args.httpPort });
        const placed = args.platform.gateway({
            parent: this,
            name,
            routes: args.routes,
            nginxConf,
            indexHtml,
            tls: args.tls,
            hostnames: args.hostnames,
        });
        this.containerName = placed.name;
        this.addressFor = placed.addressFor;
        this.registerOutputs({ containerName: this.containerName });
    }
}
