// The shape of the resource graph, under Pulumi mocks (no engine, no Docker):
// names, labels, parents, mounts, networks and the wiring between components.
// Behaviour is proven by the integration tests against the real engine.
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { EnvironmentSpec } from "../../components/config";
import type { Environment as EnvironmentClass, EnvironmentArgs, LoadedProject } from "../../components/environment";
import type { NetworkPlan } from "../../components/networkPlan";

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}
const registered: Registered[] = [];

let Environment: typeof EnvironmentClass;
let DockerPlatform: typeof import("../../components/docker/platform").DockerPlatform;

/** The environment's arguments as before the platform seam: the Docker engine's, with its network plan. */
function onDocker(a: Omit<EnvironmentArgs, "platform"> & { networks: Record<string, NetworkPlan> }): EnvironmentArgs {
    const { networks, ...rest } = a;
    return { ...rest, platform: new DockerPlatform(rest, networks) };
}

beforeAll(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                const outs: Record<string, unknown> = { ...args.inputs };
                if (args.type.endsWith("docker:Container")) {
                    const nets = (args.inputs.networks as { name: string }[]).map((n) => n.name);
                    outs.containerId = `id-${args.inputs.name}`;
                    outs.ipAddresses = Object.fromEntries(nets.map((n, i) => [n, `172.30.${i}.2`]));
                    outs.boundPorts = {};
                }
                if (args.type.endsWith("compose:Stack")) outs.services = { web: "running" };
                if (args.type.endsWith("tls:GatewayCertificate")) Object.assign(outs, { cert: "CERT", key: "KEY" });
                return { id: `${args.name}-id`, state: outs };
            },
            call: () => ({}),
        },
        "dind-compose",
        "test",
    );
    ({ Environment } = await import("../../components/environment"));
    ({ DockerPlatform } = await import("../../components/docker/platform"));
});

const promiseOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

const spec: EnvironmentSpec = {
    domain: "project.localhost",
    network: { pool: { base: 0x0afa0000, prefix: 16 }, subnetSize: 28 },
    tls: { caDir: "/home/me/.local/share/dind-compose/ca" },
    gateway: { bindAddress: "127.0.0.1", httpPort: 8080, httpsPort: 8443, tls: undefined },
    images: { dind: "docker:29-dind", nginx: "nginx:1.29-alpine" },
    dind: { security: "capabilities", readyTimeoutSeconds: 30 },
    files: "auto",
    engine: { kind: "docker" },
    projects: ["a", "b"].map((name) => ({
        name,
        dir: `/src/${name}`,
        composeFiles: [`/src/${name}/compose.yaml`],
        hostname: `${name}.project.localhost`,
        port: undefined,
        env: {},
        preloadImages: [],
        daemonPort: name === "a" ? 0 : undefined,
        routes: undefined,
        tcp: [],
        resources: name === "a" ? { cpus: 1, memory: 512 * 1024 ** 2 } : {},
        trustCa: name === "a",
    })),
};
const ca = {
    dir: "/home/me/ca",
    keyId: "k1",
    cert: "CA PEM",
    shareFiles: [
        { name: "ca.pem", source: "/home/me/ca/share/ca.pem", sha256: "d1" },
        { name: "bundle.pem", source: "/home/me/ca/share/bundle.pem", sha256: "d2" },
    ],
};
const loaded: Record<string, LoadedProject> = {
    a: {
        services: ["web", "db"],
        bridgeServices: [],
        routes: [{ key: "a", project: "a", service: "web", hostname: "a.project.localhost", port: 3000 }],
        rebindPorts: {},
        mountRoots: ["/src/a", "/src/shared"],
        model: { "services.web.image": "x" },
        buildFiles: {},
        sourceFiles: {},
        caVariables: { web: [], db: ["SSL_CERT_FILE"] },
    },
    b: {
        services: ["web", "db"],
        bridgeServices: ["db"],
        routes: [{ key: "b", project: "b", service: "web", hostname: "b.project.localhost", port: 80 }],
        rebindPorts: {},
        mountRoots: ["/src/b"],
        model: { "services.web.image": "y" },
        buildFiles: {},
        sourceFiles: {},
        caVariables: { web: [], db: ["SSL_CERT_FILE"] },
    },
};

