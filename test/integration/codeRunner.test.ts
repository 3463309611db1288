// examples/code-runner for real: `pulumi up` of the runner project against the
// real Docker engine, then snippets POSTed through the real nginx gateway
// (Host: runner.project.localhost). Each run is a throw-away container that the
// API service starts through the Engine API of the project's own inner daemon;
// the test watches that daemon (`docker exec <dind> docker ps`) and the outer
// engine to see where run containers live and that none is left behind.
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, docker, freePort, httpGet, httpsGet, REPO_DIR, STAND_IN_IMAGES, TestStack } from "./harness";

const HOST = "runner.project.localhost";
const RUN_LABEL = "dind-compose.code-runner=run";
const TIME_LIMIT_MS = 5000;

interface RunResult {
    stdout: string;
    stderr: string;
    exitCode: number;
    timedOut: boolean;
    oomKilled: boolean;
    truncated: boolean;
    durationMs: number;
}

/** POST a JSON body through the gateway with a Host header; the status and the parsed answer. */
function postJson(
    port: number,
    urlPath: string,
    body: unknown,
    timeoutMs = 60_000,
): Promise<{ status: number; json: Record<string, unknown> }> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                host: "127.0.0.1",
                port,
                path: urlPath,
                method: "POST",
                headers: { Host: HOST, "Content-Type": "application/json", "Content-Length": data.length },
                timeout: timeoutMs,
            },
            (res) => {
                let text = "";
                res.on("data", (d: Buffer) => (text += d.toString()));
                res.on("end", () => {
                    try {
                        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
                    } catch {
                        reject(new Error(`POST ${urlPath}: ${res.statusCode} and no JSON: ${text.slice(0, 500)}`));
                    }
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`POST http://${HOST}:${port}${urlPath} timed out`)));
        req.on("error", reject);
        req.end(data);
    });
}

