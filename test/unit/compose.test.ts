import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import {
    buildInputs,
    ComposeError,
    ComposeModel,
    composeReads,
    fileDigests,
    firstPublishedPort,
    hostPaths,
    inFileOrder,
    modelDigest,
    mountRoots,
    normalizeComposeConfigJson,
    PortModel,
    summarizeModel,
    TreeFs,
    VolumeModel,
    yamlSyntaxError,
} from "../../components/compose";

const FIXTURES = path.resolve(__dirname, "../fixtures/compose");
const fixture = (...p: string[]): string => path.join(FIXTURES, ...p);
const isDirectory = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
const readText = (f: string): string | undefined => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined);

/**
 * The model of a fixture as the program reads it: what `docker compose config --format json`
 * printed for it (`<fixture>/expected-config.json`, captured from compose 2.26 with the fixture
 * tree at @FIXTURES@; test/integration/composeConfig.test.ts checks that compose still prints
 * that), services in file order.
 */
function fixtureModel(name: string, files: string[]): ComposeModel {
    const text = fs.readFileSync(fixture(name, "expected-config.json"), "utf8").replaceAll("@FIXTURES@", FIXTURES);
    const order = composeReads(
        files.map((f) => fixture(name, f)),
        fixture(name),
        readText,
    ).serviceOrder;
    return inFileOrder(normalizeComposeConfigJson(text), order);
}

/** The model of compose's output for a project in /p, written as an object (services in the order given). */
const canonical = (services: Record<string, unknown>, top: Record<string, unknown> = {}): ComposeModel =>
    normalizeComposeConfigJson(JSON.stringify({ services, ...top }), { projectDir: "/p" });

/** The error message of `fn`, which must throw a ComposeError. */
function composeErrorOf(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        if (e instanceof ComposeError) return e.message;
        throw e;
    }
    throw new Error("expected a ComposeError, got a model");
}

describe("compose's model of every kind of host path (fixture paths/)", () => {
    const model = fixtureModel("paths", ["compose.yaml"]);

    const table: [string, string][] = [
        ["relative bind mount, short syntax (./web:/app)", "paths/web"],
        ["bind mount leaving the project dir (../shared:/shared:ro)", "shared"],
        ["bind mount, long syntax", "paths/conf"],
        ["build context, string form (build: ./)", "paths"],
        ["Dockerfile of the string form (default name)", "paths/Dockerfile"],
        ["build context, object form", "paths/api"],
        ["dockerfile, relative to its context", "paths/api/docker/Dockerfile.dev"],
        ["file-based config", "paths/config/app.conf"],
        ["file-based secret leaving the project dir", "shared/secret.txt"],
    ];

    it.each(table)("hostPaths includes the %s", (_kind, rel) => {
        expect(hostPaths(model)).toContain(fixture(rel));
    });

    it("hostPaths is exactly those, absolute, sorted, without duplicates", () => {
        expect(hostPaths(model)).toEqual(table.map(([, rel]) => fixture(rel)).sort());
    });

    it.each([
        ["env_file, string form", "paths/web.env"],
        ["env_file, list form", "paths/common.env"],
        ["env_file, long form {path, required: false} (missing: still referenced)", "paths/optional.env"],
    ])("the files compose reads include the %s (compose inlines env files and prints none)", (_kind, rel) => {
        expect(composeReads([fixture("paths/compose.yaml")], fixture("paths"), readText).files).toContain(fixture(rel));
    });

    it("named volumes, anonymous volumes and tmpfs are not host paths", () => {
        const paths = hostPaths(model);
        expect(paths.some((p) => p.endsWith("/data") || p === "data" || p.includes("/var/lib/anon") || p === "/tmp")).toBe(false);
        expect(model.services.web.volumes).toEqual<VolumeModel[]>([
            { type: "bind", source: fixture("paths/web"), target: "/app", read_only: false },
            { type: "bind", source: fixture("shared"), target: "/shared", read_only: true },
            { type: "volume", source: "data", target: "/data", read_only: false },
            { type: "volume", target: "/var/lib/anon", read_only: false },
            { type: "bind", source: fixture("paths/conf"), target: "/etc/app", read_only: true },
            { type: "tmpfs", target: "/tmp", read_only: false },
        ]);
    });

    it("normalizes both build forms to absolute context and Dockerfile", () => {
        expect(model.services.web.build).toEqual({
            context: fixture("paths"),
            dockerfile: fixture("paths/Dockerfile"),
            args: {},
            extra: {},
        });
        expect(model.services.api.build).toEqual({
            context: fixture("paths/api"),
            dockerfile: fixture("paths/api/docker/Dockerfile.dev"),
            args: { VERSION: "1.2" },
            extra: {},
        });
        expect(buildInputs(model)).toEqual([
            fixture("paths"),
            fixture("paths/Dockerfile"),
            fixture("paths/api"),
            fixture("paths/api/docker/Dockerfile.dev"),
        ]);
    });

    it("environment: env_file contents under `environment`, bare names resolved, $$ unescaped, sorted", () => {
        expect(model.services.web.environment).toEqual({ MODE: "dev", PRICE: "$5", TAG: "1.0", WEB_ENV: "1" });
        expect(Object.keys(model.services.web.environment)).toEqual(["MODE", "PRICE", "TAG", "WEB_ENV"]);
        expect(model.services.api.environment).toEqual({ COMMON: "overridden", ONLY_FILE: "quoted value" });
        expect(model.services.api.env_file).toEqual([]);
    });

    it("puts services in file order, keeps the other keys verbatim", () => {
        expect(Object.keys(model.services)).toEqual(["web", "api"]);
        expect(model.services.api.depends_on).toEqual({ web: { condition: "service_started" } });
        expect(model.services.api.extra).toEqual({
            configs: [{ source: "app_config" }],
            secrets: [{ source: "db_password", target: "/run/secrets/db_password" }],
        });
        expect(model.volumes).toEqual({ data: { name: "paths_data" } });
    });

    it("mountRoots of those paths plus the project dir: the project dir and the shared dir outside it", () => {
        expect(mountRoots([fixture("paths"), ...hostPaths(model)], isDirectory)).toEqual([fixture("paths"), fixture("shared")]);
    });

    it("the first published port is web's 8080 (its 3000 is not published)", () => {
        expect(firstPublishedPort(model)).toBe(8080);
    });
});

