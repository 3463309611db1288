import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULTS, FileChecks, parseConfig, RawConfig } from "../../components/config";

const root = "/repo";
const files = (dirs: string[], fileList: string[]): FileChecks => ({
    isDirectory: (p) => dirs.includes(p),
    isFile: (p) => fileList.includes(p),
});
const fs = files(
    ["/repo/examples/a", "/repo/examples/b", "/abs/c"],
    ["/repo/examples/a/compose.yaml", "/repo/examples/b/docker-compose.yml", "/repo/examples/b/extra.yaml", "/abs/c/compose.yml"],
);
const a = { name: "a", path: "examples/a" };
const b = { name: "b", path: "examples/b" };

function problemsOf(raw: RawConfig): string[] {
    try {
        parseConfig(raw, root, fs);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    throw new Error("expected a ConfigError, got a valid config");
}

describe("parseConfig: valid input", () => {
    it("applies every default", () => {
        const spec = parseConfig({ projects: [a] }, root, fs);
        expect(spec.domain).toBe(DEFAULTS.domain);
        expect(spec.gateway).toEqual({ bindAddress: "127.0.0.1", httpPort: 80, httpsPort: 443, tls: undefined });
        expect(spec.images).toEqual({ dind: "docker:29-dind", nginx: "nginx:1.29-alpine" });
        expect(spec.dind).toEqual({ security: "privileged", readyTimeoutSeconds: 60 });
        expect(spec.projects).toEqual([
            {
                name: "a",
                dir: "/repo/examples/a",
                composeFiles: ["/repo/examples/a/compose.yaml"],
                hostname: "a.project.localhost",
                port: undefined,
                env: {},
                preloadImages: [],
                daemonPort: undefined,
                routes: undefined,
                tcp: [],
                resources: {},
                trustCa: true,
            },
        ]);
        expect(spec.network).toEqual({ pool: { base: (10 * 256 + 250) * 65536, prefix: 16 }, subnetSize: 28 });
        expect(spec.tls.caDir).toBe(path.join(os.homedir(), ".local/share/dind-compose/ca"));
    });

    it("takes tls.caDir with ~ for the home directory or relative to the project, and trustCa per project", () => {
        const home = { ...fs, homeDir: "/home/me" };
        expect(parseConfig({ projects: [a], tls: { caDir: "~/ca" } }, root, home).tls.caDir).toBe("/home/me/ca");
        expect(parseConfig({ projects: [a], tls: { caDir: "certs/ca" } }, root, home).tls.caDir).toBe("/repo/certs/ca");
        const spec = parseConfig(
            {
                projects: [
                    { ...a, trustCa: false },
                    { ...b, trustCa: "true" },
                ],
            },
            root,
            home,
        );
        expect(spec.projects.map((x) => x.trustCa)).toEqual([false, true]);
    });

    it("finds the compose file docker compose would pick, and honours explicit lists in order", () => {
        const spec = parseConfig(
            { projects: [b, { name: "b2", path: "examples/b", composeFiles: ["docker-compose.yml", "extra.yaml"] }] },
            root,
            fs,
        );
        expect(spec.projects[0].composeFiles).toEqual(["/repo/examples/b/docker-compose.yml"]);
        expect(spec.projects[1].composeFiles).toEqual(["/repo/examples/b/docker-compose.yml", "/repo/examples/b/extra.yaml"]);
    });

    it("takes absolute paths, custom domain, hostnames, ports and env", () => {
        const spec = parseConfig(
            {
                domain: "dev.localhost",
                gateway: { bindAddress: "127.0.0.2", httpPort: "8080", httpsPort: 8443 },
                dind: { security: "capabilities", readyTimeoutSeconds: 5 },
                projects: [
                    {
                        name: "c",
                        path: "/abs/c",
                        hostname: "shop.dev.localhost",
                        port: 3000,
                        env: { TAG: "1", DEBUG: true },
                        preloadImages: ["busybox:1.36"],
                        daemonPort: 0,
                    },
                ],
            },
            root,
            fs,
        );
        expect(spec.gateway).toEqual({ bindAddress: "127.0.0.2", httpPort: 8080, httpsPort: 8443, tls: undefined });
        expect(spec.dind.security).toBe("capabilities");
        expect(spec.projects[0]).toMatchObject({
            dir: "/abs/c",
            hostname: "shop.dev.localhost",
            port: 3000,
            env: { TAG: "1", DEBUG: "true" },
            preloadImages: ["busybox:1.36"],
            daemonPort: 0,
        });
    });
});

describe("parseConfig: every bad input names the key, the value and the fix", () => {
    describe.each<[string, RawConfig, RegExp]>([
        ["missing project list", {}, /dind-compose:projects is missing; set it to a non-empty list/],
        ["empty project list", { projects: [] }, /dind-compose:projects must be a non-empty list of projects, got \[\]/],
        ["project list not a list", { projects: "a" }, /dind-compose:projects must be a non-empty list of projects, got "a"/],
        [
            "name not a DNS label",
            { projects: [{ ...a, name: "A_b" }] },
            /dind-compose:projects\[0\]\.name "A_b" is not a DNS label; use 1-63 lowercase letters/,
        ],
        ["name missing", { projects: [{ path: "examples/a" }] }, /dind-compose:projects\[0\]\.name is missing/],
        ["path missing", { projects: [{ name: "a" }] }, /dind-compose:projects\[0\]\.path is missing; set it to the project's directory/],
        [
            "path does not exist",
            { projects: [{ name: "a", path: "nope" }] },
            /dind-compose:projects\[0\]\.path "nope": directory \/repo\/nope does not exist/,
        ],
        [
            "no compose file",
            { projects: [{ name: "a", path: "/abs/c", composeFiles: ["missing.yaml"] }] },
            /composeFiles\[0\] "missing.yaml": file \/abs\/c\/missing.yaml does not exist/,
        ],
        ["empty compose file list", { projects: [{ ...a, composeFiles: [] }] }, /composeFiles is an empty list/],
        [
            "duplicate names",
            { projects: [a, { ...b, name: "a" }] },
            /projects\[1\]\.name "a" is already used by dind-compose:projects\[0\]/,
        ],
        [
            "duplicate hostnames",
            { projects: [a, { ...b, hostname: "a.project.localhost" }] },
            /projects\[1\]\.hostname "a.project.localhost" is already used/,
        ],
        [
            "hostname is the bare domain",
            { projects: [{ ...a, hostname: "project.localhost" }] },
            /is the bare domain, which the gateway keeps for its index page/,
        ],
        [
            "port out of range",
            { projects: [{ ...a, port: 70000 }] },
            /projects\[0\]\.port 70000 is not a port number; use an integer from 1 to 65535/,
        ],
        ["port not a number", { projects: [{ ...a, port: "http" }] }, /projects\[0\]\.port "http" is not a port number/],
        ["gateway port out of range", { projects: [a], gateway: { httpPort: 0 } }, /dind-compose:gateway\.httpPort 0 is not a port number/],
        [
            "same http and https port",
            { projects: [a], gateway: { httpPort: 8080, httpsPort: 8080 } },
            /httpPort and dind-compose:gateway\.httpsPort are both 8080/,
        ],
        [
            "bind address not an IPv4 address",
            { projects: [a], gateway: { bindAddress: "localhost" } },
            /gateway\.bindAddress "localhost" is not an IPv4 address/,
        ],
        [
            "unknown security mode",
            { projects: [a], dind: { security: "root" } },
            /dind-compose:dind\.security "root" is not a security mode; use one of privileged, capabilities, sysbox/,
        ],
        ["timeout out of range", { projects: [a], dind: { readyTimeoutSeconds: 0 } }, /readyTimeoutSeconds 0 is not a timeout/],
        ["unknown key (typo)", { projects: [{ ...a, hostName: "x" }] }, /dind-compose:projects\[0\]\.hostName is not a known key/],
        [
            "bad image reference",
            { projects: [a], images: { dind: "Docker:29 dind" } },
            /dind-compose:images\.dind "Docker:29 dind" is not an image reference/,
        ],
        ["bad env variable name", { projects: [{ ...a, env: { "1X": "v" } }] }, /env key "1X" is not a variable name/],
        [
            "certificate without its key",
            { projects: [a], gateway: { certFile: "/abs/c/compose.yml" } },
            /certFile and keyFile go together \(got only certFile\)/,
        ],
        [
            "certificate file missing",
            { projects: [a], gateway: { certFile: "tls/cert.pem", keyFile: "/abs/c/compose.yml" } },
            /gateway\.certFile "tls\/cert.pem": file \/repo\/tls\/cert.pem does not exist/,
        ],
        ["gateway not an object", { projects: [a], gateway: 80 }, /dind-compose:gateway must be an object, got 80/],
        [
            "unknown key under the namespace (typo)",
            { keys: ["projects", "gatway"], projects: [a] },
            /dind-compose:gatway is not a known key \(allowed: dind-compose:projects, .*dind-compose:gateway/,
        ],
        [
            "routes not a list",
            { projects: [{ ...a, routes: { service: "api" } }] },
            /projects\[0\]\.routes must be a list of routes, got \{"service":"api"\}/,
        ],
        ["route without a service", { projects: [{ ...a, routes: [{ port: 8000 }] }] }, /projects\[0\]\.routes\[0\]\.service is missing/],
        [
            "route hostname not a DNS name",
            { projects: [{ ...a, routes: [{ service: "api", hostname: "API_x" }] }] },
            /routes\[0\]\.hostname "API_x" is not a DNS name/,
        ],
        [
            "route with an unknown key",
            { projects: [{ ...a, routes: [{ service: "api", host: "x" }] }] },
            /routes\[0\]\.host is not a known key \(allowed: service, port, hostname\)/,
        ],
        [
            "tcp without hostPort",
            { projects: [{ ...a, tcp: [{ port: 5432 }] }] },
            /projects\[0\]\.tcp\[0\]\.hostPort is missing; set it to the port to open on the host/,
        ],
        [
            "tcp host port out of range",
            { projects: [{ ...a, tcp: [{ port: 5432, hostPort: 70000 }] }] },
            /tcp\[0\]\.hostPort 70000 is not a port number/,
        ],
        [
            "tcp host port taken twice across projects",
            {
                projects: [
                    { ...a, tcp: [{ port: 5432, hostPort: 15432 }] },
                    { ...b, tcp: [{ port: 5432, hostPort: 15432 }] },
                ],
            },
            /projects\[1\]\.tcp\[0\]\.hostPort 15432: host port already taken by dind-compose:projects\[0\]\.tcp\[0\]\.hostPort; give each its own hostPort/,
        ],
        [
            "tcp inner port opened twice",
            {
                projects: [
                    {
                        ...a,
                        tcp: [
                            { port: 5432, hostPort: 15432 },
                            { port: 5432, hostPort: 15433 },
                        ],
                    },
                ],
            },
            /tcp\[1\]\.port 5432: inner port already taken by/,
        ],
        ["tls not an object", { projects: [a], tls: "~/ca" }, /dind-compose:tls must be an object, got "~\/ca"/],
        [
            "tls with an unknown key",
            { projects: [a], tls: { caFile: "x" } },
            /dind-compose:tls\.caFile is not a known key \(allowed: caDir\)/,
        ],
        ["caDir empty", { projects: [a], tls: { caDir: "" } }, /dind-compose:tls\.caDir must be a non-empty string, got ""/],
        [
            "caDir is a file",
            { projects: [a], tls: { caDir: "/abs/c/compose.yml" } },
            /dind-compose:tls\.caDir "\/abs\/c\/compose.yml": \/abs\/c\/compose.yml is a file, not a directory/,
        ],
        [
            "trustCa not a boolean",
            { projects: [{ ...a, trustCa: "no" }] },
            /dind-compose:projects\[0\]\.trustCa "no" is not a boolean; use true or false/,
        ],
        [
            "tcp host port is the gateway's",
            { projects: [{ ...a, tcp: [{ port: 80, hostPort: 8080 }] }], gateway: { httpPort: 8080 } },
            /tcp\[0\]\.hostPort 8080 is dind-compose:gateway\.httpPort too/,
        ],
        [
            "network pool that is not a range",
            { projects: [a], network: { pool: "10.250.0.0" } },
            /dind-compose:network\.pool "10\.250\.0\.0" is not an IPv4 range from \/8 to \/29; use one such as 10\.250\.0\.0\/16/,
        ],
        [
            "network pool with host bits",
            { projects: [a], network: { pool: "10.250.7.0/16" } },
            /network\.pool "10\.250\.7\.0\/16" has host bits set; use the network address, "10\.250\.0\.0\/16"/,
        ],
        [
            "network subnetSize out of range",
            { projects: [a], network: { subnetSize: 30 } },
            /network\.subnetSize 30 is not a prefix length from 16 to 29/,
        ],
        [
            "network subnetSize wider than the pool",
            { projects: [a], network: { pool: "10.250.0.0/24", subnetSize: 20 } },
            /network\.subnetSize 20 is wider than dind-compose:network\.pool \/24/,
        ],
        [
            "network unknown key",
            { projects: [a], network: { range: "10.0.0.0/8" } },
            /dind-compose:network\.range is not a known key \(allowed: pool, subnetSize\)/,
        ],
        [
            "resources cpus not a number",
            { projects: [{ ...a, resources: { cpus: "two" } }] },
            /projects\[0\]\.resources\.cpus "two" is not a number of CPUs; use a number such as 0\.5, 1 or 2/,
        ],
        [
            "resources memory without a number",
            { projects: [{ ...a, resources: { memory: "lots" } }] },
            /projects\[0\]\.resources\.memory "lots" is not an amount of memory; use a number of bytes or one with a unit, such as 512m or 2g/,
        ],
        [
            "resources memory too small for a daemon",
            { projects: [{ ...a, resources: { memory: "16m" } }] },
            /resources\.memory "16m" is less than 64m, too little for the project's own daemon/,
        ],
        [
            "resources unknown key",
            { projects: [{ ...a, resources: { disk: "10g" } }] },
            /projects\[0\]\.resources\.disk is not a known key \(allowed: cpus, memory\)/,
        ],
        [
            "stack-wide resources bad",
            { projects: [a], dind: { resources: { cpus: 0 } } },
            /dind-compose:dind\.resources\.cpus 0 is not a number of CPUs/,
        ],
    ])("%s", (_title, raw, expected) => {
        it("is rejected with a message that says how to fix it", () => {
            const problems = problemsOf(raw);
            expect(
                problems.some((p) => expected.test(p)),
                problems.join("\n"),
            ).toBe(true);
        });
    });

    it("reads resources with units, and fills a project's unset ones from dind.resources", () => {
        const spec = parseConfig(
            {
                dind: { resources: { cpus: 1, memory: "1g" } },
                projects: [
                    { ...a, resources: { memory: "512m" } },
                    b,
                    { name: "c", path: "/abs/c", resources: { cpus: "0.5", memory: 268435456 } },
                ],
            },
            root,
            fs,
        );
        expect(spec.projects.map((p) => p.resources)).toEqual([
            { cpus: 1, memory: 512 * 1024 ** 2 },
            { cpus: 1, memory: 1024 ** 3 },
            { cpus: 0.5, memory: 256 * 1024 ** 2 },
        ]);
    });

    it("takes a network pool and subnet size", () => {
        const spec = parseConfig({ projects: [a], network: { pool: "192.168.240.0/20", subnetSize: 29 } }, root, fs);
        expect(spec.network).toEqual({ pool: { base: (192 * 256 + 168) * 65536 + 240 * 256, prefix: 20 }, subnetSize: 29 });
    });

    it("takes routes and tcp ports as given, and every key of the namespace it knows", () => {
        const spec = parseConfig(
            {
                keys: ["projects", "domain", "gateway", "images", "dind", "network", "tls"],
                projects: [
                    {
                        ...a,
                        routes: [
                            { service: "api", port: 8000 },
                            { service: "admin", hostname: "admin.example.localhost" },
                        ],
                        tcp: [{ port: 5432, hostPort: "15432" }],
                    },
                ],
            },
            root,
            fs,
        );
        expect(spec.projects[0].routes).toEqual([
            { service: "api", port: 8000, hostname: undefined },
            { service: "admin", port: undefined, hostname: "admin.example.localhost" },
        ]);
        expect(spec.projects[0].tcp).toEqual([{ port: 5432, hostPort: 15432 }]);
    });

    it("reports every problem at once", () => {
        const problems = problemsOf({ domain: "Bad Domain", projects: [{ name: "A" }, { name: "b", path: "nope", port: -1 }] });
        expect(problems.length).toBeGreaterThanOrEqual(4);
    });

    it("says in the error that nothing was created", () => {
        expect(() => parseConfig({ projects: [] }, root, fs)).toThrow(/nothing was created or changed/);
    });
});

describe("parseConfig: dind-compose:engine", () => {
    it("is the docker engine when absent", () => {
        expect(parseConfig({ projects: [a] }, root, fs).engine).toEqual({ kind: "docker" });
    });
    it("kubernetes: every default, the namespace named after the stack", () => {
        expect(parseConfig({ projects: [a], engine: { kind: "kubernetes" } }, root, fs, "Feature_X").engine).toEqual({
            kind: "kubernetes",
            context: undefined,
            namespace: "dind-compose-feature-x",
            storageClass: undefined,
            gatewayService: "NodePort",
            ingressClass: undefined,
        });
    });
    it("kubernetes: the keys given", () => {
        const raw = {
            kind: "kubernetes",
            context: "ci",
            namespace: "team-a",
            storageClass: "fast",
            gatewayService: "ClusterIP",
            ingressClass: "nginx",
        };
        expect(parseConfig({ projects: [a], engine: raw }, root, fs).engine).toEqual({ ...raw });
    });
    it("names the key, the value and the fix for bad input", () => {
        expect(problemsOf({ projects: [a], engine: { kind: "swarm" } })).toEqual([
            'dind-compose:engine.kind "swarm" is not an engine; use docker (the default) or kubernetes',
        ]);
        const problems = problemsOf({
            projects: [a],
            engine: { kind: "kubernetes", namespace: "Team_A", context: "", gatewayService: "Ingress", zone: 1 },
        });
        expect(problems).toHaveLength(4);
        expect(problems.join("\n")).toContain("dind-compose:engine.zone");
        expect(problems.join("\n")).toContain('dind-compose:engine.namespace "Team_A"');
        expect(problems.join("\n")).toContain("lowercase letters, digits and '-'");
        expect(problems.join("\n")).toContain('dind-compose:engine.context ""');
        expect(problems.join("\n")).toContain('dind-compose:engine.gatewayService "Ingress" is not a Service type');
    });
    it("docker takes no other key", () => {
        expect(problemsOf({ projects: [a], engine: { kind: "docker", namespace: "x" } })[0]).toContain("dind-compose:engine.namespace");
    });
});