describe("Environment resource graph", () => {
    let env: EnvironmentClass;
    beforeAll(async () => {
        env = new Environment(
            "env",
            onDocker({
                spec,
                loaded,
                pulumiProject: "dind-compose",
                stack: "test",
                userTls: undefined,
                ca,
                networks: {},
                sourceTrees: undefined,
            }),
        );
        await promiseOf(env.services);
    });

    const ofType = (suffix: string) => registered.filter((r) => r.type.endsWith(suffix));
    const byName = (name: string) => {
        const r = registered.find((x) => x.inputs.name === name);
        expect(r, `no resource named ${name}`).toBeDefined();
        return r as Registered;
    };

    it("creates per project a cert volume, a data volume, a network, a dind container and a compose stack", () => {
        expect(
            ofType("docker:Volume")
                .map((r) => r.inputs.name)
                .sort(),
        ).toEqual(["dind-compose-test-a-certs", "dind-compose-test-a-data", "dind-compose-test-b-certs", "dind-compose-test-b-data"]);
        expect(
            ofType("docker:Network")
                .map((r) => r.inputs.name)
                .sort(),
        ).toEqual(["dind-compose-test-a", "dind-compose-test-b", "dind-compose-test-gateway-net"]);
        expect(ofType("compose:Stack")).toHaveLength(2);
        expect(ofType("docker:Container")).toHaveLength(3); // two daemons and the gateway
        expect(ofType("docker:Network")).toHaveLength(3); // one per project and the gateway's own
    });

    it("writes the dind containers' addresses into the gateway for its keepalive pools, by project, network and routed port", () => {
        const [upstreams] = ofType("gateway:Upstreams");
        expect(upstreams.name).toBe("env-gateway-upstreams");
        expect(upstreams.inputs.gateway).toBe("dind-compose-test-gateway");
        expect(upstreams.inputs.gatewayId).toBe("env-gateway-nginx-id");
        expect(upstreams.inputs.targets).toEqual([
            { project: "a", daemonId: "id-dind-compose-test-a-dind", network: "dind-compose-test-a", port: 3000 },
            { project: "b", daemonId: "id-dind-compose-test-b-dind", network: "dind-compose-test-b", port: 80 },
        ]);
        expect(ofType("gateway:Upstreams")).toHaveLength(1);
    });

    it("labels every engine object with the stack", () => {
        for (const r of registered.filter((x) => x.type.startsWith("pulumi-nodejs:docker"))) {
            expect(r.inputs.labels, r.name).toMatchObject({ "dind-compose.stack": "dind-compose/test" });
        }
    });

    it("mounts the volumes and every mount root at the same path in the dind container, and copies the user CA's share files into it", () => {
        const dind = byName("dind-compose-test-a-dind");
        expect(dind.inputs.mounts).toEqual([
            { type: "volume", source: "dind-compose-test-a-certs", target: "/certs" },
            { type: "volume", source: "dind-compose-test-a-data", target: "/var/lib/docker" },
            { type: "bind", source: "/src/a", target: "/src/a" },
            { type: "bind", source: "/src/shared", target: "/src/shared" },
        ]);
        const caFiles = [
            { path: "/etc/dind-compose/ca/ca.pem", source: "/home/me/ca/share/ca.pem", sha256: "d1" },
            { path: "/etc/dind-compose/ca/bundle.pem", source: "/home/me/ca/share/bundle.pem", sha256: "d2" },
        ];
        expect(dind.inputs.hostFiles).toEqual(caFiles);
        // b does not give its services the CA (trustCa: false), and holds the files all the same: toggling it changes no container.
        expect(byName("dind-compose-test-b-dind").inputs.hostFiles).toEqual(caFiles);
        expect(dind.inputs.env).toMatchObject({ DOCKER_TLS_CERTDIR: "/certs" });
        expect(String((dind.inputs.env as Record<string, string>).DOCKER_TLS_SAN)).toContain("DNS:a");
        expect(dind.inputs.securityArgs).toContain("--cap-drop=SYS_RESOURCE");
    });

    it("puts each daemon only on its own network, and the gateway on all of them", () => {
        expect(byName("dind-compose-test-a-dind").inputs.networks).toEqual([{ name: "dind-compose-test-a", aliases: ["a"] }]);
        expect(byName("dind-compose-test-b-dind").inputs.networks).toEqual([{ name: "dind-compose-test-b", aliases: ["b"] }]);
        const gw = byName("dind-compose-test-gateway");
        expect((gw.inputs.networks as { name: string }[]).map((n) => n.name)).toEqual([
            "dind-compose-test-gateway-net",
            "dind-compose-test-a",
            "dind-compose-test-b",
        ]);
    });

    it("gives the gateway every project hostname and the domain as aliases on each project network, none on its own", () => {
        const hostnames = ["a.project.localhost", "b.project.localhost", "project.localhost"];
        expect(byName("dind-compose-test-gateway").inputs.networks).toEqual([
            { name: "dind-compose-test-gateway-net", aliases: [] },
            { name: "dind-compose-test-a", aliases: hostnames },
            { name: "dind-compose-test-b", aliases: hostnames },
        ]);
    });

    it("publishes the gateway only on the bind address, and a daemon endpoint only on request, on 127.0.0.1", () => {
        expect(byName("dind-compose-test-gateway").inputs.ports).toEqual([
            { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80 },
            { hostIp: "127.0.0.1", hostPort: 8443, containerPort: 443 },
        ]);
        expect(byName("dind-compose-test-a-dind").inputs.ports).toEqual([{ hostIp: "127.0.0.1", hostPort: 0, containerPort: 2376 }]);
        expect(byName("dind-compose-test-b-dind").inputs.ports).toEqual([]);
    });

    it("routes each hostname to its daemon and port in the gateway's nginx.conf", () => {
        const files = byName("dind-compose-test-gateway").inputs.files as { path: string; content: string }[];
        const conf = files.find((f) => f.path.endsWith("nginx.conf"))?.content ?? "";
        expect(conf).toContain("set $upstream dind-compose-test-a-dind:3000;");
        expect(conf).toContain("set $upstream dind-compose-test-b-dind:80;");
    });

    it("gives a compose override only to services on the inner default bridge, with the gateway's address on their project's network, and the user CA to the services of projects that trust it", () => {
        const stacks = ofType("compose:Stack");
        // a: DNS serves every service, so no extra_hosts (and no wait for the gateway's addresses); its services get the CA.
        const a = String(stacks.find((s) => s.inputs.project === "a")?.inputs.override);
        expect(a).not.toContain("extra_hosts");
        expect(a).toContain("SSL_CERT_FILE: /etc/dind-compose/ca/bundle.pem");
        expect(a.match(/SSL_CERT_FILE/g)).toHaveLength(1); // db sets its own
        expect(a).toContain("NODE_EXTRA_CA_CERTS: /etc/dind-compose/ca/ca.pem");
        // b: its db service is on the default bridge (no embedded DNS); web is not.
        const b = stacks.find((s) => s.inputs.project === "b");
        expect(b?.inputs.override).toContain("a.project.localhost:172.30.2.2");
        expect(b?.inputs.override).toContain("db:");
        expect(b?.inputs.override).not.toContain("web:");
        expect(b?.inputs.override).not.toContain("SSL_CERT_FILE");
        expect(b?.inputs.daemonId).toBe("id-dind-compose-test-b-dind");
    });

    it("issues the gateway's certificate from the user CA for the domain and every hostname, and mounts it", async () => {
        const cert = ofType("tls:GatewayCertificate");
        expect(cert).toHaveLength(1);
        expect(cert[0].name).toBe("env-certificate");
        expect(cert[0].inputs).toMatchObject({
            domain: "project.localhost",
            hostnames: ["a.project.localhost", "b.project.localhost"],
            caDir: "/home/me/ca",
            caKeyId: "k1",
        });
        // The CA's key is no part of the stack: neither an input nor an output of the certificate.
        expect(Object.keys(cert[0].inputs).filter((k) => /^ca(Key|Cert|File)$/.test(k))).toEqual([]);
        expect(await promiseOf(env.caCertificate as pulumi.Output<string>)).toBe("CA PEM");
        const files = byName("dind-compose-test-gateway").inputs.files as { path: string; content: string }[];
        const secretFiles = byName("dind-compose-test-gateway").inputs.secretFiles as { path: string; content: string }[];
        expect(secretFiles).toEqual([{ path: "/etc/dind-compose/tls/key.pem", content: "KEY" }]);
        expect(files.map((f) => f.path)).not.toContain("/etc/dind-compose/tls/key.pem");
    });

    it("exposes urls and daemons per project", async () => {
        expect(env.urls).toEqual({ a: "http://a.project.localhost:8080/", b: "http://b.project.localhost:8080/" });
        expect(env.httpsUrls).toEqual({ a: "https://a.project.localhost:8443/", b: "https://b.project.localhost:8443/" });
        expect(await promiseOf(env.daemons)).toEqual({ a: "dind-compose-test-a-dind", b: "dind-compose-test-b-dind" });
    });
});

