// How a person on this machine reaches what an engine elsewhere publishes: the gateway and the
// projects' tcp ports bind on the ENGINE's machine (gateway.bindAddress there), so the URLs need a
// tunnel or an address of that machine. Pure: the lines `up` prints and the `access` output holds.
import type { GatewaySpec } from "../config";

export interface RemoteEndpoint {
    scheme: "ssh" | "tcp" | "other";
    host: string;
    /** ssh://user@host: the user. */
    user?: string;
    /** ssh's port when not 22. */
    sshPort?: number;
}

/** The machine of an engine endpoint (DOCKER_HOST or a context's host). */
export function remoteEndpoint(engineHost: string): RemoteEndpoint {
    try {
        const u = new URL(engineHost);
        const scheme = u.protocol === "ssh:" ? "ssh" : u.protocol === "tcp:" || u.protocol === "https:" ? "tcp" : "other";
        return {
            scheme,
            host: u.hostname.replace(/^\[|\]$/g, ""),
            ...(u.username ? { user: decodeURIComponent(u.username) } : {}),
            ...(scheme === "ssh" && u.port && u.port !== "22" ? { sshPort: Number(u.port) } : {}),
        };
    } catch {
        return { scheme: "other", host: engineHost };
    }
}

/**
 * What to do to reach the gateway (and the tcp ports) of an engine elsewhere; [] for a local one.
 * The printed URLs keep their *.localhost names: through an ssh tunnel they resolve to this
 * machine, where the tunnel listens on the same ports.
 */
export function accessLines(engineHost: string, local: boolean, gateway: GatewaySpec, tcpHostPorts: number[], domain: string): string[] {
    if (local) return [];
    const e = remoteEndpoint(engineHost);
    const target = gateway.bindAddress === "0.0.0.0" ? "127.0.0.1" : gateway.bindAddress;
    const ports = [gateway.httpPort, gateway.httpsPort, ...tcpHostPorts];
    const forwards = ports.map((p) => `-L 127.0.0.1:${p}:${target}:${p}`).join(" ");
    const login = `${e.user ?? "<user>"}@${e.host}`;
    const tunnel = `ssh -N ${e.sshPort ? `-p ${e.sshPort} ` : ""}${forwards} ${login}`;
    const lines = [
        `The engine (${engineHost}) is on another machine: the gateway listens there, on ${gateway.bindAddress}:${gateway.httpPort} and :${gateway.httpsPort}${tcpHostPorts.length > 0 ? `, and the tcp ports on ${tcpHostPorts.join(", ")}` : ""}.`,
        `To open the URLs below from this machine, keep a tunnel open: ${tunnel}`,
    ];
    if (gateway.bindAddress !== "127.0.0.1" && e.scheme !== "other") {
        lines.push(
            `Or, without a tunnel: ${gateway.bindAddress === "0.0.0.0" ? `any address of ${e.host}` : gateway.bindAddress} on those ports, with the project's name in the Host header (curl --resolve <project>.${domain}:${gateway.httpPort}:<that address> http://<project>.${domain}:${gateway.httpPort}/).`,
        );
    } else if (e.scheme === "tcp") {
        lines.push(
            `Or set dind-compose:gateway.bindAddress to an address of ${e.host} this machine can reach (0.0.0.0: all of them) and use --resolve with it.`,
        );
    }
    return lines;
}
