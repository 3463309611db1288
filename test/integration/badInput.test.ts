// Issue 4, "Bad input": every kind of bad config stops the real `pulumi up`
// (and `pulumi preview`) before any resource, with one message that names the
// key or file, the bad value and the fix; nothing is created, and nothing that
// already runs is touched.
//
// Two stacks: one that never gets a good config (every row rewrites its config
// and runs `up`: each takes seconds), and one that first brings a project up,
// then gets the bad configs and must keep serving with the same containers.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliResult, copyExample, docker, freePort, httpGet, REPO_DIR, StackConfig, STAND_IN_IMAGES, TestStack } from "./harness";

/** The stand-in images the bootstrap chose on machines without a registry (with-env.sh exports them). */
const localImages = (): Record<string, string> => JSON.parse(process.env.DIND_COMPOSE_DEFAULT_IMAGES || "{}") as Record<string, string>;

/** Listens on a free 127.0.0.1 port until close(), as another program on the host would. */
async function holdPort(): Promise<{ port: number; close: () => Promise<void> }> {
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => resolve());
    });
    const addr = srv.address();
    return { port: typeof addr === "object" && addr ? addr.port : 0, close: () => new Promise((resolve) => srv.close(() => resolve())) };
}

/** The text of Pulumi's Diagnostics section (the program's error), for assertions and the log. */
function diagnostics(r: CliResult): string {
    const out = r.stdout + r.stderr;
    const start = out.indexOf("Diagnostics:");
    if (start === -1) return out;
    const ends = ["\nOutputs:", "\nResources:"].map((s) => out.indexOf(s, start)).filter((i) => i !== -1);
    return out.slice(start, ends.length > 0 ? Math.min(...ends) : undefined).trimEnd();
}

