// planNetworks (components/networkPlan.ts) against an in-memory engine (fakeEngine.ts): which
// networks are made from the pool, what an existing one reports, what the engine's host reaches.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, type EnvironmentSpec } from "../../components/config";
import { StackNames } from "../../components/names";
import { planNetworks } from "../../components/networkPlan";
import { setEngine } from "../../components/providers/engine";
import { parseCidr } from "../../components/subnets";
import { FakeEngine } from "./fakeEngine";

let fake: FakeEngine;
beforeEach(() => {
    fake = new FakeEngine();
    setEngine(fake);
});
afterEach(() => setEngine(undefined));

const names = new StackNames("dind-compose", "dev");
const specOf = (projects: string[], pool = "10.250.0.0/24"): EnvironmentSpec =>
    ({ projects: projects.map((name) => ({ name })), network: { pool: parseCidr(pool), subnetSize: 28 } }) as unknown as EnvironmentSpec;

describe("planNetworks", () => {
    it("gives new networks subnets from the pool, and reads an existing network's subnet and range from the engine", async () => {
        await fake.createNetwork(names.network("a"), {}, { subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29" });
        await fake.createNetwork(names.network("b"), {}, { subnet: "172.18.0.0/16" }); // made before network.pool
        const plan = await planNetworks(specOf(["a", "b", "c"]), names);
        expect(plan[names.network("a")]).toEqual({ existing: { subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29" } });
        expect(plan[names.network("b")]).toEqual({ existing: { subnet: "172.18.0.0/16" } });
        expect(plan[names.gatewayNetwork()].create).toEqual({ subnet: "10.250.0.16/28", ipRange: "10.250.0.24/29", pool: "10.250.0.0/24" });
        expect(plan[names.network("c")].create?.subnet).toBe("10.250.0.32/28");
    });

    it("leaves out what the engine's host reaches, and refuses, naming the key, when the pool has no room left", async () => {
        fake.hostRoutes = ["10.250.0.0/27"];
        const plan = await planNetworks(specOf(["a"], "10.250.0.0/26"), names);
        expect(Object.values(plan).map((p) => p.create?.subnet)).toEqual(["10.250.0.32/28", "10.250.0.48/28"]);
        await expect(planNetworks(specOf(["a", "b"], "10.250.0.0/26"), names)).rejects.toThrow(ConfigError);
        await expect(planNetworks(specOf(["a", "b"], "10.250.0.0/26"), names)).rejects.toThrow(
            /dind-compose:network\.pool 10\.250\.0\.0\/26 has room for 2/,
        );
    });
});
