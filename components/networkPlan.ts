// Reads what already holds addresses (the engine's networks and the networks its host reaches,
// through the engine seam) and gives each network of the stack that does not
// exist yet a subnet from dind-compose:network.pool (subnets.ts), or refuses
// the run, before anything is created, when the pool has no room.
import { CONFIG_NAMESPACE, ConfigError, EnvironmentSpec } from "./config";
import { StackNames } from "./names";
import { engine, type NetworkPool } from "./providers/engine";
import { addressesIn, Cidr, formatCidr, parseCidr, planSubnets } from "./subnets";

/**
 * What already holds addresses where the engine is: its networks (name -> subnets, for the names
 * that exist) and, as ranges, their subnets and those its host reaches (Engine.hostSubnets).
 */
export async function takenSubnets(): Promise<{ onEngine: Record<string, NetworkPool[]>; taken: Cidr[] }> {
    const e = engine();
    const onEngine = await e.networkSubnets();
    const subnets = Object.values(onEngine)
        .flat()
        .map((p) => p.subnet);
    const taken = [...subnets, ...e.hostSubnets()].map(parseCidr).filter((c): c is Cidr => c !== undefined);
    return { onEngine, taken };
}

/**
 * One network of the stack: how it is made when it is not on the engine yet (its subnet, the range
 * for addresses that are not fixed, the pool it came from), or what it has when it is (its IPv4
 * subnet and range as the engine reports them now, known in a preview too).
 */
export interface NetworkPlan {
    create?: { subnet: string; ipRange: string; pool: string };
    existing?: NetworkPool;
}

/**
 * The plan of each network of the stack, by name.
 * @throws ConfigError when the pool has fewer free subnets than the stack needs.
 */
export async function planNetworks(spec: EnvironmentSpec, names: StackNames): Promise<Record<string, NetworkPlan>> {
    const pool = spec.network.pool;
    const networks = [names.gatewayNetwork(), ...spec.projects.map((p) => names.network(p.name))];
    const { onEngine, taken } = await takenSubnets();
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
        const ipv4 = (onEngine[n] ?? []).find((p) => parseCidr(p.subnet) !== undefined);
        out[n] =
            planned !== undefined
                ? { create: { subnet: planned, ipRange: addressesIn(parseCidr(planned) as Cidr).ipRange, pool: formatCidr(pool) } }
                : ipv4 !== undefined
                  ? { existing: ipv4 }
                  : {};
    }
    return out;
}
