// The seam between the environment and where it runs. The environment (environment.ts) decides
// everything that does not depend on the engine: the routes, the gateway's nginx.conf and index
// page, the certificate, each project's compose override, the compose stack and the file sync,
// the outputs. A platform makes the engine's own objects: on the Docker engine the networks, the
// dind containers and their volumes, the gateway container (docker/platform.ts, dynamic resources
// over the docker CLI); on a cluster the namespace, the StatefulSets, Services and NetworkPolicies,
// the gateway Deployment (kubernetes/platform.ts, @pulumi/kubernetes resources).
import * as pulumi from "./pulumiSdk";
import type { EnvironmentSpec, ProjectSpec } from "./config";
import type { LoadedProject, EnvironmentCa } from "./environment";
import type { Route } from "./gatewayConfig";
import type { KubernetesRef } from "./providers/kubectlEngine";
import type { TreeManifest } from "./transport/manifest";

/** What the environment gives a platform for the gateway. */
export interface GatewayRequest {
    /** The gateway component: the platform's objects are its children. */
    parent: pulumi.ComponentResource;
    /** The component's resource name (`env-gateway`): the objects' names start with it. */
    name: string;
    routes: Route[];
    /** The gateway's nginx.conf (gatewayConfig.ts, at GATEWAY_NGINX_CONF), the index page (indexPage.ts), the certificate and key for HTTPS. */
    nginxConf: string;
    indexHtml: string;
    tls: { cert: pulumi.Input<string>; key: pulumi.Input<string> };
    /** Every hostname the stack serves (the domain and every route's). */
    hostnames: string[];
}

export interface PlacedGateway {
    /** The gateway's name on the engine (the container, or the Deployment and its Service). */
    name: pulumi.Output<string>;
    /** The address children of `project` reach the gateway at, for extra_hosts (undefined: none known yet). */
    addressFor(project: string): pulumi.Output<string | undefined>;
}

/** What the environment gives a platform for one project's daemon. */
export interface DaemonRequest {
    /** The project's component (DindProject): the platform's objects are its children. */
    parent: pulumi.ComponentResource;
    /** The component's resource name (`env-<project>`). */
    name: string;
    spec: ProjectSpec;
    loaded: LoadedProject;
    /** Folders synced into the daemon (each of loaded.mountRoots), undefined: bind-mounted (Docker engine on this machine). */
    sourceTrees: Record<string, TreeManifest> | undefined;
}

export interface PlacedDaemon {
    /** What the compose stack and the file sync exec into: the dind container, or its pod. */
    daemon: pulumi.Output<string>;
    /** A new one when the daemon is made anew (the container's ID, the StatefulSet's UID). */
    daemonId: pulumi.Output<string>;
    /** Host address of the inner daemon's TLS endpoint, when published (daemonPort). */
    daemonEndpoint: pulumi.Output<string | undefined>;
    /** The cluster the daemon is in (the providers' `engine` input); undefined: the Docker engine. */
    engine: KubernetesRef | undefined;
    /** The resource whose removal takes the daemon and everything in it (the compose stack's deletedWith). */
    resource: pulumi.Resource;
}

/** One engine's objects. Made once per program run, used in this order: prepare, gateway, daemons, finish. */
export interface Platform {
    /** Makes what the gateway and the daemons share (Docker: the networks; a cluster: the provider and the namespace). */
    prepare(parent: pulumi.ComponentResource, name: string): void;
    /** The host name the gateway reaches a project's daemon at (nginx's fallback by name). */
    upstreamHost(project: string): string;
    gateway(g: GatewayRequest): PlacedGateway;
    /** The services of a project that get every hostname in extra_hosts (those the engine's DNS cannot serve them to). */
    extraHosts(loaded: LoadedProject, hostnames: string[]): Record<string, string[]>;
    /** Makes the project's daemon. */
    daemon(d: DaemonRequest): PlacedDaemon;
    /** After every daemon (project name -> its daemonId): what needs them all (the gateway's upstream addresses). */
    finish(daemonIds: Record<string, pulumi.Output<string>>): void;
}

/** What a platform needs of the environment's arguments. */
export interface PlatformContext {
    spec: EnvironmentSpec;
    loaded: Record<string, LoadedProject>;
    pulumiProject: string;
    stack: string;
    /** The user CA as the environment uses it; undefined with a user certificate. */
    ca: EnvironmentCa | undefined;
}
