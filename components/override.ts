// How the children of every project reach the projects by the hostnames users type in the
// browser, while the project networks stay apart. Pure.
//
// DNS, for almost everything: the gateway carries every project hostname (and the bare domain)
// as a network alias on each project network. An inner daemon answers its own names (services,
// containers) and forwards the rest to the dind container's resolver, which is Docker's DNS on
// that project network: it answers with the gateway's address there. This holds for every
// container on a user-defined inner network, which is where compose puts services, and for
// containers started through the daemon's API on such a network. Nothing of the project has to
// wait for the gateway, and adding a project changes the gateway's aliases, not the children.
//
// /etc/hosts, for what DNS cannot carry: Docker never forwards a single-label name, and a
// container on the inner default bridge (`network_mode: bridge`) has no embedded DNS at all.
// Those services get `extra_hosts` entries pointing at the gateway's address, in a compose
// override that dind-compose adds as the last `-f` of the project.
//
// The same override gives every service the user CA (userCa.ts), so that a call to
// https://<other project>.<domain> verifies: the CA's share directory, which every dind container
// mounts read-only, mounted again into the service, and the variables that common runtimes read
// pointed at it. Replacing the image's own bundle would lose its public roots, so SSL_CERT_FILE
// (OpenSSL: Python, Ruby, PHP, Go on Linux), REQUESTS_CA_BUNDLE (Python requests) and
// CURL_CA_BUNDLE name a bundle of the machine's roots plus the CA, and NODE_EXTRA_CA_CERTS (added to
// Node's own roots) the CA alone. A variable the service sets itself is left to it.
import { Document, isNode } from "yaml";
import { PortModel } from "./compose";

/** Where the user CA's share directory is, in every dind container and in every service given the CA. */
export const CA_SHARE_MOUNT = "/etc/dind-compose/ca";

/** The variables that point a service's runtimes at the CA (see the top of this file). */
export const CA_ENV: Readonly<Record<string, string>> = {
    SSL_CERT_FILE: `${CA_SHARE_MOUNT}/bundle.pem`,
    REQUESTS_CA_BUNDLE: `${CA_SHARE_MOUNT}/bundle.pem`,
    CURL_CA_BUNDLE: `${CA_SHARE_MOUNT}/bundle.pem`,
    NODE_EXTRA_CA_CERTS: `${CA_SHARE_MOUNT}/ca.pem`,
};

/** Docker's embedded DNS forwards only names with a dot; single labels stay local to each daemon. */
const forwardedByDns = (hostname: string): boolean => hostname.includes(".");

/** The network aliases the gateway carries on every project network: the hostnames DNS can carry, sorted. */
export function gatewayAliases(hostnames: string[]): string[] {
    return [...new Set(hostnames.filter(forwardedByDns))].sort();
}

export interface ExtraHostsArgs {
    /** Services that can take `extra_hosts` (not those sharing another container's network namespace). */
    services: string[];
    /** Of those, the ones on the inner daemon's default bridge (`network_mode: bridge`). */
    bridgeServices: string[];
    /** Every project hostname and the bare domain. */
    hostnames: string[];
}

/** Service -> the hostnames it must find in /etc/hosts (sorted); services that DNS serves fully are absent. */
export function extraHostsNeeded(args: ExtraHostsArgs): Record<string, string[]> {
    const all = [...new Set(args.hostnames)].sort();
    const bridge = new Set(args.bridgeServices);
    const needs: Record<string, string[]> = {};
    for (const s of [...args.services].sort()) {
        const names = bridge.has(s) ? all : all.filter((h) => !forwardedByDns(h));
        if (names.length > 0) needs[s] = names;
    }
    return needs;
}

/**
 * The compose override that points `needs` (see extraHostsNeeded) at the gateway's address on
 * the project's network, gives the services of `rebind` (routes.ts portsToRebind) their port
 * lists without host addresses (`!override` replaces a list instead of appending to it), and the
 * services of `trust` (service -> the CA_ENV variables it sets itself) the user CA;
 * "" when no service needs any of it.
 */
export function renderOverride(
    needs: Record<string, string[]>,
    gatewayAddress: string,
    rebind: Record<string, PortModel[]> = {},
    trust: Record<string, string[]> = {},
): string {
    const services = [...new Set([...Object.keys(needs), ...Object.keys(rebind), ...Object.keys(trust)])].sort();
    if (services.length === 0) return "";
    if (Object.keys(needs).length > 0 && gatewayAddress === "") {
        throw new Error(
            `the gateway has no address on this project's network, so project hostnames cannot resolve in its containers; run 'pulumi up --refresh'`,
        );
    }
    const entry = (s: string): Record<string, unknown> => ({
        ...(needs[s] ? { extra_hosts: needs[s].map((h) => `${h}:${gatewayAddress}`) } : {}),
        ...(rebind[s]
            ? {
                  ports: rebind[s].map((p) => ({
                      target: p.target,
                      ...(p.published === undefined ? {} : { published: String(p.published) }),
                      protocol: p.protocol,
                  })),
              }
            : {}),
        ...(trust[s] ? caEntry(trust[s]) : {}),
    });
    const doc = new Document({ services: Object.fromEntries(services.map((s) => [s, entry(s)])) });
    for (const s of Object.keys(rebind)) {
        const ports = doc.getIn(["services", s, "ports"], true);
        if (isNode(ports)) ports.tag = "!override";
    }
    const why = [
        ...(Object.keys(needs).length > 0 ? ["project hostnames that DNS cannot carry here resolve to the gateway"] : []),
        ...(Object.keys(rebind).length > 0
            ? ["ports bound to one host address are published on every address of the dind container, so the gateway reaches them"]
            : []),
        ...(Object.keys(trust).length > 0
            ? ["services trust the user CA (https://<project>.<domain> verifies), besides their image's own roots"]
            : []),
    ];
    return `# Generated by dind-compose: ${why.join("; ")}.\n${doc.toString()}`;
}

/** A service's part of the override for the user CA: the share directory read-only, and the variables it does not set itself. */
function caEntry(ownVariables: string[]): Record<string, unknown> {
    const environment = Object.fromEntries(Object.entries(CA_ENV).filter(([k]) => !ownVariables.includes(k)));
    return {
        volumes: [{ type: "bind", source: CA_SHARE_MOUNT, target: CA_SHARE_MOUNT, read_only: true }],
        ...(Object.keys(environment).length > 0 ? { environment } : {}),
    };
}