describe("normalizeComposeConfigJson: what compose prints", () => {
    it("reads env_file when compose keeps it (--no-env-resolution), both syntaxes", () => {
        const json = JSON.stringify({
            services: { s: { image: "x", env_file: ["/p/a.env", { path: "/p/b.env", required: false }], environment: { A: null } } },
        });
        const model = normalizeComposeConfigJson(json);
        expect(model.services.s.env_file).toEqual(["/p/a.env", "/p/b.env"]);
        expect(model.services.s.environment).toEqual({ A: null });
    });

    it("leaves `$$` alone when the output was not interpolated", () => {
        const json = JSON.stringify({ services: { s: { image: "x", environment: { P: "$$5" } } } });
        expect(normalizeComposeConfigJson(json).services.s.environment.P).toBe("$5");
        expect(normalizeComposeConfigJson(json, { interpolated: false }).services.s.environment.P).toBe("$$5");
    });

    it("keeps a service of an active profile: compose prints it only then (fixture profiles/, COMPOSE_PROFILES=debug)", () => {
        const m = fixtureModel("profiles", ["compose.yaml"]);
        expect(Object.keys(m.services)).toEqual(["app", "debug"]);
        expect(m.services.debug.extra.profiles).toEqual(["debug"]);
        expect(summarizeModel(m)["services.debug.ports"]).toBe("9229->9229/tcp");
    });

    it("an empty output is an empty model", () => {
        expect(normalizeComposeConfigJson("{}")).toEqual({ services: {}, volumes: {}, networks: {}, configs: {}, secrets: {} });
    });
});

