// The stack on an engine on another machine (DOCKER_HOST over TLS, then over ssh): the project
// files travel to the daemons (dind-compose:files auto picks sync), edits and deletions follow on
// `up` and in `npm run sync -- --watch`, the gateway answers on the remote, and `destroy` leaves
// nothing there. The remote is a dind container with its own filesystem (remoteEngine.ts), where
// this machine's folders do not exist.
import { spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, docker, freePort, httpGet, REPO_DIR, STAND_IN_IMAGES, TestStack } from "./harness";
import { RemoteEngine } from "./remoteEngine";

const IMAGES = { dind: STAND_IN_IMAGES.dind, nginx: STAND_IN_IMAGES.nginx };
/** The gateway's ports inside the remote (its own network namespace: they clash with nothing here). */
const REMOTE_HTTP = 18080;
const REMOTE_HTTPS = 18443;

let remote: RemoteEngine;
let work: string;

beforeAll(async () => {
    remote = await RemoteEngine.start([IMAGES.dind, IMAGES.nginx, STAND_IN_IMAGES.busybox], [REMOTE_HTTP, REMOTE_HTTPS]);
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-remote-src-"));
}, 300_000);

afterAll(async () => {
    await remote?.remove();
    // secret.txt's test leaves nothing unreadable behind, but a failed one might.
    if (work) fs.rmSync(work, { recursive: true, force: true });
}, 120_000);

/** Polls the gateway until `check` holds for the page (edits reach the child asynchronously in watch mode). */
async function eventually(port: number, host: string, urlPath: string, check: (status: number, body: string) => boolean, ms: number) {
    const deadline = Date.now() + ms;
    let last: string;
    for (;;) {
        const r = await httpGet(port, host, urlPath).catch((e: Error) => ({ status: 0, body: e.message }));
        if (check(r.status, r.body)) return Date.now();
        last = `${r.status} ${r.body.slice(0, 200)}`;
        if (Date.now() > deadline) throw new Error(`GET ${host}${urlPath} did not change as expected within ${ms} ms; last: ${last}`);
        await new Promise((res) => setTimeout(res, 100));
    }
}

