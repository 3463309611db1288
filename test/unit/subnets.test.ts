import { describe, expect, it } from "vitest";
import {
    addressesIn,
    capacity,
    Cidr,
    formatCidr,
    freeSubnets,
    isNetworkAddress,
    overlaps,
    parseCidr,
    planSubnets,
} from "../../components/subnets";

const c = (s: string): Cidr => {
    const parsed = parseCidr(s);
    if (!parsed) throw new Error(`bad CIDR in test: ${s}`);
    return parsed;
};

describe("parseCidr / formatCidr", () => {
    it.each([
        ["10.250.0.0/16", "10.250.0.0/16"],
        ["172.17.0.0/16", "172.17.0.0/16"],
        ["192.168.1.77/24", "192.168.1.0/24"],
        ["0.0.0.0/0", "0.0.0.0/0"],
        ["255.255.255.255/32", "255.255.255.255/32"],
    ])("%s reads as %s", (text, network) => {
        expect(formatCidr(c(text))).toBe(network);
    });

    it.each(["10.250.0.0", "10.250.0.0/33", "256.1.1.1/8", "fd00::/64", "", "10.250.0.0/16 x"])("refuses %j", (text) => {
        expect(parseCidr(text)).toBeUndefined();
    });

    it("tells a network address from one with host bits set", () => {
        expect(isNetworkAddress("10.250.0.0/16")).toBe(true);
        expect(isNetworkAddress("10.250.1.0/16")).toBe(false);
    });
});

describe("overlaps and capacity", () => {
    it("sees containment and partial overlap both ways, and adjacency as no overlap", () => {
        expect(overlaps(c("10.0.0.0/8"), c("10.250.3.0/24"))).toBe(true);
        expect(overlaps(c("10.250.3.0/24"), c("10.0.0.0/8"))).toBe(true);
        expect(overlaps(c("10.250.0.0/28"), c("10.250.0.16/28"))).toBe(false);
        expect(overlaps(c("172.17.0.0/16"), c("10.250.0.0/16"))).toBe(false);
    });

    it("counts the subnets of a size in a pool", () => {
        expect(capacity(c("10.250.0.0/16"), 28)).toBe(4096);
        expect(capacity(c("10.250.0.0/27"), 28)).toBe(2);
        expect(capacity(c("10.250.0.0/24"), 20)).toBe(0);
    });
});

describe("freeSubnets", () => {
    const pool = c("10.250.0.0/16");

    it("hands out aligned subnets in address order", () => {
        expect(freeSubnets(pool, 28, [], 3).map(formatCidr)).toEqual(["10.250.0.0/28", "10.250.0.16/28", "10.250.0.32/28"]);
    });

    it("skips every subnet that overlaps a taken range, whatever its size", () => {
        const taken = [c("10.250.0.16/28"), c("10.250.0.64/26"), c("192.168.0.0/16")];
        expect(freeSubnets(pool, 28, taken, 4).map(formatCidr)).toEqual([
            "10.250.0.0/28",
            "10.250.0.32/28",
            "10.250.0.48/28",
            "10.250.0.128/28",
        ]);
    });

    it("gives fewer when the pool runs out, and none when a taken range covers it", () => {
        expect(freeSubnets(c("10.250.0.0/27"), 28, [], 5)).toHaveLength(2);
        expect(freeSubnets(pool, 28, [c("10.0.0.0/8")], 5)).toEqual([]);
    });

    it("steps over large taken ranges at once: 100 subnets of a pool whose first half is taken", () => {
        const got = freeSubnets(pool, 28, [c("10.250.0.0/17")], 100);
        expect(got).toHaveLength(100);
        expect(formatCidr(got[0])).toBe("10.250.128.0/28");
    });
});

describe("planSubnets", () => {
    const pool = c("10.250.0.0/16");

    it("gives a subnet only to networks not on the engine, and counts what is needed and free", () => {
        const plan = planSubnets(["gw", "a", "b"], new Set(["a"]), [c("10.250.0.0/28")], pool, 28);
        expect(plan.subnets).toEqual({ gw: "10.250.0.16/28", b: "10.250.0.32/28" });
        expect(plan.needed).toBe(2);
        expect(plan.free).toBe(3);
    });

    it("reports fewer free than needed when the pool is too small", () => {
        const plan = planSubnets(["gw", "a", "b", "c"], new Set(), [c("10.250.0.16/28")], c("10.250.0.0/27"), 28);
        expect(plan.needed).toBe(4);
        expect(plan.free).toBe(1);
        expect(Object.keys(plan.subnets)).toEqual(["gw"]);
    });

    it("needs nothing when every network exists (a no-op run)", () => {
        expect(planSubnets(["gw", "a"], new Set(["gw", "a"]), [], pool, 28)).toEqual({ subnets: {}, needed: 0, free: 1 });
    });
});

describe("addressesIn", () => {
    it("fixes the dind container and the gateway at .2 and .3, and leaves the upper half to the engine", () => {
        expect(addressesIn(c("10.250.0.16/28"))).toEqual({ ipRange: "10.250.0.24/29", dind: "10.250.0.18", gateway: "10.250.0.19" });
        expect(addressesIn(c("10.250.1.0/29"))).toEqual({ ipRange: "10.250.1.4/30", dind: "10.250.1.2", gateway: "10.250.1.3" });
    });
});
