import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import {
    buildInputs,
    compareModels,
    ComposeError,
    ComposeFs,
    ComposeModel,
    fileDigests,
    firstPublishedPort,
    hostPaths,
    interpolate,
    modelDigest,
    mountRoots,
    normalizeComposeConfigJson,
    parseDotEnv,
    PortModel,
    readComposeModel,
    summarizeModel,
    TreeFs,
    VolumeModel,
    yamlSyntaxError,
} from "../../components/compose";

const FIXTURES = path.resolve(__dirname, "../fixtures/compose");
const fixture = (...p: string[]): string => path.join(FIXTURES, ...p);
const isDirectory = (p: string): boolean => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** An in-memory ComposeFs: the table-driven cases need no files. */
const memFs = (files: Record<string, string>): ComposeFs => ({
    readFile: (p) => {
        if (!Object.hasOwn(files, p)) throw new Error(`ENOENT: no such file, open '${p}'`);
        return files[p];
    },
    exists: (p) => Object.hasOwn(files, p),
});

/** Reads one in-memory compose file at /p/compose.yaml (project dir /p). */
const readYaml = (yaml: string, env: Record<string, string> = {}, more: Record<string, string> = {}): ComposeModel =>
    readComposeModel(["/p/compose.yaml"], env, memFs({ "/p/compose.yaml": yaml, ...more }));

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

describe("readComposeModel: every kind of host path (fixture paths/)", () => {
    const model = readComposeModel([fixture("paths/compose.yaml")], {});

    const table: [string, string][] = [
        ["relative bind mount, short syntax (./web:/app)", "paths/web"],
        ["bind mount leaving the project dir (../shared:/shared:ro)", "shared"],
        ["bind mount, long syntax", "paths/conf"],
        ["build context, string form (build: ./)", "paths"],
        ["Dockerfile of the string form (default name)", "paths/Dockerfile"],
        ["build context, object form", "paths/api"],
        ["dockerfile, relative to its context", "paths/api/docker/Dockerfile.dev"],
        ["env_file, string form", "paths/web.env"],
        ["env_file, list form", "paths/common.env"],
        ["env_file, long form {path, required: false} (missing: still referenced)", "paths/optional.env"],
        ["file-based config", "paths/config/app.conf"],
        ["file-based secret leaving the project dir", "shared/secret.txt"],
    ];

    it.each(table)("hostPaths includes the %s", (_kind, rel) => {
        expect(hostPaths(model)).toContain(fixture(rel));
    });

    it("hostPaths is exactly those, absolute, sorted, without duplicates", () => {
        expect(hostPaths(model)).toEqual(table.map(([, rel]) => fixture(rel)).sort());
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
        expect(model.services.web.build).toEqual({ context: fixture("paths"), dockerfile: fixture("paths/Dockerfile"), args: {}, extra: {} });
        expect(model.services.api.build).toEqual({
            context: fixture("paths/api"),
            dockerfile: fixture("paths/api/docker/Dockerfile.dev"),
            args: { VERSION: "1.2" },
            extra: {},
        });
        expect(buildInputs(model)).toEqual([fixture("paths"), fixture("paths/Dockerfile"), fixture("paths/api"), fixture("paths/api/docker/Dockerfile.dev")]);
    });

    it("environment: env_file contents under `environment`, bare names resolved, $$ unescaped, sorted", () => {
        expect(model.services.web.environment).toEqual({ MODE: "dev", PRICE: "$5", TAG: "1.0", WEB_ENV: "1" });
        expect(Object.keys(model.services.web.environment)).toEqual(["MODE", "PRICE", "TAG", "WEB_ENV"]);
        // optional.env is missing and not required: no error, nothing from it
        expect(model.services.api.environment).toEqual({ COMMON: "overridden", ONLY_FILE: "quoted value" });
        expect(model.services.api.env_file).toEqual([fixture("paths/common.env"), fixture("paths/optional.env")]);
    });

    it("keeps services in file order, and the other keys verbatim", () => {
        expect(Object.keys(model.services)).toEqual(["web", "api"]);
        expect(model.services.api.depends_on).toEqual({ web: { condition: "service_started" } });
        expect(model.services.api.extra).toEqual({ configs: ["app_config"], secrets: ["db_password"] });
        expect(model.volumes).toEqual({ data: {} });
    });

    it("mountRoots of those paths plus the project dir: the project dir and the shared dir outside it", () => {
        expect(mountRoots([fixture("paths"), ...hostPaths(model)], isDirectory)).toEqual([fixture("paths"), fixture("shared")]);
    });

    it("the first published port is web's 8080 (its 3000 is not published)", () => {
        expect(firstPublishedPort(model)).toBe(8080);
    });
});