describe("a remote engine over TLS (DOCKER_HOST=tcp://..., files: auto)", () => {
    const stack = new TestStack("remote");
    let a: string;
    let b: string;
    const http = () => remote.ports[REMOTE_HTTP];

    beforeAll(async () => {
        a = copyExample("project-a", work);
        b = copyExample("project-b", work);
        stack.useEngine(remote.tlsEnv);
        await stack.init({
            projects: [
                { name: "a", path: a, preloadImages: [STAND_IN_IMAGES.busybox] },
                { name: "b", path: b, preloadImages: [STAND_IN_IMAGES.busybox] },
            ],
            // 0.0.0.0 of the remote: its published ports (remoteEngine.ts) reach it from here.
            gateway: { bindAddress: "0.0.0.0", httpPort: REMOTE_HTTP, httpsPort: REMOTE_HTTPS },
            images: IMAGES,
            // Docker 26 inside the remote runs --privileged containers.
            dind: { security: "privileged" },
        });
    }, 60_000);
    afterAll(() => stack.cleanup(), 300_000);

    it("up says it syncs and why, prints how to reach the gateway, and the examples answer through the gateway on the remote", async () => {
        // The remote has none of this machine's folders: a bind mount would show it an empty directory.
        await expect(docker("exec", remote.name, "ls", a)).rejects.toThrow(/No such file or directory/);
        const r = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(r.stdout).toMatch(
            /project files: synced into source volumes \(dind-compose:files auto: the engine \(tcp:\/\/127\.0\.0\.1:\d+\) is on another machine/,
        );
        expect(r.stdout).toContain(
            `ssh -N -L 127.0.0.1:${REMOTE_HTTP}:127.0.0.1:${REMOTE_HTTP} -L 127.0.0.1:${REMOTE_HTTPS}:127.0.0.1:${REMOTE_HTTPS}`,
        );
        expect(r.stdout).toMatch(/\[a\] .*project-a: \d+ files sent/);
        const pageA = await httpGet(http(), "a.project.localhost");
        expect(pageA.status).toBe(200);
        expect(pageA.body).toContain('<h1 id="title">Project A</h1>');
        // Project a's child calls b by its hostname, through the gateway, all on the remote.
        const fromB = await httpGet(http(), "a.project.localhost", "/cgi-bin/from-b");
        expect(fromB.status).toBe(200);
        expect(fromB.body).toContain("Project B");
        const pageB = await httpGet(http(), "b.project.localhost");
        expect(pageB.status).toBe(200);
        const outputs = await stack.outputs();
        expect((outputs.files as Record<string, { dirs: string[] }>).a.dirs).toEqual([a]);
        expect(outputs.access as string[]).toEqual(expect.arrayContaining([expect.stringContaining("ssh -N")]));
        // A no-op: nothing to send, nothing to change.
        const again = await stack.pulumiOk("preview", "--diff");
        expect(again.stdout).not.toMatch(/^\s+[~+-] /m);
        expect(again.stdout).not.toMatch(/to send/);
    }, 600_000);

    it("a file edited here: preview names it, up sends it, the child serves it", async () => {
        fs.writeFileSync(path.join(a, "web", "index.html"), "<h1>edited on this machine</h1>\n");
        // `preview` names the files; `preview --diff` (which shows no info lines) the folder's digest.
        const preview = await stack.pulumiOk("preview");
        expect(preview.stdout).toMatch(/\[a\] .*project-a: 1 file to send: web\/index\.html/);
        const diff = await stack.pulumiOk("preview", "--diff");
        expect(diff.stdout).toContain("env-a-files");
        expect(diff.stdout).toMatch(new RegExp(`~ ${a.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: \\{`));
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/\[a\] .*project-a: 1 file sent/);
        // Only the files changed: compose was not run again for a bind-mounted file.
        expect(up.stdout).not.toMatch(/compose:Stack env-a-stack updat/);
        const page = await httpGet(http(), "a.project.localhost");
        expect(page.body).toContain("edited on this machine");
    }, 300_000);

    it("a file deleted here is deleted there on up", async () => {
        fs.writeFileSync(path.join(a, "web", "gone.html"), "soon gone\n");
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect((await httpGet(http(), "a.project.localhost", "/gone.html")).status).toBe(200);
        fs.rmSync(path.join(a, "web", "gone.html"));
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/1 file deleted in [\d.]+ s: web\/gone\.html \(deleted\)/);
        expect((await httpGet(http(), "a.project.localhost", "/gone.html")).status).toBe(404);
    }, 300_000);

    it("npm run sync -- --watch: an edit here reaches the child without an up", async () => {
        const watcher: ChildProcess = spawn("node", ["scripts/sync.js", "-s", stack.name, "a", "--watch"], {
            cwd: REPO_DIR,
            env: { ...process.env, ...stack.envForScripts() },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        watcher.stdout?.on("data", (d: Buffer) => (out += d.toString()));
        watcher.stderr?.on("data", (d: Buffer) => (out += d.toString()));
        try {
            const deadline = Date.now() + 60_000;
            while (!out.includes("watching")) {
                if (Date.now() > deadline || watcher.exitCode !== null) throw new Error(`sync --watch did not start: ${out}`);
                await new Promise((res) => setTimeout(res, 100));
            }
            const stamp = crypto.randomBytes(4).toString("hex");
            const written = Date.now();
            fs.writeFileSync(path.join(a, "web", "index.html"), `<h1>watched ${stamp}</h1>\n`);
            const seen = await eventually(http(), "a.project.localhost", "/", (s, body) => body.includes(stamp), 30_000);
            console.log(`[remote] watch: an edit reached the child through the gateway ${seen - written} ms after the write`);
            // rsync renames the file into place before it exits and the watcher prints what it sent.
            const said = Date.now() + 10_000;
            while (!/\[a\] .* web\/index\.html/.test(out) && Date.now() < said) await new Promise((res) => setTimeout(res, 100));
            expect(out).toMatch(/\[a\] .* web\/index\.html/);
        } finally {
            watcher.kill("SIGTERM");
        }
    }, 120_000);

    it("a connection cut in the middle of a sync: up fails, no half-written file under its name; the next up converges", async () => {
        const big = path.join(a, "big.bin");
        fs.writeFileSync(big, crypto.randomBytes(200 * 1024 * 1024));
        const want = crypto.createHash("sha256").update(fs.readFileSync(big)).digest("hex");
        const daemon = (await stack.outputs()).daemons as Record<string, string>;
        const up = stack.start("up", "--yes", "--skip-preview");
        // The receiving rsync runs in the dind container while the file streams in: kill it there,
        // once the file's temporary copy exists (before that, the rsync there may be the diff's dry run).
        const deadline = Date.now() + 120_000;
        let killed = false;
        while (!killed && Date.now() < deadline) {
            killed = await remote
                .docker("exec", daemon.a, "sh", "-c", `ls -a ${a} | grep -q '^\\.big\\.bin\\.' && pkill -KILL -f '[r]sync --server'`)
                .then(() => true)
                .catch(() => false);
            if (!killed) await new Promise((res) => setTimeout(res, 50));
        }
        expect(killed).toBe(true);
        const failed = await up.done;
        expect(failed.code).not.toBe(0);
        expect(failed.stdout).toMatch(/the sync of .*project-a to .* failed/);
        expect(failed.stdout).toContain("run 'pulumi up' again");
        // Nothing under the real name, or only the whole file (if the kill came just after it).
        const there = await remote.docker("exec", daemon.a, "sh", "-c", `sha256sum ${big} 2>/dev/null || echo absent`);
        expect(there === "absent" || there.startsWith(want)).toBe(true);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(await remote.docker("exec", daemon.a, "sha256sum", big)).toContain(want);
        // rsync's temporary files of the cut transfer are gone too.
        expect(await remote.docker("exec", daemon.a, "sh", "-c", `ls -a ${a} | grep -c '^\\.big\\.bin\\.' || true`)).toBe("0");
        fs.rmSync(big);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
    }, 600_000);

    it("a file this user cannot read is named, with the fix; the next up after the fix converges", async () => {
        const secret = path.join(a, "web", "secret.txt");
        fs.writeFileSync(secret, "not for you\n");
        fs.chmodSync(secret, 0o000);
        fs.chownSync(secret, 65534, 65534);
        // Tests run as root, who reads anything: drop the capabilities that let root ignore modes.
        const r = await stack.run("setpriv", [
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
            "pulumi",
            "up",
            "--yes",
            "--skip-preview",
            "--stack",
            stack.name,
            "--non-interactive",
        ]);
        expect(r.code).not.toBe(0);
        expect(r.stdout).toContain(`cannot read ${secret} (Permission denied) on this machine`);
        expect(r.stdout).toContain("Make it readable by this user");
        fs.rmSync(secret);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect((await httpGet(http(), "a.project.localhost", "/secret.txt")).status).toBe(404);
    }, 300_000);

    it("the remote unreachable at up: a clear error before anything changes, and nothing running is lost", async () => {
        const closed = await freePort();
        const r = await stack.run("pulumi", ["up", "--yes", "--skip-preview", "--stack", stack.name, "--non-interactive"], {
            env: { DOCKER_HOST: `tcp://127.0.0.1:${closed}` },
        });
        expect(r.code).not.toBe(0);
        expect(r.stdout).toContain(`the Docker engine at tcp://127.0.0.1:${closed} does not answer`);
        expect(r.stdout).toContain("nothing was created or changed");
        expect((await httpGet(http(), "a.project.localhost")).status).toBe(200);
        const preview = await stack.pulumiOk("preview", "--diff");
        expect(preview.stdout).not.toMatch(/^\s+[~+-] /m);
    }, 300_000);

    it("destroy leaves nothing on the remote, the source volumes included", async () => {
        const volumesBefore = await remote.docker("volume", "ls", "-q", "--filter", `label=dind-compose.stack=${stack.label}`);
        expect(volumesBefore.split("\n").filter((v) => /-src-/.test(v))).toHaveLength(2);
        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
    }, 300_000);
});

describe("the same remote over ssh (DOCKER_HOST=ssh://...)", () => {
    const stack = new TestStack("remote-ssh");
    let b: string;
    let tunnel: ChildProcess | undefined;

    beforeAll(async () => {
        b = copyExample("project-b", work + "-ssh");
        stack.useEngine(remote.sshEnv);
        await stack.init({
            projects: [{ name: "b", path: b, preloadImages: [STAND_IN_IMAGES.busybox] }],
            // 127.0.0.1 of the remote: reached through the tunnel that `up` prints.
            gateway: { bindAddress: "127.0.0.1", httpPort: await freePort(), httpsPort: await freePort() },
            images: IMAGES,
            dind: { security: "privileged" },
        });
    }, 60_000);
    afterAll(async () => {
        tunnel?.kill();
        await stack.cleanup();
        fs.rmSync(work + "-ssh", { recursive: true, force: true });
    }, 300_000);

    it("up over ssh; the printed ssh -L line opens the gateway here; an edit follows on up; destroy leaves nothing", async () => {
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/the engine \(ssh:\/\/root@127\.0\.0\.1:\d+\) is on another machine/);
        const access = (await stack.outputs()).access as string[];
        const line = access.map((l) => /(ssh -N .*)$/.exec(l)?.[1]).find((l) => l !== undefined) as string;
        expect(line).toMatch(new RegExp(`^ssh -N -p ${remote.ports[22]} -L `));
        const [cmd, ...args] = line.split(" ");
        const gatewayPort = Number(/-L 127\.0\.0\.1:(\d+):/.exec(line)?.[1]);
        tunnel = spawn(cmd, args, { env: { ...process.env, ...remote.sshEnv }, stdio: "ignore" });
        await eventually(gatewayPort, "b.project.localhost", "/", (s) => s === 200, 30_000);

        fs.writeFileSync(path.join(b, "html", "index.html"), "<h1>over ssh</h1>\n");
        const again = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(again.stdout).toMatch(/\[b\] .*project-b: 1 file sent/);
        expect((await httpGet(gatewayPort, "b.project.localhost")).body).toContain("over ssh");

        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
    }, 600_000);
});
