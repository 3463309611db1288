import { describe, expect, it } from "vitest";
import { PortModel } from "../../components/compose";
import { ProjectSpec } from "../../components/config";
import { duplicateHostnames, portsToRebind, projectRoutes, PublishedPorts } from "../../components/routes";

const tcp = (published: number, target = published, host_ip?: string): PortModel => ({
    target,
    published,
    protocol: "tcp",
    ...(host_ip ? { host_ip } : {}),
});
const spec = (over: Partial<ProjectSpec> = {}): ProjectSpec => ({
    name: "a",
    dir: "/p",
    composeFiles: ["/p/compose.yaml"],
    hostname: "a.project.localhost",
    port: undefined,
    env: {},
    preloadImages: [],
    daemonPort: undefined,
    routes: undefined,
    tcp: [],
    resources: {},
    trustCa: true,
    ...over,
});
const services: PublishedPorts = [
    ["web", [tcp(3000)]],
    ["api", [tcp(8000), tcp(8001)]],
    ["admin", [tcp(9000)]],
    ["db", [tcp(5432)]],
    ["worker", [{ target: 7000, protocol: "tcp" }]],
];
const K = "dind-compose:projects[0]";

describe("projectRoutes", () => {
    it("routes, by default, the main port at the hostname and every other service's first port at <service>.<hostname>", () => {
        const r = projectRoutes(spec({ tcp: [{ port: 5432, hostPort: 15432 }] }), K, services, 3000);
        expect(r.problems).toEqual([]);
        expect(r.routes).toEqual([
            { key: "a", project: "a", service: "web", hostname: "a.project.localhost", port: 3000 },
            { key: "a.api.8000", project: "a", service: "api", hostname: "api.a.project.localhost", port: 8000 },
            { key: "a.admin.9000", project: "a", service: "admin", hostname: "admin.a.project.localhost", port: 9000 },
        ]);
    });

    it("takes configured routes instead of the default ones; one at the project's hostname moves the main route", () => {
        const r = projectRoutes(
            spec({
                routes: [
                    { service: "api", port: 8001, hostname: "api.example.localhost" },
                    { service: "admin", port: undefined, hostname: "a.project.localhost" },
                ],
            }),
            K,
            services,
            3000,
        );
        expect(r.problems).toEqual([]);
        expect(r.routes).toEqual([
            { key: "a", project: "a", service: "admin", hostname: "a.project.localhost", port: 9000 },
            { key: "a.api.8001", project: "a", service: "api", hostname: "api.example.localhost", port: 8001 },
        ]);
    });

    it.each<[string, ProjectSpec["routes"], RegExp]>([
        [
            "an unknown service",
            [{ service: "apx", port: undefined, hostname: undefined }],
            /projects\[0\]\.routes\[0\]\.service "apx" is not a service of the project \(services: web, api, admin, db, worker\)/,
        ],
        [
            "a port the service does not publish",
            [{ service: "api", port: 9000, hostname: undefined }],
            /routes\[0\]\.port 9000: published by service "admin", not "api"; use one of "api"'s published ports \(8000, 8001\) or set service: admin/,
        ],
        [
            "a port no service publishes",
            [{ service: "api", port: 1234, hostname: undefined }],
            /routes\[0\]\.port 1234: no service publishes it/,
        ],
        [
            "a service that publishes nothing",
            [{ service: "worker", port: undefined, hostname: undefined }],
            /routes\[0\]: service "worker" publishes no TCP port/,
        ],
    ])("refuses a route to %s", (_t, routes, expected) => {
        const r = projectRoutes(spec({ routes }), K, services, 3000);
        expect(
            r.problems.some((p) => expected.test(p)),
            r.problems.join("\n"),
        ).toBe(true);
    });

    it("refuses a route at the project's hostname that contradicts its port", () => {
        const r = projectRoutes(
            spec({ port: 3000, routes: [{ service: "api", port: 8000, hostname: "a.project.localhost" }] }),
            K,
            services,
            3000,
        );
        expect(r.problems).toEqual([
            `${K}.routes[0] routes the project's own hostname a.project.localhost to port 8000, but ${K}.port is 3000; remove one of the two`,
        ]);
    });
});

describe("duplicateHostnames", () => {
    it("names both routes of a hostname routed twice, across projects, and the bare domain", () => {
        const problems = duplicateHostnames(
            [
                { key: "a.api.8000", project: "a", service: "api", hostname: "api.localhost", port: 8000 },
                { key: "b.api.8000", project: "b", service: "api", hostname: "api.localhost", port: 8000 },
                { key: "c.x.1", project: "c", service: "x", hostname: "project.localhost", port: 1 },
            ],
            "project.localhost",
        );
        expect(problems).toEqual([
            "hostname api.localhost is routed twice: to project a service api port 8000 and to project b service api port 8000; give one of them another hostname (dind-compose:projects[].routes[].hostname)",
            "hostname project.localhost of project c service x port 1 is the bare domain, which the gateway keeps for its index page; use a subdomain",
        ]);
    });
});

describe("portsToRebind", () => {
    it("drops the host address of services that bind one, keeping their other ports, once each", () => {
        expect(
            portsToRebind([
                ["web", [tcp(8088, 80, "127.0.0.1"), tcp(8443, 443, "0.0.0.0")]],
                ["v6", [tcp(9000, 9000, "::1"), tcp(9000, 9000, "127.0.0.1")]],
                ["plain", [tcp(3000), tcp(3001, 3001, "0.0.0.0")]],
            ]),
        ).toEqual({
            web: [
                { target: 80, published: 8088, protocol: "tcp" },
                { target: 443, published: 8443, protocol: "tcp" },
            ],
            v6: [{ target: 9000, published: 9000, protocol: "tcp" }],
        });
    });
});