// The canonical JSON below is written by hand, following `docker compose config --format json` of
// compose v2.26 (ports and volumes in long syntax, published ports as strings, `$` escaped as `$$`,
// env_file inlined into `environment` and dropped, services sorted by name). The integration suite
// checks the hand-written reader against the output of the real `docker compose config` on the
// example projects; this test pins the normalization of that format.
describe("hand-written reader vs docker compose config (fixture paths/expected-config.json)", () => {
    const hand = readComposeModel([fixture("paths/compose.yaml")], {});
    const canonicalText = fs.readFileSync(fixture("paths/expected-config.json"), "utf8").replaceAll("@FIXTURES@", FIXTURES);
    const canonical = normalizeComposeConfigJson(canonicalText);

    it("the two models agree on image, build, ports, volumes, environment (and env_file where compose keeps it)", () => {
        expect(compareModels(hand, canonical)).toEqual([]);
    });

    describe.each(["web", "api"])("service %s", (name) => {
        it.each(["image", "build", "ports", "volumes", "environment"] as const)("%s is equal", (field) => {
            expect(canonical.services[name][field]).toEqual(hand.services[name][field]);
        });
    });

    it("compareModels names a differing field", () => {
        const changed = normalizeComposeConfigJson(canonicalText.replace('"published": "8080"', '"published": "8090"'));
        const diffs = compareModels(hand, changed);
        expect(diffs).toHaveLength(1);
        expect(diffs[0]).toMatch(/^services\.web\.ports: /);
    });

    it("compareModels names a service only one side has", () => {
        const { api: _api, ...onlyWeb } = canonical.services;
        expect(compareModels(hand, { ...canonical, services: onlyWeb })).toEqual(["services.api: only in the hand-written model"]);
    });

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
});