describe("compose's model of several files merged (fixture merge/)", () => {
    const model = fixtureModel("merge", ["compose.yaml", "compose.override.yaml", "compose.ports.yaml"]);
    const web = model.services.web;

    it("services in file order: new services come after, in file order", () => {
        expect(Object.keys(model.services)).toEqual(["web", "db", "worker"]);
    });

    it("scalars are replaced by the later file", () => {
        expect(web.image).toBe("nginx:1.29-alpine");
        expect(web.command).toEqual(["nginx-debug", "-g", "daemon off;"]);
    });

    it("ports are appended, an identical port is not duplicated", () => {
        expect(web.ports).toEqual<PortModel[]>([
            { target: 80, published: 8080, protocol: "tcp" },
            { target: 443, published: 8443, protocol: "tcp" },
        ]);
    });

    it("volumes are appended, one with the same target replaces the earlier one in place", () => {
        expect(web.volumes.map((v) => `${v.source}:${v.target}`)).toEqual([
            `${fixture("merge/html")}:/usr/share/nginx/html`,
            `${fixture("merge/logs")}:/var/log/nginx`,
            `${fixture("merge/extra")}:/extra`,
        ]);
    });

    it("env files inlined; later files and `environment` win", () => {
        expect(web.environment).toEqual({ A: "1", B: "2", KEEP: "base", LEVEL: "debug", SHARED: "override" });
    });

    it("maps (labels, depends_on) merge, list and map forms alike", () => {
        expect(web.labels).toEqual({ team: "web", tier: "front" });
        expect(model.services.worker.depends_on).toEqual({ db: { condition: "service_healthy" } });
        expect(model.services.db.ports).toEqual([{ target: 5432, published: 5432, protocol: "tcp" }]);
        expect(model.services.db.environment).toEqual({ POSTGRES_PASSWORD: "postgres" });
    });
});

describe("compose's model of interpolated values (fixture interp/): `$$` unescaped in values and keys", () => {
    const model = fixtureModel("interp", ["compose.yaml"]);

    it.each([
        ["ONLY_DOTENV", "dotenv-value"],
        ["FROM_ENV", "x"],
        ["DEFAULT_UNSET", "fallback"],
        ["DEFAULT_EMPTY", "fallback"],
        ["DASH_EMPTY", ""],
        ["DASH_UNSET", "fallback"],
        ["NESTED", "from-env"],
        ["PLUS", "set"],
        ["ESCAPED", "$HOME"],
        ["MIXED", "pre-from-env-post"],
        ["QUOTED", "a b # not a comment"],
        ["SINGLE", "${TAG} stays literal"],
        ["REF", "dotenv-value-ref"],
        ["EXPORTED", "yes"],
        ["BLANK", ""],
    ])("environment.%s = %j", (key, value) => {
        expect(model.services.app.environment[key]).toBe(value);
    });

    it("keys are not interpolated", () => {
        expect(model.services.app.environment["${NOT_A_KEY}"]).toBe("keys are not interpolated");
    });
});

describe("normalizeComposeConfigJson: errors name the key", () => {
    it("yamlSyntaxError: the first syntax error at its exact line and column (compose's go-yaml names the enclosing block)", () => {
        const text = "services:\n  web:\n    image: x\n    command: [a]\n   ports:\n      - '80:80'\n";
        const e = yamlSyntaxError(text, "/p/compose.yaml");
        expect(e?.where).toBe("/p/compose.yaml:5:1");
        expect(e?.message).toMatch(
            /^\/p\/compose\.yaml:5:1: All mapping items must start at the same column \(BAD_INDENT\)\n[\s\S]* {3}ports:/,
        );
        expect(yamlSyntaxError("services:\n  web:\n    image: x\n", "/p/compose.yaml")).toBeUndefined();
    });

    it.each([
        [
            "a duplicate key",
            '{"services": {"s": {"image": "x", "image": "y"}}}',
            /^docker compose config output is not valid YAML:\ndocker compose config output:1:\d+: Map keys must be unique \(DUPLICATE_KEY\)/,
        ],
        [
            "a bad port, with its key path",
            '{"services": {"s": {"ports": [{"target": 80}, {"target": "eighty"}]}}}',
            /^docker compose config output:1:\d+: services\.s\.ports\[1\]\.target .*: target "eighty" is not a port number/,
        ],
        [
            "a service that is not a mapping",
            '{"services": {"s": [1]}}',
            /^docker compose config output:1:\d+: services\.s must be a mapping/,
        ],
        ["a top level that is not a mapping", '["a"]', /^docker compose config output:1:1: the top level must be a mapping/],
        [
            "an unknown volume type",
            '{"services": {"s": {"volumes": [{"type": "npipe", "source": "x", "target": "/x"}]}}}',
            /services\.s\.volumes\[0\]\.type "npipe" is not a volume type/,
        ],
    ])("%s", (_what, json, message) => {
        expect(composeErrorOf(() => normalizeComposeConfigJson(json))).toMatch(message);
    });
});

