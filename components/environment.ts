import * as pulumi from "./pulumiSdk";
import { EnvironmentSpec } from "./config";
import { Gateway } from "./gateway";
import { Route } from "./gatewayConfig";
import { projectUrl } from "./indexPage";
import { ComposeInvocation, DindProject } from "./dindProject";
import { renderOverride } from "./override";
import type { Platform } from "./platform";
import { GatewayCertificate } from "./providers/certificates";
import { PortModel } from "./compose";
import { ProjectRoute } from "./routes";
import type { ShareFile } from "./userCa";
import type { TreeManifest } from "./transport/manifest";

/** What the program learned from a project's compose files before creating anything. */
export interface LoadedProject {
    /** Service names of the compose model that can take `extra_hosts` (not those sharing another's network namespace). */
    services: string[];
    /** Of those, the ones on the inner daemon's default bridge (`network_mode: bridge`), where only /etc/hosts resolves project hostnames. */
    bridgeServices: string[];
    /** Every hostname the gateway routes into the project, the main route (the project's port) first. */
    routes: ProjectRoute[];
    /** Services with ports bound to one host address: their port lists rebound to every address (routes.ts portsToRebind). */
    rebindPorts: Record<string, PortModel[]>;
    /** Host directories the dind container must see at the same path. */
    mountRoots: string[];
    /** Flattened, readable compose model (diffs name changed service fields). */
    model: Record<string, string>;
    /** sha256 of every file that feeds a build. */
    buildFiles: Record<string, string>;
    /** sha256 of every other file compose reads besides the compose files (included, extended, env, secret and config files). */
    sourceFiles: Record<string, string>;
    /** Every service -> the variables of override.ts CA_ENV that it sets itself (left to it when it is given the user CA). */
    caVariables: Record<string, string[]>;
}

/** The user CA as the environment uses it (see userCa.ts). */
export interface EnvironmentCa {
    /** dind-compose:tls.caDir. */
    dir: string;
    /** sha256 of the CA's public key; in a preview that makes the CA, a placeholder. */
    keyId: string;
    /** The CA certificate (PEM); "" in a preview that makes the CA. */
    cert: string;
    /** The files copied into every dind container at CA_SHARE_MOUNT (the CA and the bundle for children). */
    shareFiles: ShareFile[];
}

export interface EnvironmentArgs {
    spec: EnvironmentSpec;
    /** Loaded compose models, by project name. */
    loaded: Record<string, LoadedProject>;
    pulumiProject: string;
    stack: string;
    /** The user's certificate and key contents (gateway.certFile/keyFile); undefined: the user CA issues one. */
    userTls: { cert: string; key: pulumi.Input<string> } | undefined;
    /** The user CA that signs the gateway's certificate and that the services are given; undefined with userTls. */
    ca: EnvironmentCa | undefined;
    /** Project name -> folder -> its tree, for the folders synced into the daemons (DindProjectArgs.sourceTrees); undefined: bind mounts. */
    sourceTrees: Record<string, Record<string, TreeManifest>> | undefined;
    /** Where it runs: the Docker engine's objects or a cluster's (platform.ts). */
    platform: Platform;
}

/**
 * The whole environment: the gateway and one DindProject per compose project, on the engine the
 * platform stands for.
 */
export class Environment extends pulumi.ComponentResource {
    /** Project name -> its URL through the gateway. */
    public readonly urls: Record<string, string>;
    /** Project name -> every route into it: the URL, the service and the inner port (the main route first). */
    public readonly routes: Record<string, { url: string; service: string | null; port: number }[]>;
    /** Project name -> the name of its dind container (its pod, on a cluster). */
    public readonly daemons: pulumi.Output<Record<string, string>>;
    /** Project name -> the host endpoint of its inner daemon (only for projects with daemonPort). */
    public readonly daemonEndpoints: pulumi.Output<Record<string, string>>;
    /** Project name -> service -> state after the last up. */
    public readonly services: pulumi.Output<Record<string, Record<string, string>>>;
    public readonly gatewayContainer: pulumi.Output<string>;
    /** The user CA's certificate (PEM) to trust for HTTPS; undefined with a user-supplied certificate. */
    public readonly caCertificate: pulumi.Output<string> | undefined;
    /** Project name -> its HTTPS URL through the gateway. */
    public readonly httpsUrls: Record<string, string>;
    /** Project name -> how to run compose against its daemon (scripts/compose.js). */
    public readonly compose: pulumi.Output<Record<string, ComposeInvocation>>;
    /** Folders synced: project name -> the daemon and the folders synced into it (scripts/sync.js); {} with bind mounts. */
    public readonly files: pulumi.Output<Record<string, { daemon: string; dirs: string[]; engine?: ComposeInvocation["engine"] }>>;