describe("readComposeModel: several files merged in order (fixture merge/)", () => {
    const files = ["compose.yaml", "compose.override.yaml", "compose.ports.yaml"].map((f) => fixture("merge", f));
    const model = readComposeModel(files, {});
    const web = model.services.web;

    it("services merged by name; new services come after, in file order", () => {
        expect(Object.keys(model.services)).toEqual(["web", "db", "worker"]);
    });

    it("scalars are replaced by the later file", () => {
        expect(web.image).toBe("nginx:1.29-alpine");
        expect(web.command).toBe("nginx-debug -g 'daemon off;'");
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

    it("env_file lists are concatenated; later files and `environment` win", () => {
        expect(web.env_file).toEqual([fixture("merge/base.env"), fixture("merge/override.env")]);
        expect(web.environment).toEqual({ A: "1", B: "2", KEEP: "base", LEVEL: "debug", SHARED: "override" });
    });

    it("maps (labels, depends_on) merge, list and map forms alike", () => {
        expect(web.labels).toEqual({ team: "web", tier: "front" });
        expect(model.services.worker.depends_on).toEqual({ db: { condition: "service_healthy" } });
        expect(model.services.db.ports).toEqual([{ target: 5432, published: 5432, protocol: "tcp" }]);
        expect(model.services.db.environment).toEqual({ POSTGRES_PASSWORD: "postgres" });
    });

    it("the order of the files matters", () => {
        const reversed = readComposeModel([files[1], files[0]], {}, undefined, { projectDir: fixture("merge") });
        expect(reversed.services.web.image).toBe("nginx:1.27-alpine");
        expect(Object.keys(reversed.services)).toEqual(["web", "worker", "db"]);
    });

    it("honours !reset and !override on service attributes", () => {
        const model2 = readComposeModel(["/p/a.yaml", "/p/b.yaml"], {}, memFs({
            "/p/a.yaml": "services:\n  s:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
            "/p/b.yaml": "services:\n  s:\n    ports: !reset []\n    environment: !override {C: '3'}\n",
        }));
        expect(model2.services.s.ports).toEqual([]);
        expect(model2.services.s.environment).toEqual({ C: "3" });
    });

    it("applies extends of a service of the same project", () => {
        const m = readYaml("services:\n  base:\n    image: x\n    environment: {A: '1'}\n  s:\n    extends: base\n    environment: {B: '2'}\n");
        expect(m.services.s.image).toBe("x");
        expect(m.services.s.environment).toEqual({ A: "1", B: "2" });
        expect(m.services.s.extra).toEqual({});
    });

    it("leaves out services whose profiles are not active (COMPOSE_PROFILES)", () => {
        const yaml = "services:\n  app:\n    image: x\n  debug:\n    image: y\n    profiles: [debug]\n";
        expect(Object.keys(readYaml(yaml).services)).toEqual(["app"]);
        expect(Object.keys(readYaml(yaml, { COMPOSE_PROFILES: "debug" }).services)).toEqual(["app", "debug"]);
    });
});

describe("interpolate", () => {
    const vars: Record<string, string> = { SET: "v", EMPTY: "" };
    const lookup = (k: string): string | undefined => (Object.hasOwn(vars, k) ? vars[k] : undefined);

    it.each([
        ["$SET", "v"],
        ["${SET}", "v"],
        ["${UNSET}", ""],
        ["${SET:-d}", "v"],
        ["${UNSET:-d}", "d"],
        ["${EMPTY:-d}", "d"],
        ["${UNSET-d}", "d"],
        ["${EMPTY-d}", ""],
        ["${UNSET:-}", ""],
        ["${SET:+r}", "r"],
        ["${EMPTY:+r}", ""],
        ["${EMPTY+r}", "r"],
        ["${UNSET+r}", ""],
        ["${SET:?never shown}", "v"],
        ["${EMPTY?not required to be non-empty}", ""],
        ["$$SET", "$SET"],
        ["$${SET}", "${SET}"],
        ["a$$b", "a$b"],
        ["${UNSET:-${SET}}", "v"],
        ["${UNSET:-${ALSO_UNSET:-deep}}", "deep"],
        ["${UNSET:-a $$ b}", "a $ b"],
        ["pre-${SET}-post", "pre-v-post"],
        ["$SET.txt", "v.txt"],
        ["$SET_x", ""],
        ["costs 5$", "costs 5$"],
        ["5$ and $ alone and $-dash", "5$ and $ alone and $-dash"],
        ["no variables", "no variables"],
    ])("%s -> %j", (text, expected) => {
        expect(interpolate(text, lookup)).toBe(expected);
    });

    it.each([
        ["${UNSET:?set UNSET please}", /required variable UNSET is missing a value: set UNSET please/],
        ["${EMPTY:?}", /^required variable EMPTY is missing a value$/],
        ["${UNSET?why}", /required variable UNSET is missing a value: why/],
        ["${SET", /without a closing "}"/],
        ["${1BAD}", /does not start with a variable name/],
        ["${SET:x}", /use :-, -, :\?, \?, :\+ or \+/],
    ])("%s is an error", (text, message) => {
        expect(() => interpolate(text, lookup)).toThrow(message);
    });

    it("keeps a $ followed by a digit", () => {
        expect(interpolate("price: $1", lookup)).toBe("price: $1");
    });

    it("reports each plain reference to an unset variable", () => {
        const unset: string[] = [];
        interpolate("$A ${B} ${C:-x} $SET", lookup, (n) => unset.push(n));
        expect(unset).toEqual(["A", "B"]);
    });
});

describe("parseDotEnv", () => {
    const lookup = (k: string): string | undefined => ({ OUTER: "outer" } as Record<string, string>)[k];

    it.each([
        ["A=1", { A: "1" }],
        ["  A = 1  ", { A: "1" }],
        ["# comment\n\nA=1", { A: "1" }],
        ["export A=1", { A: "1" }],
        ["A=1 # trailing comment", { A: "1" }],
        ["A=1#not a comment", { A: "1#not a comment" }],
        ['A="x # y"', { A: "x # y" }],
        ['A="line\\nbreak \\"q\\""', { A: 'line\nbreak "q"' }],
        ['A="multi\nline"', { A: "multi\nline" }],
        ["A='${OUTER} $literal'", { A: "${OUTER} $literal" }],
        ["A=${OUTER}-x", { A: "outer-x" }],
        ['A="\\$OUTER"', { A: "$OUTER" }],
        ["A=1\nB=${A}2", { A: "1", B: "12" }],
        ["OUTER=inner\nB=$OUTER", { OUTER: "inner", B: "outer" }],
        ["OUTER", { OUTER: "outer" }],
        ["NOT_SET_ANYWHERE", {}],
        ["A=", { A: "" }],
        ["A=1\r\nB=2\r\n", { A: "1", B: "2" }],
    ])("%j", (text, expected) => {
        expect(parseDotEnv(text, lookup, "/p/.env")).toEqual(expected);
    });

    it.each([
        ["not a line", /\/p\/\.env:1: "not a line" is not KEY=VALUE/],
        ['A=1\nB="open', /\/p\/\.env:2: the value of B opens a " quote/],
        ["A=${B:?needed}", /\/p\/\.env:1: A: required variable B/],
    ])("%j is an error naming the line", (text, message) => {
        expect(() => parseDotEnv(text, lookup, "/p/.env")).toThrow(message);
    });
});

describe("readComposeModel: interpolation in compose files (fixture interp/)", () => {
    const file = fixture("interp/compose.yaml");
    const env = { TAG: "from-env", FROM_ENV: "x", EMPTY: "" };
    const model = readComposeModel([file], env);

    it("the env passed in wins over .env", () => {
        expect(model.services.app.image).toBe("registry.local/app:from-env");
    });

    it(".env alone supplies what the env does not", () => {
        expect(readComposeModel([file], {}).services.app.image).toBe("registry.local/app:from-dotenv");
    });

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

    it("warns once per unset variable", () => {
        const warnings: string[] = [];
        readComposeModel([file], env, undefined, { onWarning: (w) => warnings.push(w) });
        expect(warnings).toEqual(['The "NOT_SET_ANYWHERE" variable is not set. Defaulting to a blank string.']);
    });

    it("never reads process.env", () => {
        process.env.DIND_COMPOSE_TEST_ONLY_IN_PROCESS_ENV = "leaked";
        try {
            const m = readYaml("services:\n  s:\n    image: x:${DIND_COMPOSE_TEST_ONLY_IN_PROCESS_ENV:-clean}\n");
            expect(m.services.s.image).toBe("x:clean");
        } finally {
            delete process.env.DIND_COMPOSE_TEST_ONLY_IN_PROCESS_ENV;
        }
    });

    it("reads .env from the project directory given, not the compose file's", () => {
        const files = { "/p/sub/compose.yaml": "services:\n  s:\n    image: x:${T}\n", "/p/.env": "T=project", "/p/sub/.env": "T=sub" };
        expect(readComposeModel(["/p/sub/compose.yaml"], {}, memFs(files)).services.s.image).toBe("x:sub");
        expect(readComposeModel(["/p/sub/compose.yaml"], {}, memFs(files), { projectDir: "/p" }).services.s.image).toBe("x:project");
    });
});

describe("readComposeModel: errors name the file, line and column", () => {
    it("broken YAML (fixture broken/compose.yaml)", () => {
        const message = composeErrorOf(() => readComposeModel([fixture("broken/compose.yaml")], {}));
        expect(message).toContain(`${fixture("broken/compose.yaml")}:4:11: `);
        expect(message).toMatch(/compose\.yaml:\d+:\d+: .*\(BLOCK_AS_IMPLICIT_KEY\)/);
    });

    it("yamlSyntaxError: the first syntax error at its exact line and column (compose's go-yaml names the enclosing block)", () => {
        const text = "services:\n  web:\n    image: x\n    command: [a]\n   ports:\n      - '80:80'\n";
        const e = yamlSyntaxError(text, "/p/compose.yaml");
        expect(e?.where).toBe("/p/compose.yaml:5:1");
        expect(e?.message).toMatch(/^\/p\/compose\.yaml:5:1: All mapping items must start at the same column \(BAD_INDENT\)\n[\s\S]*   ports:/);
        expect(yamlSyntaxError("services:\n  web:\n    image: x\n", "/p/compose.yaml")).toBeUndefined();
    });

    it("a missing required variable (fixture broken/required.yaml)", () => {
        expect(composeErrorOf(() => readComposeModel([fixture("broken/required.yaml")], {}))).toBe(
            `${fixture("broken/required.yaml")}:4:26: services.db.environment.POSTGRES_PASSWORD: required variable DB_PASSWORD is missing a value: set DB_PASSWORD in the project env`,
        );
        expect(readComposeModel([fixture("broken/required.yaml")], { DB_PASSWORD: "pw" }).services.db.environment).toEqual({ POSTGRES_PASSWORD: "pw" });
    });

    it.each([
        ["a duplicate key", "services:\n  s:\n    image: x\n    image: y\n", /^\/p\/compose\.yaml is not valid YAML:\n\/p\/compose\.yaml:4:5: Map keys must be unique \(DUPLICATE_KEY\)/],
        ["a tab indentation", "services:\n\ts:\n", /\/p\/compose\.yaml:2:1: /],
        ["a bad port, with its key path", "services:\n  s:\n    image: x\n    ports:\n      - '80'\n      - 'eighty'\n", /^\/p\/compose\.yaml:6:9: services\.s\.ports\[1\] "eighty": target "eighty" is not a port number/],
        ["a bad volume mode", "services:\n  s:\n    volumes: ['./a:/a:rx']\n", /^\/p\/compose\.yaml:3:15: services\.s\.volumes\[0\] "\.\/a:\/a:rx": mode "rx"/],
        ["a service that is not a mapping", "services:\n  s: [1]\n", /^\/p\/compose\.yaml:2:6: services\.s must be a mapping/],
        ["a top level that is not a mapping", "- a\n", /^\/p\/compose\.yaml:1:1: the top level must be a mapping/],
        ["include, unsupported", "include: [other.yaml]\n", /include is not supported/],
        ["a home-relative path", "services:\n  s:\n    volumes: ['~/.ssh:/root/.ssh']\n", /starts with "~"/],
        ["an unknown volume type", "services:\n  s:\n    volumes: [{type: npipe, source: x, target: /x}]\n", /services\.s\.volumes\[0\]\.type "npipe" is not a volume type/],
    ])("%s", (_what, yaml, message) => {
        expect(composeErrorOf(() => readYaml(yaml))).toMatch(message);
    });

    it("a compose file that cannot be read", () => {
        expect(composeErrorOf(() => readComposeModel(["/p/none.yaml"], {}, memFs({})))).toMatch(/^\/p\/none\.yaml: cannot read the compose file: ENOENT/);
    });

    it("a required env_file that is missing", () => {
        expect(composeErrorOf(() => readYaml("services:\n  s:\n    env_file: [missing.env]\n"))).toMatch(
            /services\.s\.env_file: env file \/p\/missing\.env not found/,
        );
    });

    it("no compose file at all", () => {
        expect(composeErrorOf(() => readComposeModel([], {}))).toMatch(/no compose file given/);
    });
});

describe("ports: short and long syntax", () => {
    const portsOf = (spec: unknown): PortModel[] => readYaml(`services:\n  s:\n    image: x\n    ports: [${JSON.stringify(spec)}]\n`).services.s.ports;

    it.each<[unknown, PortModel]>([
        ["3000", { target: 3000, protocol: "tcp" }],
        [3000, { target: 3000, protocol: "tcp" }],
        ["8080:80", { target: 80, published: 8080, protocol: "tcp" }],
        ["8080:80/udp", { target: 80, published: 8080, protocol: "udp" }],
        ["53/UDP", { target: 53, protocol: "udp" }],
        ["127.0.0.1:8080:80/udp", { target: 80, published: 8080, host_ip: "127.0.0.1", protocol: "udp" }],
        ["127.0.0.1::80", { target: 80, host_ip: "127.0.0.1", protocol: "tcp" }],
        ["[::1]:8080:80", { target: 80, published: 8080, host_ip: "::1", protocol: "tcp" }],
        [{ target: 80 }, { target: 80, protocol: "tcp" }],
        [{ target: 80, published: 8080 }, { target: 80, published: 8080, protocol: "tcp" }],
        [{ target: "80", published: "8080", host_ip: "0.0.0.0", protocol: "udp", mode: "host" }, { target: 80, published: 8080, host_ip: "0.0.0.0", protocol: "udp" }],
    ])("%j", (spec, expected) => {
        expect(portsOf(spec)).toEqual([expected]);
    });

    it.each<[unknown, RegExp]>([
        ["3000-3005", /port range \(3000-3005\); ranges are not supported/],
        ["8000-8001:80", /port range/],
        [{ target: 80, published: "8000-8001" }, /port range/],
        ["99999", /target "99999" is not a port number/],
        ["0:80", /published port "0" is not a port number/],
        ["80/icmp", /protocol "icmp" is not one of tcp, udp, sctp/],
        ["1.2.3.4:1:2:3", /is not \[HOST_IP:\]\[PUBLISHED:\]TARGET/],
        [{ published: 80 }, /has no target port/],
        [true, /must be a port spec or a mapping/],
    ])("%j is rejected", (spec, message) => {
        expect(composeErrorOf(() => portsOf(spec))).toMatch(message);
    });
});

describe("volumes: short and long syntax", () => {
    const volumesOf = (spec: unknown): VolumeModel[] => readYaml(`services:\n  s:\n    image: x\n    volumes: [${JSON.stringify(spec)}]\n`).services.s.volumes;

    it.each<[unknown, VolumeModel]>([
        ["./web:/app", { type: "bind", source: "/p/web", target: "/app", read_only: false }],
        ["./web:/app:ro", { type: "bind", source: "/p/web", target: "/app", read_only: true }],
        [".:/src", { type: "bind", source: "/p", target: "/src", read_only: false }],
        ["../shared:/shared", { type: "bind", source: "/shared", target: "/shared", read_only: false }],
        ["/abs/path:/in:rw", { type: "bind", source: "/abs/path", target: "/in", read_only: false }],
        ["./x:/x:ro,z", { type: "bind", source: "/p/x", target: "/x", read_only: true, options: { bind: { selinux: "z" } } }],
        ["data:/data", { type: "volume", source: "data", target: "/data", read_only: false }],
        ["data:/data:nocopy", { type: "volume", source: "data", target: "/data", read_only: false, options: { volume: { nocopy: true } } }],
        ["/anonymous", { type: "volume", target: "/anonymous", read_only: false }],
        [{ type: "bind", source: "web", target: "/app" }, { type: "bind", source: "/p/web", target: "/app", read_only: false }],
        [{ type: "bind", source: "./web", target: "/app", read_only: true, bind: { create_host_path: true } }, { type: "bind", source: "/p/web", target: "/app", read_only: true }],
        [{ type: "volume", source: "data", target: "/d", volume: { nocopy: true } }, { type: "volume", source: "data", target: "/d", read_only: false, options: { volume: { nocopy: true } } }],
        [{ type: "tmpfs", target: "/t", tmpfs: { size: 1000 } }, { type: "tmpfs", target: "/t", read_only: false, options: { tmpfs: { size: 1000 } } }],
    ])("%j", (spec, expected) => {
        expect(volumesOf(spec)).toEqual([expected]);
    });

    it("only bind sources are host paths", () => {
        const m = readYaml("services:\n  s:\n    image: x\n    volumes: ['./a:/a', 'named:/n', '/anon', {type: tmpfs, target: /t}]\n");
        expect(hostPaths(m)).toEqual(["/p/a"]);
    });
});

describe("build and env_file forms, configs and secrets (in memory)", () => {
    it.each<[string, string[]]>([
        ["build: .", ["/p", "/p/Dockerfile"]],
        ["build: {context: ./app}", ["/p/app", "/p/app/Dockerfile"]],
        ["build: {dockerfile: ci/Dockerfile}", ["/p", "/p/ci/Dockerfile"]],
        ["build: {context: ../up, dockerfile: /abs/Dockerfile}", ["/abs/Dockerfile", "/up"]],
        ["build: {context: ./app, dockerfile_inline: 'FROM scratch'}", ["/p/app"]],
        ["build: https://github.com/docker/welcome.git", []],
        ["build: {context: 'git@github.com:o/r.git'}", []],
        ["env_file: a.env", ["/p/a.env"]],
        ["env_file: [a.env, ../b.env]", ["/b.env", "/p/a.env"]],
        ["env_file: [{path: a.env, required: false}]", ["/p/a.env"]],
    ])("%s", (line, paths) => {
        const m = readYaml(`services:\n  s:\n    ${line}\n`, {}, { "/p/a.env": "A=1", "/b.env": "B=2" });
        expect(hostPaths(m)).toEqual(paths);
    });

    it("file-based configs and secrets are host paths; environment- and external-based ones are not", () => {
        const m = readYaml(
            "services: {}\nconfigs:\n  c1: {file: ./c.conf}\n  c2: {environment: C}\n  c3: {external: true}\nsecrets:\n  s1: {file: /run/s}\n  s2: {environment: S}\n",
        );
        expect(hostPaths(m)).toEqual(["/p/c.conf", "/run/s"]);
        expect(m.configs.c2).toEqual({ environment: "C" });
    });

    it("YAML anchors, aliases and << merge keys, interpolated once", () => {
        const m = readYaml("x-common: &common\n  image: app:${T}\n  restart: always\nservices:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    restart: 'no'\n", { T: "1" });
        expect([m.services.a.image, m.services.a.restart, m.services.b.image, m.services.b.restart]).toEqual(["app:1", "always", "app:1", "no"]);
    });

    it("an empty file is an empty model", () => {
        expect(readYaml("")).toEqual({ services: {}, volumes: {}, networks: {}, configs: {}, secrets: {} });
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
    it.each<[string, string, number | undefined]>([
        ["the first service that publishes", "services:\n  a: {image: x, ports: ['3000']}\n  b: {image: x, ports: ['9000:90', '9001:91']}\n", 9000],
        ["file order, not name order", "services:\n  z: {image: x, ports: ['7000:70']}\n  a: {image: x, ports: ['8000:80']}\n", 7000],
        ["long syntax", "services:\n  a: {image: x, ports: [{target: 80, published: 8081}]}\n", 8081],
        ["nothing published", "services:\n  a: {image: x, ports: ['3000'], expose: ['4000']}\n", undefined],
        ["no ports at all", "services:\n  a: {image: x}\n", undefined],
    ])("%s", (_what, yaml, port) => {
        expect(firstPublishedPort(readYaml(yaml))).toBe(port);
    });
});

describe("modelDigest", () => {
    const yaml = "services:\n  web:\n    image: x\n    environment: {A: '1', B: '2'}\n    ports: ['80:80']\nvolumes:\n  data: {}\n";
    const reordered = "volumes:\n  data: {}\nservices:\n  web:\n    ports: ['80:80']\n    environment: {B: '2', A: '1'}\n    image: x\n";

    it("is a sha256, independent of key order", () => {
        const d = modelDigest(readYaml(yaml));
        expect(d).toMatch(/^[0-9a-f]{64}$/);
        expect(modelDigest(readYaml(reordered))).toBe(d);
    });

    it("is the same for the same files every time, and for both syntaxes of the same thing", () => {
        expect(modelDigest(readComposeModel([fixture("paths/compose.yaml")], {}))).toBe(modelDigest(readComposeModel([fixture("paths/compose.yaml")], {})));
        expect(modelDigest(readYaml("services:\n  s: {image: x, ports: ['8080:80']}\n"))).toBe(
            modelDigest(readYaml("services:\n  s: {image: x, ports: [{target: 80, published: '8080'}]}\n")),
        );
    });

    it.each([
        ["image", yaml.replace("image: x", "image: y")],
        ["an env value", yaml.replace("A: '1'", "A: '3'")],
        ["a port", yaml.replace("'80:80'", "'81:80'")],
        ["a top-level volume", yaml.replace("data: {}", "data: {driver: local}")],
    ])("changes with %s", (_what, changed) => {
        expect(modelDigest(readYaml(changed))).not.toBe(modelDigest(readYaml(yaml)));
    });
});

describe("summarizeModel", () => {
    const yaml = [
        "services:",
        "  a:",
        "    build: ./a",
        "    ports: ['3000:3000']",
        "    volumes: ['./a/web:/app', 'cache:/cache:ro']",
        "    environment: {MODE: dev}",
        "  b:",
        "    image: nginx:1.29-alpine",
        "    ports: ['127.0.0.1:8080:80/udp', '9000']",
        "    depends_on: {a: {condition: service_healthy}}",
        "    labels: [team=b]",
        "    command: [nginx, -g, 'daemon off;']",
        "volumes:",
        "  cache: {}",
        "",
    ].join("\n");
    const before = summarizeModel(readYaml(yaml), { projectDir: "/p" });

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
        expect(summarizeModel(readYaml(yaml), { revealValues: true })["services.a.environment.MODE"]).toBe("dev");
    });

    it("without projectDir, paths stay absolute", () => {
        expect(summarizeModel(readYaml(yaml))["services.a.build.context"]).toBe("/p/a");
    });

    const changedKeys = (changed: string): string[] => {
        const after = summarizeModel(readYaml(changed), { projectDir: "/p" });
        const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
        return [...keys].filter((k) => before[k] !== after[k]).sort();
    };

    it.each<[string, string, string[]]>([
        ["b's image", yaml.replace("nginx:1.29-alpine", "nginx:1.30-alpine"), ["services.b.image"]],
        ["b's ports", yaml.replace("'9000'", "'9001'"), ["services.b.ports"]],
        ["a's environment value", yaml.replace("MODE: dev", "MODE: prod"), ["services.a.environment.MODE"]],
        ["an added variable of b", yaml.replace("labels: [team=b]", "labels: [team=b]\n    environment: [X=1]"), ["services.b.environment.X"]],
        ["a's bind mount", yaml.replace("./a/web:/app", "./a/www:/app"), ["services.a.volumes"]],
        ["a's restart policy (any other field)", yaml.replace("build: ./a", "build: ./a\n    restart: always"), ["services.a.restart"]],
        ["a top-level volume", yaml.replace("cache: {}", "cache: {driver: local}"), ["volumes.cache"]],
    ])("a change of %s changes only its keys", (_what, changed, keys) => {
        expect(changedKeys(changed)).toEqual(keys);
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
                kind: (p) => (Object.hasOwn(files, p) ? "file" : Object.hasOwn(links, p) ? "symlink" : dirs.has(p) ? "directory" : undefined),
                list: (dir) => [...new Set([...Object.keys(files), ...Object.keys(links), ...dirs].filter((p) => path.dirname(p) === dir).map((p) => path.basename(p)))],
                read: (p) => files[p],
                readLink: (p) => links[p],
            };
        };
        const files = { "/p/app/a.js": "1", "/p/app/.git/HEAD": "ref", "/p/app/node_modules/x.js": "x", "/p/app/Dockerfile": "FROM scratch" };

        it("skips .git, walks everything else, records symlinks by target", () => {
            const d = fileDigests(["/p/app"], "/p", { fs: tree(files, { "/p/app/link": "../elsewhere" }) });
            expect(Object.keys(d)).toEqual(["app/Dockerfile", "app/a.js", "app/link", "app/node_modules/x.js"]);
            expect(d["app/link"]).toBe("symlink:../elsewhere");
        });

        it("past the per-file limit, changes with any file's content, even the last of many", () => {
            const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`/p/app/node_modules/m${String(i).padStart(3, "0")}.js`, "x"]));
            const before = fileDigests(["/p/app"], "/p", { fs: tree({ ...files, ...many }) });
            const after = fileDigests(["/p/app"], "/p", { fs: tree({ ...files, ...many, "/p/app/node_modules/m299.js": "y" }) });
            expect(Object.keys(before)).toEqual(["app/"]);
            expect(before["app/"]).toMatch(/\(303 files\)$/);
            expect(after["app/"]).not.toBe(before["app/"]);
        });

        it("takes a file's digest from the file system when it can tell (a cache), without reading it", () => {
            const fs = { ...tree(files), read: () => { throw new Error("read"); }, digest: (p: string) => `sha256:cached-${path.basename(p)}` };
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