describe("ports: compose's long syntax", () => {
    const portsOf = (spec: unknown): PortModel[] => canonical({ s: { image: "x", ports: [spec] } }).services.s.ports;

    it.each<[unknown, PortModel]>([
        [{ target: 80 }, { target: 80, protocol: "tcp" }],
        [
            { target: 80, published: 8080 },
            { target: 80, published: 8080, protocol: "tcp" },
        ],
        [
            { target: "80", published: "8080", host_ip: "0.0.0.0", protocol: "udp", mode: "host" },
            { target: 80, published: 8080, host_ip: "0.0.0.0", protocol: "udp" },
        ],
        [
            { mode: "ingress", host_ip: "::1", target: 80, published: "8080", protocol: "tcp" },
            { target: 80, published: 8080, host_ip: "::1", protocol: "tcp" },
        ],
        [
            { target: 53, protocol: "UDP" },
            { target: 53, protocol: "udp" },
        ],
    ])("%j", (spec, expected) => {
        expect(portsOf(spec)).toEqual([expected]);
    });

    it.each<[unknown, RegExp]>([
        [{ target: 80, published: "8000-8001" }, /port range \(8000-8001\); ranges are not supported/],
        [{ target: "99999" }, /target "99999" is not a port number/],
        [{ target: 80, published: "0" }, /published port "0" is not a port number/],
        [{ target: 80, protocol: "icmp" }, /"icmp" is not one of tcp, udp, sctp/],
        [{ published: 80 }, /has no target port/],
        [true, /must be a mapping \{target, published, \.\.\.\}/],
        ["8080:80", /must be a mapping \{target, published, \.\.\.\}/],
    ])("%j is rejected", (spec, message) => {
        expect(composeErrorOf(() => portsOf(spec))).toMatch(message);
    });
});

describe("volumes: compose's long syntax", () => {
    const volumesOf = (spec: unknown): VolumeModel[] => canonical({ s: { image: "x", volumes: [spec] } }).services.s.volumes;

    it.each<[unknown, VolumeModel]>([
        [
            { type: "bind", source: "web", target: "/app" },
            { type: "bind", source: "/p/web", target: "/app", read_only: false },
        ],
        [
            { type: "bind", source: "./web", target: "/app", read_only: true, bind: { create_host_path: true } },
            { type: "bind", source: "/p/web", target: "/app", read_only: true },
        ],
        [
            { type: "bind", source: "/p/x", target: "/x", read_only: true, bind: { selinux: "z", create_host_path: true } },
            { type: "bind", source: "/p/x", target: "/x", read_only: true, options: { bind: { selinux: "z" } } },
        ],
        [
            { type: "volume", source: "data", target: "/d", volume: { nocopy: true } },
            { type: "volume", source: "data", target: "/d", read_only: false, options: { volume: { nocopy: true } } },
        ],
        [
            { type: "volume", target: "/anonymous", volume: {} },
            { type: "volume", target: "/anonymous", read_only: false },
        ],
        [
            { type: "tmpfs", target: "/t", tmpfs: { size: 1000 } },
            { type: "tmpfs", target: "/t", read_only: false, options: { tmpfs: { size: 1000 } } },
        ],
    ])("%j", (spec, expected) => {
        expect(volumesOf(spec)).toEqual([expected]);
    });

    it.each<[unknown, RegExp]>([
        [{ type: "bind", target: "/a" }, /is a bind mount without a source/],
        [{ type: "volume", source: "x" }, /has no target/],
        ["./a:/a", /must be a mapping \{type, source, target, \.\.\.\}/],
    ])("%j is rejected", (spec, message) => {
        expect(composeErrorOf(() => volumesOf(spec))).toMatch(message);
    });

    it("only bind sources are host paths", () => {
        const m = canonical({
            s: {
                image: "x",
                volumes: [
                    { type: "bind", source: "/p/a", target: "/a" },
                    { type: "volume", source: "named", target: "/n" },
                    { type: "volume", target: "/anon" },
                    { type: "tmpfs", target: "/t" },
                ],
            },
        });
        expect(hostPaths(m)).toEqual(["/p/a"]);
    });
});