    constructor(name: string, args: EnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:Environment", name, {}, opts);
        const { spec, loaded, platform } = args;
        platform.prepare(this, name);

        const routes: Route[] = spec.projects.flatMap((p) =>
            loaded[p.name].routes.map((r) => ({
                key: r.key,
                project: p.name,
                service: r.service,
                hostname: r.hostname,
                upstreamHost: platform.upstreamHost(p.name),
                upstreamPort: r.port,
            })),
        );
        const routedHostnames = routes.map((r) => r.hostname);
        const ca = args.userTls ? undefined : args.ca;
        if (!args.userTls && !ca) throw new Error("Environment: neither a user certificate (gateway.certFile) nor the user CA was given");
        const certificate =
            ca &&
            new GatewayCertificate(
                `${name}-certificate`,
                { domain: spec.domain, hostnames: routedHostnames, caDir: ca.dir, caKeyId: ca.keyId },
                { parent: this },
            );
        const tls = args.userTls ?? { cert: (certificate as GatewayCertificate).cert, key: (certificate as GatewayCertificate).key };
        const hostnames = [spec.domain, ...routedHostnames];
        const gateway = new Gateway(
            `${name}-gateway`,
            { platform, domain: spec.domain, httpPort: spec.gateway.httpPort, routes, hostnames, tls },
            { parent: this },
        );

        /**
         * The project's compose override: extra_hosts only for services that the engine's DNS cannot
         * serve (so most projects on the Docker engine do not wait for the gateway's addresses),
         * rebound ports, and the user CA for the services of a project that trusts it.
         */
        const overrideOf = (p: { name: string; trustCa: boolean }): pulumi.Input<string> => {
            const needs = platform.extraHosts(loaded[p.name], hostnames);
            const rebind = loaded[p.name].rebindPorts;
            const trust = ca && p.trustCa ? loaded[p.name].caVariables : {};
            return Object.keys(needs).length === 0
                ? renderOverride({}, "", rebind, trust)
                : gateway.addressFor(p.name).apply((a) => renderOverride(needs, a ?? "", rebind, trust));
        };
        const projects = spec.projects.map(
            (p) =>
                new DindProject(
                    `${name}-${p.name}`,
                    {
                        spec: p,
                        loaded: loaded[p.name],
                        platform,
                        readyTimeoutSeconds: spec.dind.readyTimeoutSeconds,
                        sourceTrees: args.sourceTrees?.[p.name],
                        override: overrideOf(p),
                    },
                    { parent: this },
                ),
        );
        platform.finish(Object.fromEntries(spec.projects.map((p, i) => [p.name, projects[i].daemonId])));

        const byName = <T>(values: pulumi.Input<T>[]): pulumi.Output<Record<string, T>> =>
            pulumi.all(values).apply((vs) => Object.fromEntries(spec.projects.map((p, i) => [p.name, vs[i] as T])));

        this.urls = Object.fromEntries(spec.projects.map((p) => [p.name, projectUrl(p.hostname, spec.gateway.httpPort)]));
        this.routes = Object.fromEntries(
            spec.projects.map((p) => [
                p.name,
                loaded[p.name].routes.map((r) => ({
                    url: projectUrl(r.hostname, spec.gateway.httpPort),
                    service: r.service ?? null,
                    port: r.port,
                })),
            ]),
        );
        this.httpsUrls = Object.fromEntries(spec.projects.map((p) => [p.name, projectUrl(p.hostname, spec.gateway.httpsPort, "https")]));
        this.caCertificate = ca && pulumi.output(ca.cert);
        this.daemons = byName(projects.map((p) => p.daemon));
        this.daemonEndpoints = byName(projects.map((p) => p.daemonEndpoint)).apply((m) =>
            Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => e[1] !== undefined)),
        );
        this.services = byName(projects.map((p) => p.services));
        this.gatewayContainer = gateway.containerName;
        this.compose = byName(projects.map((p) => p.compose));
        this.files = args.sourceTrees
            ? byName(
                  projects.map((p, i) =>
                      p.compose.apply((c) => ({
                          daemon: c.daemon,
                          dirs: loaded[spec.projects[i].name].mountRoots,
                          ...(c.engine ? { engine: c.engine } : {}),
                      })),
                  ),
              )
            : pulumi.output({} as Record<string, { daemon: string; dirs: string[] }>);
        this.registerOutputs({
            caCertificate: this.caCertificate,
            httpsUrls: this.httpsUrls,
            urls: this.urls,
            routes: this.routes,
            daemons: this.daemons,
            daemonEndpoints: this.daemonEndpoints,
            services: this.services,
        });
    }
}