/** `pulumi up` failed on the config: non-zero exit, every expected part in the message, no resource step. */
function expectRejected(r: CliResult, ...parts: (string | RegExp)[]): void {
    const message = diagnostics(r);
    console.log(message);
    expect(r.code, message).not.toBe(0);
    expect(message).toContain("invalid dind-compose configuration");
    expect(message).toContain("nothing was created or changed");
    for (const part of parts) {
        if (typeof part === "string") expect(message).toContain(part);
        else expect(message).toMatch(part);
    }
    // The error is the program's own message: no stack trace, no inspected object.
    expect(message).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)|problems: \[/);
    // No step on any resource of the program (only Pulumi's own root Stack shows).
    expect(r.stdout).not.toMatch(/pulumi-nodejs:dynamic|dind-compose:index/);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("bad input: `pulumi up` stops before any resource with the key or file, the bad value and the fix", () => {
    const stack = new TestStack("badin");
    let projectB = "";
    let gateway: Record<string, unknown> = {};
    /** A config that would be good, to derive each bad one from. */
    let good: StackConfig;

    /** Rewrites the stack's config, runs the real `pulumi up` and returns its result. */
    async function upWith(config: StackConfig): Promise<CliResult> {
        stack.setConfig(config);
        return stack.pulumi("up", "--yes", "--skip-preview");
    }

    /**
     * Nothing on the engine carries the stack's label, and the state holds no resource of the program
     * (the root stack and the default provider of the dynamic resources are not: index.ts starts that
     * provider's plugin early, see startProviderPlugin).
     */
    async function expectNothingCreated(): Promise<void> {
        expect(await stack.leftovers()).toEqual([]);
        const state = JSON.parse((await stack.pulumiOk("stack", "export")).stdout) as { deployment: { resources?: { type: string }[] } };
        const types = (state.deployment.resources ?? []).map((r) => r.type);
        expect(types.filter((t) => t !== "pulumi:pulumi:Stack" && t !== "pulumi:providers:pulumi-nodejs")).toEqual([]);
    }

    beforeAll(async () => {
        projectB = copyExample("project-b", stack.workDir);
        gateway = { httpPort: await freePort(), httpsPort: await freePort() };
        good = {
            projects: [{ name: "b", path: projectB, preloadImages: [STAND_IN_IMAGES.busybox] }],
            gateway,
            dind: { security: "capabilities" },
        };
        await stack.init(good);
    });
    afterAll(async () => {
        await stack.cleanup();
        fs.rmSync(path.join(REPO_DIR, ".dind-compose", stack.name), { recursive: true, force: true });
        expect(await stack.leftovers()).toEqual([]);
    });

    it("missing project path", async () => {
        const missing = path.join(stack.workDir, "no-such-project");
        const r = await upWith({ ...good, projects: [{ name: "b", path: missing }] });
        expectRejected(r, `dind-compose:projects[0].path "${missing}": directory ${missing} does not exist; fix the path`);
        await expectNothingCreated();
    });

    it("missing compose file: the project directory has none", async () => {
        const empty = path.join(stack.workDir, "empty-project");
        fs.mkdirSync(empty, { recursive: true });
        const r = await upWith({ ...good, projects: [{ name: "b", path: empty }] });
        expectRejected(
            r,
            `dind-compose:projects[0]: no compose file in ${empty} (looked for compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml); add one or set dind-compose:projects[0].composeFiles`,
        );
        await expectNothingCreated();
    });

    it("missing compose file: composeFiles names a file that is not there", async () => {
        const r = await upWith({ ...good, projects: [{ name: "b", path: projectB, composeFiles: ["compose.prod.yaml"] }] });
        expectRejected(
            r,
            `dind-compose:projects[0].composeFiles[0] "compose.prod.yaml": file ${path.join(projectB, "compose.prod.yaml")} does not exist; fix the name or remove the key to use the default`,
        );
        await expectNothingCreated();
    });

    it("invalid YAML: up and preview both stop with the file and the exact line", async () => {
        const broken = path.join(stack.workDir, "broken-yaml");
        fs.cpSync(projectB, broken, { recursive: true });
        const file = path.join(broken, "compose.yaml");
        // The `ports:` line, indented by 3 spaces instead of 4.
        const lines = fs.readFileSync(file, "utf8").split("\n");
        const at = lines.indexOf("    ports:") + 1;
        expect(at).toBeGreaterThan(1);
        lines[at - 1] = "   ports:";
        fs.writeFileSync(file, lines.join("\n"));
        const config = { ...good, projects: [{ name: "b", path: broken }] };

        const expected = [
            `project b: docker compose config rejected ${file}:`,
            /yaml: line \d+: /, // compose's own words (its line is where the enclosing block starts)
            `exactly: ${file}:${at}:1: All mapping items must start at the same column (BAD_INDENT)`,
            "   ports:",
            `fix the YAML at ${file}:${at}:1, then run again`,
        ];
        expectRejected(await upWith(config), ...expected);
        await expectNothingCreated();
        expectRejected(await stack.pulumi("preview"), ...expected);
        await expectNothingCreated();
    });

    it("duplicate project names", async () => {
        const r = await upWith({
            ...good,
            projects: [
                { name: "b", path: projectB },
                { name: "b", path: projectB, hostname: "b2.project.localhost" },
            ],
        });
        expectRejected(r, `dind-compose:projects[1].name "b" is already used by dind-compose:projects[0]; each project needs its own name`);
        await expectNothingCreated();
    });

    it("duplicate hostnames", async () => {
        const r = await upWith({
            ...good,
            projects: [
                { name: "b", path: projectB },
                { name: "c", path: projectB, hostname: "b.project.localhost" },
            ],
        });
        expectRejected(
            r,
            `dind-compose:projects[1].hostname "b.project.localhost" is already used by dind-compose:projects[0]; each project needs its own hostname`,
        );
        await expectNothingCreated();
    });

    it("a route to a port no service publishes and a tcp port no service publishes (reported together)", async () => {
        const r = await upWith({
            ...good,
            projects: [
                { name: "b", path: projectB, routes: [{ service: "web", port: 8080 }], tcp: [{ port: 5432, hostPort: await freePort() }] },
            ],
        });
        expectRejected(r, `dind-compose:projects[0].routes[0].port 8080: no service publishes it; use one of "web"'s published ports (80)`);
        expectRejected(r, `dind-compose:projects[0].tcp[0].port 5432: no service of project b publishes it`);
        await expectNothingCreated();
    });

    it("two routes with one hostname across projects", async () => {
        const r = await upWith({
            ...good,
            projects: [
                { name: "b", path: projectB },
                { name: "c", path: projectB, routes: [{ service: "web", hostname: "b.project.localhost" }] },
            ],
        });
        expectRejected(
            r,
            `hostname b.project.localhost is routed twice: to project b service web port 80 and to project c service web port 80`,
        );
        await expectNothingCreated();
    });

    it("a file that compose would read and that is missing (an included file)", async () => {
        const dir = path.join(stack.workDir, "includes-missing");
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(
            path.join(dir, "compose.yaml"),
            `include:\n  - ../shared-nowhere/db.yaml\nservices:\n  web:\n    image: ${STAND_IN_IMAGES.busybox}\n    ports: ['80:80']\n`,
        );
        const r = await upWith({ ...good, projects: [{ name: "b", path: dir }] });
        expectRejected(
            r,
            `project b: include in ${dir}/compose.yaml names ../shared-nowhere/db.yaml, which does not exist (${path.join(stack.workDir, "shared-nowhere", "db.yaml")}); create it or fix the path in compose.yaml`,
        );
        await expectNothingCreated();
    });

    it("a tcp host port that another program listens on", async () => {
        const taken = await freePort();
        const server = net.createServer().listen(taken, "127.0.0.1");
        await new Promise((resolve) => server.once("listening", resolve));
        try {
            const r = await upWith({ ...good, projects: [{ name: "b", path: projectB, tcp: [{ port: 80, hostPort: taken }] }] });
            expectRejected(
                r,
                `dind-compose:projects[0].tcp[0].hostPort ${taken}: 127.0.0.1:${taken} is already in use by another program; choose a free port`,
            );
        } finally {
            server.close();
        }
        await expectNothingCreated();
    });

    /** A CA directory holding a certificate made with `extensions` and its key, without dind-compose's domain record. */
    function foreignCaDir(name: string, extensions: string[]): string {
        const dir = path.join(stack.workDir, name);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path.join(dir, "ca-key.pem")]);
        execFileSync("openssl", [
            "req",
            "-x509",
            "-new",
            "-key",
            path.join(dir, "ca-key.pem"),
            "-days",
            "365",
            "-subj",
            "/CN=not dind-compose",
            ...extensions.flatMap((e) => ["-addext", e]),
            "-out",
            path.join(dir, "ca.pem"),
        ]);
        return dir;
    }

    it("tls.caDir that cannot be written", async () => {
        const r = await upWith({ ...good, tls: { caDir: "/proc/dind-compose-ca" } });
        expectRejected(r, `dind-compose:tls.caDir "/proc/dind-compose-ca": cannot be made`, "or point the key at a writable directory");
        await expectNothingCreated();
    });

    it("tls.caDir whose certificate is not a CA, and one whose key does not match", async () => {
        const leaf = foreignCaDir("ca-leaf", ["basicConstraints=critical,CA:FALSE"]);
        expectRejected(
            await upWith({ ...good, tls: { caDir: leaf } }),
            `dind-compose:tls.caDir "${leaf}": ${leaf}/ca.pem (CN=not dind-compose) is not a CA certificate`,
            "or point dind-compose:tls.caDir at an empty directory",
        );
        const mismatched = foreignCaDir("ca-mismatch", [
            "basicConstraints=critical,CA:TRUE",
            "nameConstraints=critical,permitted;DNS:project.localhost",
        ]);
        execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path.join(mismatched, "ca-key.pem")]);
        expectRejected(
            await upWith({ ...good, tls: { caDir: mismatched } }),
            `the key ${mismatched}/ca-key.pem does not belong to the certificate ${mismatched}/ca.pem; put the matching key there`,
        );
        await expectNothingCreated();
    });

    it("a domain outside the constraints of a CA that dind-compose did not make: refused, the CA left as it is", async () => {
        const dir = foreignCaDir("ca-other-domain", [
            "basicConstraints=critical,CA:TRUE",
            "nameConstraints=critical,permitted;DNS:other.localhost",
        ]);
        const before = fs.readFileSync(path.join(dir, "ca.pem"), "utf8");
        const r = await upWith({ ...good, tls: { caDir: dir } });
        expectRejected(
            r,
            `permits only other.localhost, not dind-compose:domain "project.localhost"`,
            "have its maker re-issue it for project.localhost",
        );
        expect(fs.readFileSync(path.join(dir, "ca.pem"), "utf8")).toBe(before);
        await expectNothingCreated();
    });

    it("a project name that is not a DNS label", async () => {
        const r = await upWith({ ...good, projects: [{ name: "Web_1", path: projectB }] });
        expectRejected(
            r,
            `dind-compose:projects[0].name "Web_1" is not a DNS label; use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
        );
        await expectNothingCreated();
    });

    it("ports out of range (a project's port and the gateway's, reported together)", async () => {
        const r = await upWith({ ...good, projects: [{ name: "b", path: projectB, port: 70000 }], gateway: { ...gateway, httpPort: 0 } });
        expectRejected(
            r,
            "(2 problems)",
            "dind-compose:gateway.httpPort 0 is not a port number; use an integer from 1 to 65535",
            "dind-compose:projects[0].port 70000 is not a port number; use an integer from 1 to 65535",
        );
        await expectNothingCreated();
    });

    it.each(["httpPort", "httpsPort"])("a gateway port already in use on the host (gateway.%s)", async (key) => {
        const held = await holdPort();
        try {
            const r = await upWith({ ...good, gateway: { ...gateway, [key]: held.port } });
            expectRejected(
                r,
                `dind-compose:gateway.${key} ${held.port}: 127.0.0.1:${held.port} is already in use by another program; choose a free port (ss -ltn shows the ones in use) or stop that program`,
            );
            await expectNothingCreated();
        } finally {
            await held.close();
        }
    });

    it("an unknown security mode", async () => {
        const r = await upWith({ ...good, dind: { security: "root" } });
        expectRejected(r, `dind-compose:dind.security "root" is not a security mode; use one of privileged, capabilities, sysbox`);
        await expectNothingCreated();
    });

    it("an empty project list", async () => {
        const r = await upWith({ ...good, projects: [] });
        expectRejected(
            r,
            `dind-compose:projects must be a non-empty list of projects, got []; e.g. [{ name: a, path: examples/project-a }]`,
        );
        await expectNothingCreated();
    });

    it("an image that is neither present nor pullable", async () => {
        const r = await upWith({ ...good, images: { ...localImages(), dind: "dind-compose/nope:1" } });
        expectRejected(
            r,
            new RegExp(
                escape(`dind-compose:images.dind "dind-compose/nope:1" is not on the engine and not pullable (`) +
                    ".+" +
                    escape(
                        `); build or load it (npm run bootstrap builds offline stand-ins such as dind-compose/dind:26-trixie), or point dind-compose:images.dind at an image the engine has (docker image ls)`,
                    ),
            ),
        );
        await expectNothingCreated();
    });
});

describe("bad input on a running stack: the up fails before any change and the running project keeps serving", () => {
    const stack = new TestStack("badrun");
    let projectB = "";
    let port = 0;
    let good: StackConfig;
    let outputsBefore: Record<string, unknown> = {};
    /** What must not change: container IDs and start times, the labelled objects. */
    let before = "";

    const snapshot = async (): Promise<string> => {
        const daemon = (outputsBefore.daemons as Record<string, string>).b;
        const gatewayContainer = outputsBefore.gateway as string;
        const inspect = await docker(
            "inspect",
            "--format",
            "{{.Name}} {{.Id}} {{.State.StartedAt}} {{.State.Running}}",
            daemon,
            gatewayContainer,
        );
        return `${inspect}\n${(await stack.leftovers()).sort().join("\n")}`;
    };

    /** The project still answers through the gateway, and nothing moved. */
    async function expectUntouched(): Promise<void> {
        const r = await httpGet(port, "b.project.localhost");
        expect(r.status).toBe(200);
        expect(r.body).toContain('<h1 id="title">Project B</h1>');
        expect(await snapshot()).toBe(before);
        expect(await stack.outputs()).toEqual(outputsBefore);
    }

    beforeAll(async () => {
        projectB = copyExample("project-b", stack.workDir);
        port = await freePort();
        good = {
            projects: [{ name: "b", path: projectB, preloadImages: [STAND_IN_IMAGES.busybox] }],
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        };
        await stack.init(good);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        outputsBefore = await stack.outputs();
        before = await snapshot();
        console.log(before);
        expect((await httpGet(port, "b.project.localhost")).status).toBe(200);
    });
    afterAll(async () => {
        await stack.cleanup();
        fs.rmSync(path.join(REPO_DIR, ".dind-compose", stack.name), { recursive: true, force: true });
        expect(await stack.leftovers()).toEqual([]);
    });

    it("a duplicate project name: up fails before any change; the project answers with the same dind container", async () => {
        stack.setConfig({ ...good, projects: [...good.projects, { name: "b", path: projectB, hostname: "b2.project.localhost" }] });
        const r = await stack.pulumi("up", "--yes", "--skip-preview");
        expectRejected(r, `dind-compose:projects[1].name "b" is already used by dind-compose:projects[0]; each project needs its own name`);
        await expectUntouched();
    });

    it("bad input that would otherwise replace what runs (dind image, security mode, gateway port) stops before any change", async () => {
        // Each of these, if valid, would replace the dind container or the gateway.
        stack.setConfig({ ...good, images: { ...localImages(), dind: "dind-compose/nope:1" } });
        expectRejected(
            await stack.pulumi("up", "--yes", "--skip-preview"),
            `dind-compose:images.dind "dind-compose/nope:1" is not on the engine and not pullable`,
        );
        await expectUntouched();

        stack.setConfig({ ...good, dind: { security: "root" } });
        expectRejected(await stack.pulumi("up", "--yes", "--skip-preview"), `dind-compose:dind.security "root" is not a security mode`);
        await expectUntouched();

        const held = await holdPort();
        try {
            stack.setConfig({ ...good, gateway: { ...good.gateway, httpPort: held.port } });
            expectRejected(
                await stack.pulumi("up", "--yes", "--skip-preview"),
                `dind-compose:gateway.httpPort ${held.port}: 127.0.0.1:${held.port} is already in use by another program`,
            );
            await expectUntouched();
        } finally {
            await held.close();
        }
    });

    it("the running project's own compose file broken: preview and up both fail; the project keeps serving", async () => {
        stack.setConfig(good);
        const file = path.join(projectB, "compose.yaml");
        const text = fs.readFileSync(file, "utf8");
        const at = text.split("\n").indexOf("    ports:") + 1; // the line made bad
        expect(at).toBeGreaterThan(1);
        fs.writeFileSync(file, text.replace("    ports:\n", "   ports:\n"));
        try {
            expectRejected(await stack.pulumi("preview"), `fix the YAML at ${file}:${at}:1, then run again`);
            expectRejected(await stack.pulumi("up", "--yes", "--skip-preview"), `fix the YAML at ${file}:${at}:1, then run again`);
            await expectUntouched();
        } finally {
            fs.writeFileSync(file, text);
        }
    });

    it("with the good config back, up is a no-op: the failed ups left the state whole", async () => {
        stack.setConfig(good);
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/\d+ unchanged/);
        expect(up.stdout).not.toMatch(/ to update| updated| created| replaced| deleted/);
        await expectUntouched();
    });
});