describe("Environment resource graph with files: sync (source volumes instead of bind mounts)", () => {
    const tree = (digest: string) => ({ digest, files: 3, bytes: 10 });
    beforeAll(async () => {
        const env = new Environment(
            "synced",
            onDocker({
                spec,
                loaded,
                pulumiProject: "synced",
                stack: "test",
                userTls: undefined,
                ca,
                networks: {},
                sourceTrees: { a: { "/src/a": tree("t1"), "/src/shared": tree("t2") }, b: { "/src/b": tree("t3") } },
            }),
        );
        await promiseOf(env.services);
        expect(await promiseOf(env.files)).toEqual({
            a: { daemon: "synced-test-a-dind", dirs: ["/src/a", "/src/shared"] },
            b: { daemon: "synced-test-b-dind", dirs: ["/src/b"] },
        });
    });
    const mine = () => registered.filter((r) => r.name.startsWith("synced-"));

    it("mounts a source volume per folder at the folder's own path, and no host folder", () => {
        const dind = mine().find((r) => r.inputs.name === "synced-test-a-dind") as Registered;
        const mounts = dind.inputs.mounts as { type: string; source: string; target: string }[];
        const folders = mounts.filter((m) => m.target.startsWith("/src/"));
        expect(folders.map((m) => m.type)).toEqual(["volume", "volume"]);
        expect(folders.map((m) => m.target)).toEqual(["/src/a", "/src/shared"]);
        expect(folders.map((m) => m.source)).toEqual(folders.map(() => expect.stringMatching(/^synced-test-a-src-[0-9a-f]{10}$/)));
        expect(new Set(folders.map((m) => m.source)).size).toBe(2);
        expect(mounts.some((m) => m.type === "bind")).toBe(false);
    });

    it("syncs each project's trees into its dind container with one SourceSync", () => {
        const syncs = mine().filter((r) => r.type.endsWith("files:Sync"));
        expect(syncs.map((r) => r.name).sort()).toEqual(["synced-a-files", "synced-b-files"]);
        const a = syncs.find((r) => r.name === "synced-a-files") as Registered;
        expect(a.inputs.daemon).toBe("synced-test-a-dind");
        expect(a.inputs.daemonId).toBe("id-synced-test-a-dind");
        expect(a.inputs.dirs).toEqual({ "/src/a": tree("t1"), "/src/shared": tree("t2") });
    });
});

