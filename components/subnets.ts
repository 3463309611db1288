// Addresses for the stack's networks, carved from one range instead of the
// engine's default address pools, which run out after about 30 bridge networks
// (one per project). Pure: the engine's networks and the host's routes are
// passed in (networkPlan.ts reads them).

/** An IPv4 network: its first address as an unsigned 32-bit number, and its prefix length. */
export interface Cidr {
    base: number;
    prefix: number;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Parses "a.b.c.d/n" (IPv4); undefined for anything else, IPv6 included. The base is the network address (host bits cleared). */
export function parseCidr(s: string): Cidr | undefined {
    const m = CIDR.exec(s.trim());
    if (!m) return undefined;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix > 32) return undefined;
    const address = octets.reduce((a, o) => a * 256 + o, 0);
    return { base: address - (address % size(prefix)), prefix };
}

/** Whether the address part of "a.b.c.d/n" is the network address itself (no host bits set). */
export function isNetworkAddress(s: string): boolean {
    const c = parseCidr(s);
    return c !== undefined && formatCidr(c) === s.trim();
}

const size = (prefix: number): number => 2 ** (32 - prefix);

const formatAddress = (n: number): string => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

export function formatCidr(c: Cidr): string {
    return `${formatAddress(c.base)}/${c.prefix}`;
}

/** Fixed addresses of the stack's containers on a project network, and the range left to the engine for any other. */
export interface NetworkAddresses {
    /** `--ip-range`: the upper half of the subnet, where the engine places containers without a fixed address. */
    ipRange: string;
    /** The project's dind container (the gateway's upstream). */
    dind: string;
    /** The gateway (what children's extra_hosts point at). */
    gateway: string;
}

/**
 * Fixed, so that an engine restart, which starts the containers again in any order, gives each its
 * address again, and the gateway's upstream addresses and the children's hosts entries stay true.
 * .1 is the bridge's own; the others that join (a TCP proxy, containers joined by hand) get the
 * upper half, so they never take a fixed one first. Needs a /29 or smaller prefix.
 */
export function addressesIn(subnet: Cidr): NetworkAddresses {
    return {
        ipRange: formatCidr({ base: subnet.base + size(subnet.prefix + 1), prefix: subnet.prefix + 1 }),
        dind: formatAddress(subnet.base + 2),
        gateway: formatAddress(subnet.base + 3),
    };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
    return a.base < b.base + size(b.prefix) && b.base < a.base + size(a.prefix);
}

/** How many networks of `subnetPrefix` the pool holds in all. */
export function capacity(pool: Cidr, subnetPrefix: number): number {
    return subnetPrefix < pool.prefix ? 0 : 2 ** (subnetPrefix - pool.prefix);
}

/**
 * The first `count` subnets of `subnetPrefix` in `pool` that overlap nothing in `taken`, in address
 * order; fewer when the pool has no more room. Skips a whole taken range at a time, so a pool of
 * 4,096 subnets with many taken costs one step per taken range, not per subnet.
 */
export function freeSubnets(pool: Cidr, subnetPrefix: number, taken: Cidr[], count: number): Cidr[] {
    const step = size(subnetPrefix);
    const end = pool.base + size(pool.prefix);
    const inPool = taken.filter((t) => overlaps(t, pool)).sort((a, b) => a.base - b.base);
    const out: Cidr[] = [];
    let at = pool.base;
    while (out.length < count && at + step <= end) {
        const candidate = { base: at, prefix: subnetPrefix };
        const blocking = inPool.find((t) => overlaps(t, candidate));
        if (blocking === undefined) {
            out.push(candidate);
            at += step;
        } else {
            const blockEnd = blocking.base + size(blocking.prefix);
            at = Math.ceil(blockEnd / step) * step; // the next aligned subnet after it
        }
    }
    return out;
}

export interface SubnetPlan {
    /** Network name -> the subnet to create it with; absent for networks that exist already (they keep theirs). */
    subnets: Record<string, string>;
    /** Networks of the stack that do not exist yet. */
    needed: number;
    /** Free subnets in the pool (at most `needed` + 1 are counted, enough to say whether it fits). */
    free: number;
}

/**
 * Which subnet each network of the stack that does not exist yet gets. Networks already on the
 * engine keep whatever subnet they have (also one from the default pools, made by an earlier
 * version), so changing the pool never replaces a network and the containers on it.
 */
export function planSubnets(
    networks: string[],
    existing: ReadonlySet<string>,
    taken: Cidr[],
    pool: Cidr,
    subnetPrefix: number,
): SubnetPlan {
    const missing = networks.filter((n) => !existing.has(n));
    const free = freeSubnets(pool, subnetPrefix, taken, missing.length + 1);
    const subnets: Record<string, string> = {};
    missing.forEach((n, i) => {
        if (free[i]) subnets[n] = formatCidr(free[i]);
    });
    return { subnets, needed: missing.length, free: free.length };
}