describe("build and env_file forms, configs and secrets", () => {
    it.each<[string, Record<string, unknown>, string[]]>([
        ["build: .", { build: { context: "/p", dockerfile: "Dockerfile" } }, ["/p", "/p/Dockerfile"]],
        ["build: {context: ./app}", { build: { context: "/p/app", dockerfile: "Dockerfile" } }, ["/p/app", "/p/app/Dockerfile"]],
        ["build without a context or dockerfile", { build: {} }, ["/p", "/p/Dockerfile"]],
        ["build: {dockerfile: ci/Dockerfile}", { build: { context: "/p", dockerfile: "ci/Dockerfile" } }, ["/p", "/p/ci/Dockerfile"]],
        [
            "build: {context: ../up, dockerfile: /abs/Dockerfile}",
            { build: { context: "/up", dockerfile: "/abs/Dockerfile" } },
            ["/abs/Dockerfile", "/up"],
        ],
        [
            "build: {context: ./app, dockerfile_inline: 'FROM scratch'}",
            { build: { context: "/p/app", dockerfile_inline: "FROM scratch" } },
            ["/p/app"],
        ],
        [
            "build: https://github.com/docker/welcome.git",
            { build: { context: "https://github.com/docker/welcome.git", dockerfile: "Dockerfile" } },
            [],
        ],
        ["build: {context: 'git@github.com:o/r.git'}", { build: { context: "git@github.com:o/r.git" } }, []],
        ["env_file kept (--no-env-resolution)", { env_file: ["/p/a.env", "/b.env"] }, ["/b.env", "/p/a.env"]],
    ])("%s", (_what, service, paths) => {
        expect(hostPaths(canonical({ s: service }))).toEqual(paths);
    });

    it("file-based configs and secrets are host paths; environment- and external-based ones are not", () => {
        const m = canonical(
            {},
            {
                configs: { c1: { file: "/p/c.conf" }, c2: { environment: "C" }, c3: { external: true } },
                secrets: { s1: { file: "/run/s" }, s2: { environment: "S" } },
            },
        );
        expect(hostPaths(m)).toEqual(["/p/c.conf", "/run/s"]);
        expect(m.configs.c2).toEqual({ environment: "C" });
    });
});

describe("mountRoots", () => {
    const dirs = new Set(["/p/a", "/p/a/web", "/p/shared", "/p/a/api", "/q", "/p/ab"]);
    const isDir = (p: string): boolean => dirs.has(p);

    it.each<[string, string[], string[]]>([
        ["the example of the design", ["/p/a", "/p/a/web", "/p/a/Dockerfile", "/p/shared/x"], ["/p/a", "/p/shared"]],
        ["without the project dir, files bring their parent", ["/p/a/web", "/p/a/Dockerfile", "/p/shared/x"], ["/p/a", "/p/shared"]],
        ["nested directories collapse to the outermost", ["/p/a/api", "/p/a/web", "/p/a"], ["/p/a"]],
        ["a sibling sharing a prefix is not inside", ["/p/a", "/p/ab"], ["/p/a", "/p/ab"]],
        ["a missing path counts as a file", ["/p/missing/data"], ["/p/missing"]],
        ["duplicates and trailing slashes", ["/q/", "/q", "/q/file"], ["/q"]],
        ["nothing", [], []],
    ])("%s", (_what, paths, roots) => {
        expect(mountRoots(paths, isDir)).toEqual(roots);
    });
});

describe("firstPublishedPort", () => {
    it.each<[string, Record<string, unknown>, number | undefined]>([
        [
            "the first service that publishes",
            {
                a: { image: "x", ports: [{ target: 3000 }] },
                b: {
                    image: "x",
                    ports: [
                        { target: 90, published: "9000" },
                        { target: 91, published: "9001" },
                    ],
                },
            },
            9000,
        ],
        [
            "the model's order (file order), not name order",
            {
                z: { image: "x", ports: [{ target: 70, published: "7000" }] },
                a: { image: "x", ports: [{ target: 80, published: "8000" }] },
            },
            7000,
        ],
        ["nothing published", { a: { image: "x", ports: [{ target: 3000 }], expose: ["4000"] } }, undefined],
        ["no ports at all", { a: { image: "x" } }, undefined],
    ])("%s", (_what, services, port) => {
        expect(firstPublishedPort(canonical(services))).toBe(port);
    });
});