describe("examples/code-runner: snippets in throw-away containers of the project's own daemon (real engine, real Pulumi)", () => {
    const stack = new TestStack("runner");
    let port = 0;
    let httpsPort = 0;
    let daemon = "";
    /** The API service's container: the only one the inner daemon keeps between runs. */
    let apiContainer = "";

    const run = async (language: string, code: string): Promise<RunResult> => {
        const r = await postJson(port, "/run", { language, code });
        if (r.status !== 200) throw new Error(`POST /run (${language}) answered ${r.status}: ${JSON.stringify(r.json)}`);
        return r.json as unknown as RunResult;
    };
    /** Every container of the runner's inner daemon, running or not. */
    const innerContainers = () =>
        docker("exec", daemon, "docker", "ps", "-aq", "--no-trunc").then((s) => s.split("\n").filter(Boolean).sort());
    const innerRuns = () =>
        docker("exec", daemon, "docker", "ps", "-aq", "--filter", `label=${RUN_LABEL}`).then((s) => s.split("\n").filter(Boolean));
    const outerRuns = async () =>
        [
            ...(await docker("ps", "-aq", "--filter", `label=${RUN_LABEL}`)).split("\n"),
            ...(await docker("ps", "-aq", "--filter", "name=^code-runner-")).split("\n"),
        ].filter(Boolean);

    beforeAll(async () => {
        port = await freePort();
        httpsPort = await freePort();
        const dir = copyExample("code-runner", stack.workDir);
        await stack.init({
            projects: [{ name: "runner", path: dir, preloadImages: [STAND_IN_IMAGES.python, STAND_IN_IMAGES.busybox] }],
            gateway: { httpPort: port, httpsPort },
            dind: { security: "capabilities" },
        });
    });
    afterAll(async () => {
        await stack.cleanup();
        // the gateway CA file the program writes per stack (index.ts); destroy leaves it
        fs.rmSync(path.join(REPO_DIR, ".dind-compose", stack.name), { recursive: true, force: true });
        expect(await stack.leftovers()).toEqual([]);
    });

    it("pulumi up: the page answers at runner.<domain> (HTTP and HTTPS) with the ids a browser test uses", async () => {
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        const outputs = await stack.outputs();
        expect(outputs.urls).toEqual({ runner: `http://${HOST}:${port}/` });
        expect(outputs.services).toEqual({ runner: { api: "running" } });
        daemon = (outputs.daemons as Record<string, string>).runner;

        const page = await httpGet(port, HOST);
        expect(page.status).toBe(200);
        for (const id of ["code", "language", "run", "output", "exit-code"]) expect(page.body).toContain(`id="${id}"`);
        expect(page.body).toContain('<option value="python">');
        const overTls = await httpsGet(httpsPort, HOST, String(outputs.caCertificate));
        expect(overTls.status).toBe(200);
        expect(overTls.body).toContain('id="code"');

        const containers = await innerContainers();
        expect(containers).toHaveLength(1);
        apiContainer = containers[0];
    });

    it("the service's /var/run/docker.sock is the runner's own inner daemon, and the dind container mounts nothing of the host's /run", async () => {
        const mounts = JSON.parse(await docker("inspect", "--format", "{{json .Mounts}}", daemon)) as {
            Source: string;
            Destination: string;
        }[];
        for (const m of mounts) expect(["/run", "/var/run"]).not.toContain(m.Destination);
        // The Engine API seen from the api service answers with the inner daemon's name (the dind hostname).
        const name = await docker(
            "exec",
            daemon,
            "docker",
            "exec",
            "runner-api-1",
            "python3",
            "-c",
            "import sys; sys.path.insert(0, '/app'); import server, json; print(server.engine('GET', '/info')['Name'])",
        );
        expect(name).toBe("runner");
        expect(name).not.toBe(await docker("info", "--format", "{{.Name}}"));
    });

    it("a sh snippet: its stdout, stderr and exit code", async () => {
        const r = await run("sh", 'echo "hello from sh"; echo oops >&2; exit 3');
        expect(r).toMatchObject({ stdout: "hello from sh\n", stderr: "oops\n", exitCode: 3, timedOut: false, oomKilled: false });
        expect(r.durationMs).toBeLessThan(TIME_LIMIT_MS);
    });

    it("a python snippet: its stdout and exit code, and no network", async () => {
        const r = await run("python", "import sys\nprint(sum(range(10)), sys.version_info[0])");
        expect(r).toMatchObject({ stdout: "45 3\n", stderr: "", exitCode: 0, timedOut: false });
        const net = await run(
            "python",
            'import os, socket\nprint(sorted(os.listdir("/sys/class/net")))\nsocket.create_connection(("1.1.1.1", 80), timeout=2)',
        );
        expect(net.stdout).toBe("['lo']\n");
        expect(net.exitCode).toBe(1);
        expect(net.stderr).toMatch(/OSError|unreachable/i);
    });

    it("output beyond 64 KiB per stream is cut, and says so", async () => {
        const r = await run("python", 'import sys\nprint("to stderr", file=sys.stderr)\nprint("x" * 200000)');
        expect(r).toMatchObject({ stderr: "to stderr\n", exitCode: 0, truncated: true });
        expect(r.stdout).toBe("x".repeat(64 * 1024));
    });

    it("a snippet that loops forever is killed at the time limit, and its container is gone afterwards", async () => {
        const r = await run("sh", "echo started; while :; do :; done");
        console.log(`endless loop: timedOut ${r.timedOut}, exit ${r.exitCode}, ${r.durationMs} ms`);
        expect(r.timedOut).toBe(true);
        expect(r.stdout).toBe("started\n");
        expect(r.exitCode).toBe(137);
        expect(r.durationMs).toBeGreaterThanOrEqual(TIME_LIMIT_MS);
        expect(r.durationMs).toBeLessThan(TIME_LIMIT_MS + 5000);
        expect(await innerContainers()).toEqual([apiContainer]);
    });

    it("a snippet allocating more than the memory limit (64 MiB) fails; one that stays below it runs", async () => {
        const below = await run("python", 'data = b"x" * (16 * 1024 * 1024)\nprint("allocated", len(data))');
        expect(below).toMatchObject({ stdout: `allocated ${16 * 1024 * 1024}\n`, exitCode: 0, oomKilled: false });
        const r = await run("python", 'data = b"x" * (256 * 1024 * 1024)\nprint("allocated", len(data))');
        console.log(
            `256 MiB allocation: exit ${r.exitCode}, oomKilled ${r.oomKilled}, ${r.durationMs} ms, stderr ${JSON.stringify(r.stderr.slice(-200))}`,
        );
        expect(r.stdout).not.toContain("allocated");
        expect(r.exitCode).not.toBe(0);
        expect(r.oomKilled || /MemoryError/.test(r.stderr)).toBe(true);
        expect(r.timedOut).toBe(false);
        expect(await innerContainers()).toEqual([apiContainer]);
    });

    it("5 concurrent requests each get their own output", async () => {
        const tokens = Array.from({ length: 5 }, (_, i) => `run-${i}-${crypto.randomBytes(4).toString("hex")}`);
        const started = Date.now();
        const results = await Promise.all(
            tokens.map((t, i) =>
                i % 2 === 0 ? run("sh", `sleep 1; echo ${t}`) : run("python", `import time\ntime.sleep(1)\nprint("${t}")`),
            ),
        );
        console.log(`5 concurrent runs in ${Date.now() - started} ms: ${results.map((r) => r.durationMs).join(", ")} ms each`);
        expect(results.map((r) => r.stdout)).toEqual(tokens.map((t) => `${t}\n`));
        for (const r of results) expect(r).toMatchObject({ exitCode: 0, timedOut: false, stderr: "" });
        expect(await innerContainers()).toEqual([apiContainer]);
    });

    it("output printed at once by the first instruction is never lost (20 quick runs, 4 at a time), and stdin reads end-of-file", async () => {
        // The race this guards: the engine answers an attach before it listens to the container's
        // streams; server.py's START_GATE holds each snippet until it does.
        const failures: string[] = [];
        for (let batch = 0; batch < 5; batch++) {
            const results = await Promise.all(
                [0, 1, 2, 3].map(async (i) => {
                    const token = `quick-${batch}-${i}`;
                    const r =
                        i % 2 === 0
                            ? await run("sh", `echo ${token}; exit 3`)
                            : await run("python", `import sys\nprint("${token}")\nsys.exit(3)`);
                    return { token, r };
                }),
            );
            for (const { token, r } of results) {
                if (r.stdout !== `${token}\n` || r.exitCode !== 3) failures.push(`${token}: ${JSON.stringify(r)}`);
            }
        }
        expect(failures).toEqual([]);
        const stdin = await run("python", "import sys\nprint(repr(sys.stdin.read()))");
        expect(stdin).toMatchObject({ stdout: "''\n", exitCode: 0, timedOut: false });
        expect(await innerContainers()).toEqual([apiContainer]);
    });

    it("run containers live only in the runner's own daemon; the outer engine has none", async () => {
        const pending = run("sh", "sleep 3; echo done");
        let inner: string[] = [];
        for (let i = 0; i < 100 && inner.length === 0; i++) {
            inner = await innerRuns();
            if (inner.length === 0) await new Promise((r) => setTimeout(r, 100));
        }
        expect(inner).toHaveLength(1);
        expect(await outerRuns()).toEqual([]);
        expect((await pending).stdout).toBe("done\n");
        expect(await innerRuns()).toEqual([]);
        expect(await innerContainers()).toEqual([apiContainer]);
    });

    it("bad requests get a 400 naming the fix", async () => {
        const unknown = await postJson(port, "/run", { language: "cobol", code: "DISPLAY 'HI'." });
        expect(unknown.status).toBe(400);
        expect(unknown.json.error).toMatch(/python, sh/);
        const malformed = await postJson(port, "/run", { code: "echo hi" });
        expect(malformed.status).toBe(400);
    });

    it("pulumi destroy leaves no container, volume or network with the stack's label", async () => {
        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
    });
});
