// Which hostnames the gateway routes to which service and port of a project, decided from the
// config and the project's compose model. Pure: every rule is a table test.
import { ProjectSpec } from "./config";
import { PortModel } from "./compose";

/** One hostname the gateway answers for, and where it goes inside the project. */
export interface ProjectRoute {
    /**
     * Identifies the route's upstream in the gateway (its keepalive pool and status probe): the
     * project's name for its main route, as before routes per service existed, so those stacks
     * keep their state; `<project>.<service>.<port>` for the others (a project name has no dot).
     */
    key: string;
    project: string;
    /** The compose service that publishes the port; undefined when no service does (a configured `port` the model does not show). */
    service: string | undefined;
    hostname: string;
    /** The inner published port. */
    port: number;
}

/** What the routes need to know of the compose model: each service's ports, services in file order. */
export type PublishedPorts = [service: string, ports: PortModel[]][];

/** The result: the routes (the main one first), or the problems that stop the run. */
export interface RoutesResult {
    routes: ProjectRoute[];
    problems: string[];
}

const published = (ports: PortModel[]): number[] => [
    ...new Set(ports.filter((p) => p.published !== undefined && p.protocol === "tcp").map((p) => p.published as number)),
];

/**
 * The project's routes: its main route (`port` at its hostname), then either the configured
 * `routes` or, without that key, every other service that publishes a TCP port at
 * `<service>.<hostname>` (its first such port; ports the project opens as `tcp` are not HTTP and
 * get no route). A configured route at the project's own hostname takes the main route's place.
 * @param key the config key of this project, for messages (`dind-compose:projects[0]`).
 * @param mainPort the project's port (configured, or the first published port).
 */
export function projectRoutes(spec: ProjectSpec, key: string, services: PublishedPorts, mainPort: number): RoutesResult {
    const problems: string[] = [];
    const owner = (port: number): string | undefined => services.find(([, ports]) => published(ports).includes(port))?.[0];
    let main: ProjectRoute = { key: spec.name, project: spec.name, service: owner(mainPort), hostname: spec.hostname, port: mainPort };
    const others: ProjectRoute[] = [];
    const route = (service: string, port: number, hostname: string): ProjectRoute =>
        hostname === spec.hostname
            ? { ...main, service, port }
            : { key: `${spec.name}.${service}.${port}`, project: spec.name, service, hostname, port };

    if (spec.routes === undefined) {
        const tcpPorts = new Set(spec.tcp.map((t) => t.port));
        for (const [service, ports] of services) {
            if (service === main.service) continue;
            const port = published(ports).find((p) => !tcpPorts.has(p));
            if (port !== undefined) others.push(route(service, port, `${service}.${spec.hostname}`));
        }
    } else {
        spec.routes.forEach((r, i) => {
            const k = `${key}.routes[${i}]`;
            const entry = services.find(([name]) => name === r.service);
            if (entry === undefined) {
                problems.push(
                    `${k}.service ${JSON.stringify(r.service)} is not a service of the project (services: ${services.map(([s]) => s).join(", ")}); fix the name`,
                );
                return;
            }
            const ports = published(entry[1]);
            const port = r.port ?? ports[0];
            if (port === undefined) {
                problems.push(
                    `${k}: service ${JSON.stringify(r.service)} publishes no TCP port, so the route has nothing to go to; publish one in the compose file (ports: ["8000:8000"]) or remove the route`,
                );
                return;
            }
            if (!ports.includes(port)) {
                const by = owner(port);
                problems.push(
                    `${k}.port ${port}: ${by ? `published by service ${JSON.stringify(by)}, not ${JSON.stringify(r.service)}` : "no service publishes it"}; ` +
                        `use one of ${JSON.stringify(r.service)}'s published ports (${ports.join(", ") || "none"})${by ? ` or set service: ${by}` : ""}`,
                );
                return;
            }
            const hostname = r.hostname ?? `${r.service}.${spec.hostname}`;
            if (hostname === spec.hostname) {
                if (spec.port !== undefined && spec.port !== port) {
                    problems.push(
                        `${k} routes the project's own hostname ${hostname} to port ${port}, but ${key}.port is ${spec.port}; remove one of the two`,
                    );
                    return;
                }
                main = route(r.service, port, hostname);
            } else {
                others.push(route(r.service, port, hostname));
            }
        });
    }
    return { routes: [main, ...others], problems };
}

/**
 * Every hostname routed twice, across all projects: a problem naming both routes. `domain` is
 * the gateway's index page and may not be routed either.
 */
export function duplicateHostnames(routes: ProjectRoute[], domain: string): string[] {
    const problems: string[] = [];
    const seen = new Map<string, ProjectRoute>();
    const what = (r: ProjectRoute): string => `project ${r.project}${r.service ? ` service ${r.service}` : ""} port ${r.port}`;
    for (const r of routes) {
        if (r.hostname === domain) {
            problems.push(
                `hostname ${r.hostname} of ${what(r)} is the bare domain, which the gateway keeps for its index page; use a subdomain`,
            );
            continue;
        }
        const first = seen.get(r.hostname);
        if (first === undefined) seen.set(r.hostname, r);
        else
            problems.push(
                `hostname ${r.hostname} is routed twice: to ${what(first)} and to ${what(r)}; give one of them another hostname (dind-compose:projects[].routes[].hostname)`,
            );
    }
    return problems;
}

/**
 * Ports that a service binds to one host address (`127.0.0.1:8088:80`, `[::1]:8088:80`): inside a
 * dind container that address is the container's own loopback, which the gateway cannot reach.
 * The result is each such service's whole port list with the host address dropped, for the
 * project's override (`ports: !override`): published on every address of the dind container,
 * which only its project network and its own loopback reach, so nothing more is exposed.
 */
export function portsToRebind(services: PublishedPorts): Record<string, PortModel[]> {
    const out: Record<string, PortModel[]> = {};
    const bound = (p: PortModel): boolean => p.host_ip !== undefined && p.host_ip !== "" && p.host_ip !== "0.0.0.0" && p.host_ip !== "::";
    for (const [service, ports] of services) {
        if (!ports.some(bound)) continue;
        const unbound = ports.map(({ host_ip: _ignored, ...rest }) => rest);
        // 127.0.0.1:8080 and [::1]:8080 are one port on every address.
        out[service] = unbound.filter((p, i) => unbound.findIndex((q) => JSON.stringify(q) === JSON.stringify(p)) === i);
    }
    return out;
}
