import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { renderOverride } from "../../components/override";

describe("renderOverride", () => {
    const args = { services: ["web", "db"], hostnames: ["b.project.localhost", "project.localhost", "a.project.localhost", "a.project.localhost"], gatewayAddress: "172.30.0.3" };

    it("points every project hostname at the gateway, for every service, deduplicated and sorted", () => {
        expect(parse(renderOverride(args))).toEqual({
            services: Object.fromEntries(
                ["db", "web"].map((s) => [s, { extra_hosts: ["a.project.localhost:172.30.0.3", "b.project.localhost:172.30.0.3", "project.localhost:172.30.0.3"] }]),
            ),
        });
    });

    it("is the same text whatever the input order (no spurious diffs)", () => {
        expect(renderOverride({ ...args, services: ["db", "web"], hostnames: [...args.hostnames].reverse() })).toBe(renderOverride(args));
    });

    it("is empty when no service can take it", () => {
        expect(renderOverride({ ...args, services: [] })).toBe("");
    });

    it("refuses a missing gateway address instead of silently dropping the names", () => {
        expect(() => renderOverride({ ...args, gatewayAddress: "" })).toThrow(/gateway has no address on this project's network/);
    });
});