describe("modelDigest", () => {
    const services = { web: { image: "x", environment: { A: "1", B: "2" }, ports: [{ target: 80, published: "80" }] } };
    const top = { volumes: { data: {} } };
    const digest = (s: Record<string, unknown>, t: Record<string, unknown> = top): string => modelDigest(canonical(s, t));

    it("is a sha256, independent of key order", () => {
        const d = digest(services);
        expect(d).toMatch(/^[0-9a-f]{64}$/);
        expect(digest({ web: { ports: [{ published: "80", target: 80 }], environment: { B: "2", A: "1" }, image: "x" } })).toBe(d);
    });

    it("is the same for the same output every time, and for a port number printed as a string or a number", () => {
        expect(digest(services)).toBe(digest(services));
        expect(digest({ s: { image: "x", ports: [{ target: 80, published: 8080 }] } })).toBe(
            digest({ s: { image: "x", ports: [{ target: 80, published: "8080" }] } }),
        );
    });

    it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
        ["image", { web: { ...services.web, image: "y" } }, top],
        ["an env value", { web: { ...services.web, environment: { A: "3", B: "2" } } }, top],
        ["a port", { web: { ...services.web, ports: [{ target: 80, published: "81" }] } }, top],
        ["a top-level volume", services, { volumes: { data: { driver: "local" } } }],
    ])("changes with %s", (_what, changed, changedTop) => {
        expect(digest(changed, changedTop)).not.toBe(digest(services));
    });
});

describe("summarizeModel", () => {
    type Services = Record<string, Record<string, unknown>>;
    const services = (): Services => ({
        a: {
            build: { context: "/p/a", dockerfile: "Dockerfile" },
            ports: [{ target: 3000, published: "3000" }],
            volumes: [
                { type: "bind", source: "/p/a/web", target: "/app" },
                { type: "volume", source: "cache", target: "/cache", read_only: true },
            ],
            environment: { MODE: "dev" },
        },
        b: {
            image: "nginx:1.29-alpine",
            ports: [{ target: 80, published: "8080", host_ip: "127.0.0.1", protocol: "udp" }, { target: 9000 }],
            depends_on: { a: { condition: "service_healthy" } },
            labels: { team: "b" },
            command: ["nginx", "-g", "daemon off;"],
        },
    });
    const top = { volumes: { cache: {} } };
    const before = summarizeModel(canonical(services(), top), { projectDir: "/p" });

    it("is a flat, sorted record of readable strings", () => {
        expect(Object.keys(before)).toEqual([...Object.keys(before)].sort());
        expect(before).toMatchObject({
            "services.a.build.context": "./a",
            "services.a.build.dockerfile": "./a/Dockerfile",
            "services.a.ports": "3000->3000/tcp",
            "services.a.volumes": "./a/web:/app, cache:/cache:ro",
            "services.b.image": "nginx:1.29-alpine",
            "services.b.ports": "127.0.0.1:8080->80/udp, 9000/tcp",
            "services.b.depends_on": "a (service_healthy)",
            "services.b.labels.team": "b",
            "services.b.command": '["nginx","-g","daemon off;"]',
            "volumes.cache": "{}",
        });
    });

    it("shows environment values as a short digest unless asked to reveal them", () => {
        expect(before["services.a.environment.MODE"]).toMatch(/^sha256:[0-9a-f]{12}$/);
        expect(summarizeModel(canonical(services(), top), { revealValues: true })["services.a.environment.MODE"]).toBe("dev");
    });

    it("without projectDir, paths stay absolute", () => {
        expect(summarizeModel(canonical(services(), top))["services.a.build.context"]).toBe("/p/a");
    });

    it("shows every kept field, and the other keys as they are", () => {
        const s = summarizeModel(
            canonical({
                s: {
                    build: { context: "/p", dockerfile: "Dockerfile", args: { V: "1" }, target: "dev" },
                    entrypoint: ["sh", "-c"],
                    env_file: ["/p/a.env"],
                    healthcheck: { test: ["CMD", "true"] },
                    restart: "always",
                    networks: { default: null, back: { aliases: ["db"] } },
                    expose: ["4000"],
                },
            }),
            { projectDir: "/p", revealValues: true },
        );
        expect(s).toEqual({
            "services.s.build.context": ".",
            "services.s.build.dockerfile": "./Dockerfile",
            "services.s.build.args.V": "1",
            "services.s.build.target": "dev",
            "services.s.entrypoint": '["sh","-c"]',
            "services.s.env_file": "./a.env",
            "services.s.healthcheck": '{"test":["CMD","true"]}',
            "services.s.restart": "always",
            "services.s.networks": 'default, back {"aliases":["db"]}',
            "services.s.expose": '["4000"]',
        });
    });

    const changedKeys = (change: (s: Services) => void, changedTop: Record<string, unknown> = top): string[] => {
        const s = services();
        change(s);
        const after = summarizeModel(canonical(s, changedTop), { projectDir: "/p" });
        const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
        return [...keys].filter((k) => before[k] !== after[k]).sort();
    };

    it.each<[string, (s: Services) => void, Record<string, unknown>, string[]]>([
        ["b's image", (s) => (s.b.image = "nginx:1.30-alpine"), top, ["services.b.image"]],
        [
            "b's ports",
            (s) => (s.b.ports = [{ target: 80, published: "8080", host_ip: "127.0.0.1", protocol: "udp" }, { target: 9001 }]),
            top,
            ["services.b.ports"],
        ],
        ["a's environment value", (s) => (s.a.environment = { MODE: "prod" }), top, ["services.a.environment.MODE"]],
        ["an added variable of b", (s) => (s.b.environment = { X: "1" }), top, ["services.b.environment.X"]],
        [
            "a's bind mount",
            (s) =>
                (s.a.volumes = [
                    { type: "bind", source: "/p/a/www", target: "/app" },
                    { type: "volume", source: "cache", target: "/cache", read_only: true },
                ]),
            top,
            ["services.a.volumes"],
        ],
        ["a's restart policy (any other field)", (s) => (s.a.restart = "always"), top, ["services.a.restart"]],
        ["a top-level volume", () => undefined, { volumes: { cache: { driver: "local" } } }, ["volumes.cache"]],
    ])("a change of %s changes only its keys", (_what, change, changedTop, keys) => {
        expect(changedKeys(change, changedTop)).toEqual(keys);
    });
});