describe("Environment resource graph with a network plan (fresh networks from dind-compose:network.pool)", () => {
    beforeAll(async () => {
        const env = new Environment(
            "planned",
            onDocker({
                spec,
                loaded,
                pulumiProject: "planned",
                sourceTrees: undefined,
                stack: "test",
                userTls: undefined,
                ca,
                networks: {
                    "planned-test-gateway-net": { create: { subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29", pool: "10.250.0.0/16" } },
                    // The mocks hand the inputs back as outputs: the network's subnet and range are what it was made with, so its fixed addresses follow.
                    "planned-test-a": { create: { subnet: "10.250.0.16/28", ipRange: "10.250.0.24/29", pool: "10.250.0.0/16" } },
                },
            }),
        );
        await promiseOf(env.services);
    });
    const byName = (name: string) => {
        const r = registered.find((x) => x.inputs.name === name);
        expect(r, `no resource named ${name}`).toBeDefined();
        return r as Registered;
    };

    it("creates the networks that the plan gives a subnet with it, and leaves the others to keep their own", () => {
        expect(byName("planned-test-gateway-net").inputs).toMatchObject({ subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29" });
        expect(byName("planned-test-a").inputs).toMatchObject({ subnet: "10.250.0.16/28", ipRange: "10.250.0.24/29" });
        expect(byName("planned-test-b").inputs).not.toHaveProperty("subnet");
    });

    it("gives the dind container and the gateway their fixed addresses where the plan has them, and none elsewhere", () => {
        expect(byName("planned-test-a-dind").inputs.networks).toEqual([{ name: "planned-test-a", aliases: ["a"], ip: "10.250.0.18" }]);
        expect(byName("planned-test-b-dind").inputs.networks).toEqual([{ name: "planned-test-b", aliases: ["b"] }]);
        const gw = byName("planned-test-gateway").inputs.networks as { name: string; ip?: string }[];
        expect(gw.map((n) => [n.name, n.ip])).toEqual([
            ["planned-test-gateway-net", undefined],
            ["planned-test-a", "10.250.0.19"],
            ["planned-test-b", undefined],
        ]);
    });

    it("caps a project's dind container with its resources, and leaves the key out for a project without", () => {
        expect(byName("planned-test-a-dind").inputs.resources).toEqual({ cpus: 1, memory: 512 * 1024 ** 2 });
        expect(byName("planned-test-b-dind").inputs).not.toHaveProperty("resources");
    });
});
