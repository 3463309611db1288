// Host access and the compose passthrough, for real: `npm run env` points the
// host's docker/compose client at a project's inner daemon over TLS (its
// endpoint published on 127.0.0.1 only), and `npm run compose` runs any
// compose command against a project's daemon without host access.
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, docker, freePort, REPO_DIR, STAND_IN_IMAGES, TestStack } from "./harness";

describe("host access to a project's daemon, and npm run compose", () => {
    const stack = new TestStack("host");
    let projectA = "";
    let exports: Record<string, string> = {};

    beforeAll(async () => {
        projectA = copyExample("project-a", stack.workDir);
        await stack.init({
            projects: [
                { name: "a", path: projectA, preloadImages: [STAND_IN_IMAGES.busybox], daemonPort: 0 },
                { name: "b", path: copyExample("project-b", stack.workDir), preloadImages: [STAND_IN_IMAGES.busybox] },
            ],
            gateway: { httpPort: await freePort(), httpsPort: await freePort() },
        });
        await stack.pulumiOk("up", "--yes", "--skip-preview");
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("the daemon endpoint is published on 127.0.0.1 only, and only for the project that asked", async () => {
        const outputs = await stack.outputs();
        const endpoints = outputs.daemonEndpoints as Record<string, string>;
        expect(Object.keys(endpoints)).toEqual(["a"]);
        expect(endpoints.a).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
        const daemons = outputs.daemons as Record<string, string>;
        expect(await docker("port", daemons.b)).toBe("");
    });

    it("npm run env prints the exports; with them, docker compose on the host sees project a's own daemon", async () => {
        const env = await stack.run("node", ["scripts/daemon-env.js", "-s", stack.name, "a"]);
        expect(env.code, env.stderr).toBe(0);
        const line = env.stdout.split("\n").find((l) => l.startsWith("export ")) ?? "";
        exports = Object.fromEntries(
            line
                .replace(/^export /, "")
                .split(" ")
                .map((kv) => kv.split("=") as [string, string]),
        );
        expect(exports.DOCKER_TLS_VERIFY).toBe("1");
        expect(exports.COMPOSE_PROJECT_NAME).toBe("a");
        expect(fs.statSync(path.join(exports.DOCKER_CERT_PATH, "key.pem")).mode & 0o777).toBe(0o600);

        const ps = await stack.run("docker", ["compose", "ps", "--format", "{{.Name}} {{.State}}"], { cwd: projectA, env: exports });
        expect(ps.code, ps.stderr).toBe(0);
        expect(ps.stdout.trim()).toBe("a-web-1 running");
        const logs = await stack.run("docker", ["compose", "logs", "web"], { cwd: projectA, env: exports });
        expect(logs.stdout).toContain("serving /app on :3000");
    });

    it("TLS is required: without the client certificates the daemon refuses", async () => {
        const r = await stack.run("docker", ["version"], {
            env: { DOCKER_HOST: exports.DOCKER_HOST, DOCKER_TLS_VERIFY: "", DOCKER_CERT_PATH: "" },
        });
        expect(r.code).not.toBe(0);
    });

    it("with host access, `docker compose up --build` from the project directory rebuilds in the project's daemon (same paths)", async () => {
        const r = await stack.run("docker", ["compose", "up", "-d", "--wait", "--build"], { cwd: projectA, env: exports });
        expect(r.code, r.stderr).toBe(0);
        const images = await stack.run("docker", ["image", "ls", "--format", "{{.Repository}}"], { env: exports });
        expect(images.stdout.split("\n")).toContain("a-web");
    });

    it("npm run compose runs compose commands against a project's daemon without host access", async () => {
        const ps = await stack.run("node", ["scripts/compose.js", "-s", stack.name, "b", "ps", "--format", "{{.Name}}"]);
        expect(ps.code, ps.stderr).toBe(0);
        expect(ps.stdout.trim()).toBe("b-web-1");
        const exec = await stack.run("node", ["scripts/compose.js", "-s", stack.name, "b", "exec", "-T", "web", "cat", "/www/index.html"]);
        expect(exec.stdout).toContain("Project B");
        const unknown = await stack.run("node", ["scripts/compose.js", "-s", stack.name, "zz", "ps"]);
        expect(unknown.code).toBe(2);
        expect(unknown.stderr).toContain('no project "zz"');
        expect(unknown.stderr).toContain("known: a, b");
    });

    it("npm run env explains how to enable host access for a project without it", async () => {
        const r = await stack.run("node", ["scripts/daemon-env.js", "-s", stack.name, "b"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('project "b" does not publish its daemon; set daemonPort: 0');
    });

    it("npm's script entries exist (so the README's commands are real)", () => {
        const scripts = (JSON.parse(fs.readFileSync(path.join(REPO_DIR, "package.json"), "utf8")) as { scripts: Record<string, string> })
            .scripts;
        expect(scripts.env).toContain("scripts/daemon-env.js");
        expect(scripts.compose).toContain("scripts/compose.js");
    });
});
