// Ports: read from compose's long syntax, shown as `docker ps` does, and the port the gateway
// routes to by default.
import { isRecord, show } from "./json";
import { ComposeModel, PortModel } from "./model";
import { KeyPath, scalar, Source } from "./read";

const PROTOCOLS = ["tcp", "udp", "sctp"];

function portNumber(src: Source, p: KeyPath, v: unknown, what: string, spec: unknown): number {
    const s = typeof v === "number" ? String(v) : typeof v === "string" ? v.trim() : "";
    if (/^\d+-\d+$/.test(s)) {
        src.fail(p, `${show(spec)} has a port range (${s}); ranges are not supported by dind-compose, list each port instead`);
    }
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 65535) src.fail(p, `${show(spec)}: ${what} ${show(v)} is not a port number (1-65535)`);
    return n;
}

/** One entry of a service's `ports`, as compose prints it: `{target, published, host_ip, protocol, mode}`. */
export function readPort(src: Source, p: KeyPath, v: unknown): PortModel {
    if (!isRecord(v)) return src.fail(p, `must be a mapping {target, published, ...}, got ${show(v)}`);
    if (v.target === undefined) src.fail(p, `has no target port`);
    const protocol = v.protocol === undefined ? "tcp" : scalar(src, [...p, "protocol"], v.protocol).toLowerCase();
    if (!PROTOCOLS.includes(protocol)) src.fail([...p, "protocol"], `${show(protocol)} is not one of ${PROTOCOLS.join(", ")}`);
    const port: PortModel = { target: portNumber(src, [...p, "target"], v.target, "target", v), protocol };
    if (v.published !== undefined && v.published !== null && v.published !== "") {
        port.published = portNumber(src, [...p, "published"], v.published, "published port", v);
    }
    if (v.host_ip !== undefined && v.host_ip !== null && v.host_ip !== "") port.host_ip = scalar(src, [...p, "host_ip"], v.host_ip);
    return port;
}

/** `127.0.0.1:8080->80/udp`, `3000/tcp` when nothing is published (like `docker ps`). */
export function formatPort(p: PortModel): string {
    const host =
        p.published === undefined
            ? ""
            : `${p.host_ip === undefined ? "" : `${p.host_ip.includes(":") ? `[${p.host_ip}]` : p.host_ip}:`}${p.published}->`;
    return `${host}${p.target}/${p.protocol}`;
}

/**
 * The published port (on the inner daemon's host) of the first port that has one, services in the
 * model's order; undefined when no service publishes a port. Put the model in file order first
 * (`inFileOrder`): compose prints services sorted by name.
 */
export function firstPublishedPort(model: ComposeModel): number | undefined {
    for (const svc of Object.values(model.services)) {
        const port = svc.ports.find((p) => p.published !== undefined);
        if (port) return port.published;
    }
    return undefined;
}