describe("fileDigests", () => {
    it("hashes a build context, honouring its .dockerignore, keyed relative to the project dir", () => {
        const digests = fileDigests([fixture("paths/api"), fixture("paths/api/docker/Dockerfile.dev")], fixture("paths"));
        expect(Object.keys(digests)).toEqual(["api/.dockerignore", "api/docker/Dockerfile.dev", "api/main.js", "api/tmp/keep.txt"]);
        expect(Object.values(digests).every((d) => /^sha256:[0-9a-f]{64}$/.test(d))).toBe(true);
    });

    it("keys paths outside the project dir with ../ and marks missing ones", () => {
        expect(Object.keys(fileDigests([fixture("shared"), fixture("paths/nothing-here")], fixture("paths")))).toEqual([
            "../shared/lib/util.txt",
            "../shared/secret.txt",
            "nothing-here",
        ]);
        expect(fileDigests([fixture("paths/nothing-here")], fixture("paths"))).toEqual({ "nothing-here": "missing" });
    });

    it("gives a context past the per-file limit one entry that covers every file", () => {
        const digests = fileDigests([fixture("paths")], fixture("paths"), { perFileLimit: 3 });
        expect(Object.keys(digests)).toEqual(["./"]);
        expect(digests["./"]).toMatch(/^tree:sha256:[0-9a-f]{64} \(\d+ files\)$/);
    });

    describe("in memory", () => {
        const tree = (files: Record<string, string>, links: Record<string, string> = {}): TreeFs => {
            const dirs = new Set<string>();
            for (const f of [...Object.keys(files), ...Object.keys(links)]) {
                for (let d = path.dirname(f); d !== "/"; d = path.dirname(d)) dirs.add(d);
            }
            return {
                kind: (p) =>
                    Object.hasOwn(files, p) ? "file" : Object.hasOwn(links, p) ? "symlink" : dirs.has(p) ? "directory" : undefined,
                list: (dir) => [
                    ...new Set(
                        [...Object.keys(files), ...Object.keys(links), ...dirs]
                            .filter((p) => path.dirname(p) === dir)
                            .map((p) => path.basename(p)),
                    ),
                ],
                read: (p) => files[p],
                readLink: (p) => links[p],
            };
        };
        const files = {
            "/p/app/a.js": "1",
            "/p/app/.git/HEAD": "ref",
            "/p/app/node_modules/x.js": "x",
            "/p/app/Dockerfile": "FROM scratch",
        };

        it("skips .git, walks everything else, records symlinks by target", () => {
            const d = fileDigests(["/p/app"], "/p", { fs: tree(files, { "/p/app/link": "../elsewhere" }) });
            expect(Object.keys(d)).toEqual(["app/Dockerfile", "app/a.js", "app/link", "app/node_modules/x.js"]);
            expect(d["app/link"]).toBe("symlink:../elsewhere");
        });

        it("past the per-file limit, changes with any file's content, even the last of many", () => {
            const many = Object.fromEntries(
                Array.from({ length: 300 }, (_, i) => [`/p/app/node_modules/m${String(i).padStart(3, "0")}.js`, "x"]),
            );
            const before = fileDigests(["/p/app"], "/p", { fs: tree({ ...files, ...many }) });
            const after = fileDigests(["/p/app"], "/p", { fs: tree({ ...files, ...many, "/p/app/node_modules/m299.js": "y" }) });
            expect(Object.keys(before)).toEqual(["app/"]);
            expect(before["app/"]).toMatch(/\(303 files\)$/);
            expect(after["app/"]).not.toBe(before["app/"]);
        });

        it("takes a file's digest from the file system when it can tell (a cache), without reading it", () => {
            const fs = {
                ...tree(files),
                read: () => {
                    throw new Error("read");
                },
                digest: (p: string) => `sha256:cached-${path.basename(p)}`,
            };
            expect(fileDigests(["/p/app/Dockerfile"], "/p", { fs })).toEqual({ "app/Dockerfile": "sha256:cached-Dockerfile" });
        });

        it("changes with a file's content and only for that file", () => {
            const before = fileDigests(["/p/app"], "/p", { fs: tree(files) });
            const after = fileDigests(["/p/app"], "/p", { fs: tree({ ...files, "/p/app/a.js": "2" }) });
            expect(Object.keys(after).filter((k) => after[k] !== before[k])).toEqual(["app/a.js"]);
        });

        it.each<[string, string[]]>([
            ["node_modules", ["Dockerfile", "a.js"]],
            ["*.js", ["Dockerfile", "node_modules/x.js"]],
            ["*.js\n!a.js", ["Dockerfile", "a.js", "node_modules/x.js"]],
            ["node_modules\n!node_modules/x.js", ["Dockerfile", "a.js", "node_modules/x.js"]],
            ["**/x.js", ["Dockerfile", "a.js"]],
            ["/Dockerfile\n# comment", ["a.js", "node_modules/x.js"]],
            ["?.js", ["Dockerfile", "node_modules/x.js"]],
            ["[ab].js", ["Dockerfile", "node_modules/x.js"]],
        ])(".dockerignore %j", (ignore, kept) => {
            const d = fileDigests(["/p/app"], "/p/app", { fs: tree({ ...files, "/p/app/.dockerignore": ignore }) });
            expect(Object.keys(d).filter((k) => k !== ".dockerignore")).toEqual(kept);
        });
    });
});

describe("mountRoots never mounts host system locations", () => {
    const isDir = (p: string): boolean => !/\.(sock|pem)$|localtime$/.test(p);
    it.each([
        ["the docker socket (the project's own daemon inside dind)", "/var/run/docker.sock"],
        ["/etc/localtime", "/etc/localtime"],
        ["a device", "/dev/fuse"],
        ["the host's /run", "/run/user/0"],
        ["the root directory", "/"],
    ])("%s: %s is left to the dind container", (_what, p) => {
        expect(mountRoots(["/src/app", p], isDir)).toEqual(["/src/app"]);
    });

    it("keeps ordinary paths outside the project, such as /var/data or a home directory", () => {
        expect(mountRoots(["/src/app", "/var/data/x.pem", "/root/shared"], isDir)).toEqual(["/root/shared", "/src/app", "/var/data"]);
    });
});
