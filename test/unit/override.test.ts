import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { extraHostsNeeded, gatewayAliases, renderOverride } from "../../components/override";

const hostnames = ["b.project.localhost", "project.localhost", "a.project.localhost", "a.project.localhost"];

describe("gatewayAliases", () => {
    it("is every hostname with a dot (Docker's DNS forwards those), deduplicated and sorted", () => {
        expect(gatewayAliases(hostnames)).toEqual(["a.project.localhost", "b.project.localhost", "project.localhost"]);
        expect(gatewayAliases(["intranet", "a.intranet"])).toEqual(["a.intranet"]);
    });
});

describe("extraHostsNeeded", () => {
    it("is empty when DNS serves every service: dotted hostnames, no service on the default bridge", () => {
        expect(extraHostsNeeded({ services: ["web", "db"], bridgeServices: [], hostnames })).toEqual({});
    });

    it("gives a service on the inner default bridge every hostname, sorted and deduplicated", () => {
        expect(extraHostsNeeded({ services: ["web", "db"], bridgeServices: ["db"], hostnames })).toEqual({
            db: ["a.project.localhost", "b.project.localhost", "project.localhost"],
        });
    });

    it("gives every service the single-label hostnames, which DNS does not forward", () => {
        expect(extraHostsNeeded({ services: ["web", "db"], bridgeServices: [], hostnames: ["intranet", "a.intranet", "wiki"] })).toEqual({
            db: ["intranet", "wiki"],
            web: ["intranet", "wiki"],
        });
    });

    it("leaves out services that cannot take extra_hosts (they are not in services)", () => {
        expect(extraHostsNeeded({ services: [], bridgeServices: [], hostnames: ["intranet"] })).toEqual({});
    });
});

describe("renderOverride", () => {
    const needs = { web: ["a.project.localhost", "project.localhost"], db: ["a.project.localhost"] };

    it("points each service's names at the gateway's address, services sorted", () => {
        expect(parse(renderOverride(needs, "172.30.0.3"))).toEqual({
            services: {
                db: { extra_hosts: ["a.project.localhost:172.30.0.3"] },
                web: { extra_hosts: ["a.project.localhost:172.30.0.3", "project.localhost:172.30.0.3"] },
            },
        });
        expect(Object.keys(parse(renderOverride(needs, "172.30.0.3")).services)).toEqual(["db", "web"]);
    });

    it("is empty when no service needs an entry, even without a gateway address", () => {
        expect(renderOverride({}, "")).toBe("");
    });

    it("replaces the port lists of services that bind a host address (the !override tag), needing no gateway address for that", () => {
        const text = renderOverride({}, "", { web: [{ target: 80, published: 8088, protocol: "tcp" }, { target: 9, protocol: "udp" }] });
        expect(text).toMatch(/^ {4}ports: !override$/m);
        expect(parse(text, { customTags: [{ tag: "!override", collection: "seq", resolve: (v: unknown) => v }] })).toEqual({
            services: { web: { ports: [{ target: 80, published: "8088", protocol: "tcp" }, { target: 9, protocol: "udp" }] } },
        });
        const both = parse(renderOverride(needs, "172.30.0.3", { web: [{ target: 80, published: 8088, protocol: "tcp" }] }), { customTags: [{ tag: "!override", collection: "seq", resolve: (v: unknown) => v }] });
        expect(both.services.web).toEqual({ extra_hosts: ["a.project.localhost:172.30.0.3", "project.localhost:172.30.0.3"], ports: [{ target: 80, published: "8088", protocol: "tcp" }] });
    });

    it("refuses a missing gateway address instead of silently dropping the names", () => {
        expect(() => renderOverride(needs, "")).toThrow(/gateway has no address on this project's network/);
    });
});
