// Reads what already holds addresses (the engine's networks, through the engine seam; this
// machine's interfaces and routes) and gives each network of the stack that does not
// exist yet a subnet from dind-compose:network.pool (subnets.ts), or refuses
// the run, before anything is created, when the pool has no room.
import * as fs from "fs";
import * as os from "os";
import { CONFIG_NAMESPACE, ConfigError, EnvironmentSpec } from "./config";
import { StackNames } from "./names";
import { engine } from "./providers/engine";
import { addressesIn, Cidr, formatCidr, parseCidr, planSubnets } from "./subnets";

/** Networks this machine reaches directly or by a route (a LAN, a VPN), other than the default route: a subnet there would hide them. */
export function hostNetworks(): Cidr[] {
    const out: Cidr[] = [];
    for (const addrs of Object.values(os.networkInterfaces())) {
        for (const a of addrs ?? []) {
            if (a.family === "IPv4" && !a.internal && a.cidr) {
                const c = parseCidr(a.cidr);
                if (c) out.push(c);
            }
        }
    }
    // /proc/net/route: destination and mask in little-endian hex.
    const routes = fs.existsSync("/proc/net/route") ? fs.readFileSync("/proc/net/route", "utf8").split("\n").slice(1) : [];
    for (const line of routes) {
        const f = line.trim().split(/\s+/);
        if (f.length < 8 || f[1] === "00000000") continue;
        const le = (hex: string): number => Buffer.from(hex, "hex").readUInt32LE(0);
        const mask = le(f[7]);
        const prefix = mask.toString(2).replace(/0+$/, "").length;
        out.push({ base: le(f[1]), prefix });
    }
    return out;
}

/** Whether the engine runs on this machine, so that its interfaces and routes are this machine's. */
export const engineIsLocal = (): boolean => /^(unix:\/\/|npipe:\/\/|$)/.test(process.env.DOCKER_HOST ?? "");

/** How one network of the stack not on the engine yet is made: its subnet, the range for addresses that are not fixed, and the pool it came from. */
export interface NetworkPlan {
    create?: { subnet: string; ipRange: string; pool: string };
}

/**
 * The plan of each network of the stack, by name.
 * @throws ConfigError when the pool has fewer free subnets than the stack needs.
 */
export async function planNetworks(spec: EnvironmentSpec, names: StackNames): Promise<Record<string, NetworkPlan>> {
    const pool = spec.network.pool;
    const networks = [names.gatewayNetwork(), ...spec.projects.map((p) => names.network(p.name))];
    const onEngine = await engine().networkSubnets();
    const taken = Object.values(onEngine)
        .flat()
        .map(parseCidr)
        .filter((c): c is Cidr => c !== undefined)
        .concat(engineIsLocal() ? hostNetworks() : []);
    const plan = planSubnets(networks, new Set(Object.keys(onEngine)), taken, pool, spec.network.subnetSize);
    if (plan.free < plan.needed) {
        const key = `${CONFIG_NAMESPACE}:network`;
        throw new ConfigError([
            `${key}.pool ${formatCidr(pool)} has room for ${plan.free} more /${spec.network.subnetSize} network${plan.free === 1 ? "" : "s"}, ` +
                `and this stack needs ${plan.needed} (one per project and the gateway's own; the other subnets in the pool are taken by ` +
                `networks on the engine or on this machine). Give ${key}.pool a wider range (e.g. 10.250.0.0/16 holds 4096 /28 networks), ` +
                `or ${key}.subnetSize a longer prefix (29: 8 addresses per network), or remove networks you no longer need (docker network ls)`,
        ]);
    }
    const out: Record<string, NetworkPlan> = {};
    for (const n of networks) {
        const planned = plan.subnets[n];
        out[n] =
            planned === undefined
                ? {}
                : { create: { subnet: planned, ipRange: addressesIn(parseCidr(planned) as Cidr).ipRange, pool: formatCidr(pool) } };
    }
    return out;
}
