// Faults (issue 4), for real: the real Pulumi CLI against the real Docker
// engine, with daemons that never start, dind containers removed, killed and
// replaced behind Pulumi's back, child stacks that fail, an engine that
// diverged from the state, an interrupted `up`, and a child that wipes its own
// daemon. Each describe block owns one stack; the rows that share a stack run
// in order on it, and each leaves it in a state the next row can start from.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STACK_LABEL } from "../../components/names";
import {
    alive,
    copyExample,
    defaultImages,
    docker,
    freePort,
    httpGet,
    killAll,
    REPO_DIR,
    StackConfig,
    STAND_IN_IMAGES,
    TestStack,
} from "./harness";

const BUSYBOX = STAND_IN_IMAGES.busybox;
const KEEPER = path.join(REPO_DIR, "test/fixtures/projects/keeper");
const SWITCHABLE = path.join(REPO_DIR, "test/fixtures/projects/switchable");

/** Engine-side names (components/names.ts), known even when `up` failed and wrote no outputs. */
const names = (stack: TestStack) => {
    const prefix = `dind-compose-${stack.name}`;
    return {
        dind: (p: string) => `${prefix}-${p}-dind`,
        data: (p: string) => `${prefix}-${p}-data`,
        certs: (p: string) => `${prefix}-${p}-certs`,
        network: (p: string) => `${prefix}-${p}`,
        gateway: `${prefix}-gateway`,
    };
};

/** `docker <args>` against a project's inner daemon. */
const inner = (daemon: string, ...args: string[]) => docker("exec", daemon, "docker", ...args);
/** Inner container IDs of a project, from its own daemon. */
const innerIds = (daemon: string) => inner(daemon, "ps", "-aq", "--no-trunc").then((s) => s.split("\n").filter(Boolean).sort());
const containerId = (name: string) => docker("container", "inspect", "--format", "{{.Id}}", name);

/** GET through the gateway, or the error as a status-0 result (a project that is down must not throw). */
const get = (port: number, host: string, urlPath = "/") =>
    httpGet(port, host, urlPath, 5_000).catch((e: Error) => ({ status: 0, body: e.message }));

/** Pulumi's checkpoint, summarised: resource URNs, how many of each type, pending operations. */
async function stateSummary(stack: TestStack) {
    const d = await stack.exportState();
    const resources = d.resources ?? [];
    const types: Record<string, number> = {};
    for (const r of resources) types[r.type] = (types[r.type] ?? 0) + 1;
    /** Provider IDs of one docker resource type (container IDs, volume and network names), sorted. */
    const ids = (kind: "Container" | "Volume" | "Network") =>
        resources
            .filter((r) => r.type === `pulumi-nodejs:dynamic/docker:${kind}`)
            .map((r) => r.id ?? "")
            .sort();
    return { urns: resources.map((r) => r.urn), types, ids, pending: d.pending_operations ?? [] };
}

/** Prints the Diagnostics section of a failed pulumi run (what the user reads), shortened. */
function logDiagnostics(stack: TestStack, out: string): void {
    const end = out.search(/\n(Outputs|Resources):/);
    const d = out.slice(Math.max(0, out.indexOf("Diagnostics:")), end < 0 ? undefined : end);
    const lines = d.split("\n").filter((l) => l.trim() !== "" && !/^\s*\[\w+\] /.test(l));
    console.log(`[${stack.name}] ${lines.slice(0, 24).join("\n")}`);
}

/**
 * Outer engine objects of dind-compose stacks, as "kind name id state stack" lines: of this stack
 * only, or (all) of every stack but other integration-test stacks (it-*), which concurrent test
 * runs create and destroy at any moment.
 */
async function outerObjects(stack: TestStack, which: "own" | "all" = "own"): Promise<string[]> {
    const filter = which === "own" ? `label=${STACK_LABEL}=${stack.label}` : `label=${STACK_LABEL}`;
    const label = `{{.Label "${STACK_LABEL}"}}`;
    const [c, v, n] = await Promise.all([
        docker("ps", "-a", "--filter", filter, "--format", `container {{.Names}} {{.ID}} {{.State}} ${label}`),
        docker("volume", "ls", "--filter", filter, "--format", `volume {{.Name}} - - ${label}`),
        docker("network", "ls", "--filter", filter, "--format", `network {{.Name}} {{.ID}} - ${label}`),
    ]);
    const lines = [c, v, n].flatMap((s) => s.split("\n")).filter(Boolean);
    return lines.filter((l) => l.endsWith(` ${stack.label}`) || !/ dind-compose\/it-[^ ]*$/.test(l)).sort();
}

describe("fault 1: an inner dockerd that is slow to start or never starts", () => {
    // Stacks and temp dirs are made in beforeAll, so a run filtered to other rows (-t) leaves nothing.
    let stack: TestStack;
    let n: ReturnType<typeof names>;
    let image = "";
    let buildDir = "";
    const READY_TIMEOUT = 20;
    const SLOW_SECONDS = 6;
    let port = 0;

    beforeAll(async () => {
        stack = new TestStack("fdaemon");
        n = names(stack);
        image = `dind-compose/faults-dind:${stack.name}`;
        buildDir = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-faults-image-"));
        // The real dind image with one twist, chosen by the container's hostname (the project
        // name): "slow" holds dockerd back for a while, "dead" gives dockerd an option it does not
        // know, so it exits at once, every time the restart policy starts it again.
        fs.writeFileSync(
            path.join(buildDir, "faults-entrypoint.sh"),
            [
                "#!/bin/sh",
                'case "$(hostname)" in',
                `slow) echo "faults: holding dockerd back for ${SLOW_SECONDS} s" >&2; sleep ${SLOW_SECONDS} ;;`,
                'dead) echo "faults: starting dockerd with an option it does not know" >&2; set -- --no-such-option "$@" ;;',
                "esac",
                'exec dockerd-entrypoint.sh "$@"',
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        fs.writeFileSync(
            path.join(buildDir, "Dockerfile"),
            `FROM ${defaultImages().dind}\nCOPY faults-entrypoint.sh /usr/local/bin/\nENTRYPOINT ["faults-entrypoint.sh"]\n`,
        );
        await docker("build", "--quiet", "--tag", image, buildDir);

        port = await freePort();
        const b = copyExample("project-b", stack.workDir);
        await stack.init({
            projects: ["ok", "slow", "dead"].map((name) => ({ name, path: b, preloadImages: [BUSYBOX] })),
            gateway: { httpPort: port, httpsPort: await freePort() },
            images: { ...defaultImages(), dind: image },
            dind: { security: "capabilities", readyTimeoutSeconds: READY_TIMEOUT },
        });
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
        await docker("rmi", image).catch(() => undefined);
        fs.rmSync(buildDir, { recursive: true, force: true });
        expect(await docker("image", "ls", "-q", image)).toBe("");
    });

    it("up waits for the slow daemon, fails for the dead one after the timeout with the last lines of its log, and brings the other projects up", async () => {
        const up = await stack.pulumi("up", "--yes", "--skip-preview");
        const out = up.stdout + up.stderr;
        expect(up.code).not.toBe(0);
        logDiagnostics(stack, out);

        // The dead one: the timeout, the attempts, and dockerd's own complaint from the container's log.
        expect(out).toContain(`project dead: inner daemon in ${n.dind("dead")} did not answer within ${READY_TIMEOUT} s`);
        expect(out).toMatch(/did not answer within \d+ s \((\d+) attempts; last error: /);
        expect(Number(out.match(/did not answer within \d+ s \((\d+) attempts/)?.[1])).toBeGreaterThan(5);
        expect(out).toContain("Last lines of its log:");
        expect(out).toContain("faults: starting dockerd with an option it does not know");
        expect(out).toContain("unknown flag: --no-such-option");
        expect(out).toContain("Raise dind-compose:dind.readyTimeoutSeconds");
        expect(up.seconds).toBeGreaterThanOrEqual(READY_TIMEOUT);

        // The slow one: the wait kept going until it answered.
        const slow = out.match(/\[slow\] inner daemon \S+ ready after ([\d.]+) s \((\d+) attempts\)/);
        expect(slow, out).not.toBeNull();
        expect(Number(slow?.[1])).toBeGreaterThanOrEqual(SLOW_SECONDS);

        // Nothing was torn down: the other two are up and answer; the dead one's container is still there.
        for (const p of ["ok", "slow"]) {
            const r = await get(port, `${p}.project.localhost`);
            expect(r.status, `${p}: ${r.body}`).toBe(200);
            expect(r.body).toContain("Project B");
            expect(await inner(n.dind(p), "ps", "--format", "{{.Names}} {{.State}}")).toBe(`${p}-web-1 running`);
        }
        expect(await docker("ps", "-a", "--filter", `name=^${n.dind("dead")}$`, "--format", "{{.Names}}")).toBe(n.dind("dead"));
        const state = await stateSummary(stack);
        expect(state.urns.filter((u) => u.endsWith("-stack"))).toEqual(
            expect.arrayContaining([expect.stringMatching(/::env-ok-stack$/), expect.stringMatching(/::env-slow-stack$/)]),
        );
        expect(state.urns.some((u) => u.endsWith("::env-dead-stack"))).toBe(false);
    });

    it("fault 5: destroy after the engine diverged (a dind container, a volume and a network removed by hand, a stranger joined to another network) completes and leaves nothing", async () => {
        await docker("rm", "--force", n.dind("ok"));
        await docker("volume", "rm", n.data("ok"), n.certs("ok"));
        await docker("network", "disconnect", "--force", n.network("ok"), n.gateway);
        await docker("network", "rm", n.network("ok"));
        // Not the stack's: it would keep the network from being removed, so destroy detaches it.
        const stranger = `${stack.name}-stranger`;
        await docker("run", "-d", "--name", stranger, "--network", n.network("slow"), BUSYBOX, "sleep", "600");
        try {
            const destroy = await stack.pulumiOk("destroy", "--yes", "--skip-preview");
            expect(destroy.stdout).toMatch(/deleted/);
            expect(await stack.leftovers()).toEqual([]);
            expect((await stateSummary(stack)).urns).toEqual([]);
            expect(await docker("inspect", "--format", "{{.State.Running}} {{len .NetworkSettings.Networks}}", stranger)).toBe("true 0");
        } finally {
            await docker("rm", "--force", stranger);
        }
    });
});

describe("faults 2, 3, 7: dind containers removed, killed, replaced; a child wiping its own daemon", () => {
    let stack: TestStack;
    let n: ReturnType<typeof names>;
    let tag = "";
    let port = 0;
    let config: StackConfig;
    const tokens: Record<string, string> = {};

    const token = async (p: string) => {
        const r = await get(port, `${p}.project.localhost`, "/token");
        expect(r.status, `${p}: ${r.body}`).toBe(200);
        return r.body.trim();
    };

    beforeAll(async () => {
        stack = new TestStack("fkeep");
        n = names(stack);
        tag = `dind-compose/dind:faults-${stack.name}`;
        port = await freePort();
        config = {
            projects: ["a", "b"].map((name) => ({ name, path: KEEPER, preloadImages: [BUSYBOX] })),
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        };
        await stack.init(config);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        for (const p of ["a", "b"]) tokens[p] = await token(p);
        expect(tokens.a).toMatch(/^[0-9a-f-]{36}$/);
        expect(tokens.b).not.toBe(tokens.a);
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
        await docker("rmi", tag).catch(() => undefined);
        expect(await docker("image", "ls", "-q", tag)).toBe("");
    });

    it("fault 2: a dind container removed by hand (docker rm -f): up --refresh recreates it and its stack; the child's named-volume data is intact", async () => {
        const oldId = await containerId(n.dind("a"));
        const bBefore = { dind: await containerId(n.dind("b")), inner: await innerIds(n.dind("b")) };
        await docker("rm", "--force", n.dind("a"));
        expect((await get(port, "a.project.localhost", "/token")).status).not.toBe(200);

        const up = await stack.pulumiOk("up", "--refresh", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/env-a-dind +created/);
        expect(up.stdout).toMatch(/env-a-stack +created/);
        expect(await containerId(n.dind("a"))).not.toBe(oldId);
        expect(await token("a")).toBe(tokens.a);
        // Project b was not touched.
        expect(await containerId(n.dind("b"))).toBe(bBefore.dind);
        expect(await innerIds(n.dind("b"))).toEqual(bBefore.inner);
    });

    it("fault 2: a dind container killed by hand (docker kill): up --refresh starts it and its stack again; the data is intact", async () => {
        const id = await containerId(n.dind("a"));
        const bInner = await innerIds(n.dind("b"));
        await docker("kill", n.dind("a"));
        expect(await docker("container", "inspect", "--format", "{{.State.Running}}", n.dind("a"))).toBe("false");
        expect((await get(port, "a.project.localhost", "/token")).status).not.toBe(200);

        const up = await stack.pulumiOk("up", "--refresh", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/env-a-dind +updated/);
        expect(up.stdout).toMatch(/\[a\] docker compose up/); // the child that was running is started again
        expect(await containerId(n.dind("a"))).toBe(id);
        expect(await token("a")).toBe(tokens.a);
        expect(await innerIds(n.dind("b"))).toEqual(bInner);
    });

    it("fault 2 without --refresh: a plain up sees a removed dind container and a killed one on the engine and restores both; data intact", async () => {
        const bInner = await innerIds(n.dind("b"));
        await docker("rm", "--force", n.dind("a"));
        await docker("kill", n.dind("b"));
        const preview = await stack.pulumiOk("preview", "--diff");
        expect(preview.stdout).toMatch(/Container: \(replace\)\n.*\n.*::env-a-dind\]/);
        expect(preview.stdout).toMatch(/Container: \(update\)\n.*\n.*::env-b-dind\]/);
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/env-a-dind +(created|replaced)/);
        expect(up.stdout).toMatch(/env-b-dind +updated/);
        // b's children come back by their restart policy when its daemon starts again: the same
        // containers, not new ones (compose up, if it ran, would keep them too).
        expect(await token("a")).toBe(tokens.a);
        await expect.poll(() => innerIds(n.dind("b")), { timeout: 30_000 }).toEqual(bInner);
        expect(await token("b")).toBe(tokens.b);
        // And the up after that runs no command.
        const again = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(again.stdout).not.toMatch(/docker compose up/);
    });

    it("fault 3: dind containers replaced (images.dind now names another tag): what children wrote into named volumes is read back unchanged", async () => {
        // One more file, written by the child process itself just before the replacement.
        await inner(n.dind("a"), "exec", "a-web-1", "sh", "-c", "echo written-before-replace > /data/extra");
        const before = { a: await containerId(n.dind("a")), b: await containerId(n.dind("b")) };
        await docker("tag", defaultImages().dind, tag);
        config = { ...config, images: { ...defaultImages(), dind: tag } };
        stack.setConfig(config);

        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/env-a-dind +replaced/);
        expect(up.stdout).toMatch(/env-b-dind +replaced/);
        // The data volume kept the inner image cache: the preloaded image is not copied again.
        expect(up.stdout).toMatch(/\[a\] inner daemon .* ready after/);
        expect(up.stdout).not.toMatch(/loading image/);
        for (const p of ["a", "b"] as const) {
            expect(await containerId(n.dind(p))).not.toBe(before[p]);
            expect(await docker("container", "inspect", "--format", "{{.Config.Image}}", n.dind(p))).toBe(tag);
            expect(await token(p)).toBe(tokens[p]);
        }
        expect((await get(port, "a.project.localhost", "/extra")).body).toBe("written-before-replace\n");
    });

    it("fault 7: a child wiping its own daemon (docker rm -f $(docker ps -aq); docker system prune -af --volumes) touches neither project b nor the outer engine", async () => {
        const outerImages = async () =>
            (await docker("image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"))
                .split("\n")
                .filter((l) => l.startsWith("dind-compose/"));
        const outerNetworks = async () =>
            (await docker("network", "ls", "--filter", "type=builtin", "--format", "{{.Name}} {{.ID}}")).split("\n").sort();
        const before = {
            own: await outerObjects(stack),
            stacks: await outerObjects(stack, "all"),
            images: await outerImages(),
            networks: await outerNetworks(),
            bInner: await innerIds(n.dind("b")),
            bImages: await inner(n.dind("b"), "image", "ls", "-q"),
            bVolumes: await inner(n.dind("b"), "volume", "ls", "-q"),
        };
        // The daemon a's children talk to is not the outer engine.
        expect(await inner(n.dind("a"), "info", "--format", "{{.ID}}")).not.toBe(await docker("info", "--format", "{{.ID}}"));

        // What a child with the daemon's socket can do: the same API, the same daemon.
        const wipe = await docker("exec", n.dind("a"), "sh", "-c", "docker rm -f $(docker ps -aq) && docker system prune -af --volumes");
        expect(wipe).toMatch(/Total reclaimed space/);
        expect(await inner(n.dind("a"), "ps", "-aq")).toBe("");
        expect(await inner(n.dind("a"), "image", "ls", "-q")).toBe("");
        // Docker >= 23 prunes anonymous volumes only: the child's named volume outlives the wipe.
        const volumesLeft = await inner(n.dind("a"), "volume", "ls", "-q");
        expect(volumesLeft).toBe("a_data");

        // Project b: still answers, same containers, images and volumes on its own daemon.
        expect(await token("b")).toBe(tokens.b);
        expect(await innerIds(n.dind("b"))).toEqual(before.bInner);
        expect(await inner(n.dind("b"), "image", "ls", "-q")).toBe(before.bImages);
        expect(await inner(n.dind("b"), "volume", "ls", "-q")).toBe(before.bVolumes);
        // The outer engine: this stack's and other (non-test) stacks' containers (same IDs, same
        // state), volumes and networks, the built-in networks, and every dind-compose image (prune -a
        // would have removed the unused ones).
        expect(await outerObjects(stack)).toEqual(before.own);
        expect(await outerObjects(stack, "all")).toEqual(before.stacks);
        expect(await outerNetworks()).toEqual(before.networks);
        expect(await outerImages()).toEqual(expect.arrayContaining(before.images));
        expect((await get(port, "a.project.localhost", "/token")).status).not.toBe(200);

        // And the wiped project comes back with up --refresh (its image loaded again).
        const up = await stack.pulumiOk("up", "--refresh", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/\[a\] loading image/);
        expect(up.stdout).not.toMatch(/\[b\] docker compose up/);
        expect(await token("a")).toBe(tokens.a);
        expect(await innerIds(n.dind("b"))).toEqual(before.bInner);
    });
});

describe("fault 4: a child stack that fails (missing image, bad command, failing healthcheck)", () => {
    let stack: TestStack;
    let n: ReturnType<typeof names>;
    const ports = { http: 0, https: 0 };
    let goodInner: string[] = [];

    const configWith = (env: Record<string, string>): StackConfig => ({
        projects: [
            { name: "good", path: KEEPER, preloadImages: [BUSYBOX] },
            { name: "c", path: SWITCHABLE, preloadImages: [BUSYBOX], env },
        ],
        gateway: { httpPort: ports.http, httpsPort: ports.https },
        dind: { security: "capabilities" },
    });

    /** Sets c's env (the fixture's switches), runs up, expects it to fail with compose's output; returns that output. */
    const failingUp = async (env: Record<string, string>): Promise<string> => {
        stack.setConfig(configWith(env));
        const up = await stack.pulumi("up", "--yes", "--skip-preview");
        const out = up.stdout + up.stderr;
        expect(up.code, out).not.toBe(0);
        expect(out).toMatch(/project c: docker compose up failed \(exit \d+\):/);
        logDiagnostics(stack, out);
        return out;
    };

    /** The other project is unaffected: it answers and its inner containers kept their IDs. */
    const goodUnaffected = async () => {
        const r = await get(ports.http, "good.project.localhost", "/token");
        expect(r.status, r.body).toBe(200);
        expect(await innerIds(n.dind("good"))).toEqual(goodInner);
    };

    beforeAll(async () => {
        stack = new TestStack("fchild");
        n = names(stack);
        ports.http = await freePort();
        ports.https = await freePort();
        await stack.init(configWith({}));
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect((await get(ports.http, "c.project.localhost")).body).toContain("Switchable");
        goodInner = await innerIds(n.dind("good"));
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("a missing image: up fails with compose's own error; the other project is unaffected", async () => {
        const out = await failingUp({ WEB_IMAGE: "dind-compose/no-such-image:1" });
        // compose names the service and the registry's answer (offline here: the registry's name does not resolve).
        expect(out).toMatch(/web +(Error|Pulling)/);
        expect(out).toMatch(/Error response from daemon: .*(pull access denied|repository does not exist|no such host|not found)/i);
        await goodUnaffected();
    });

    it("a bad command: up fails with compose's own error; the other project is unaffected", async () => {
        const out = await failingUp({ WEB_COMMAND: "/no/such/command" });
        expect(out).toMatch(/exec: "\/no\/such\/command": stat \/no\/such\/command: no such file or directory/);
        await goodUnaffected();
    });

    it("a failing healthcheck: up fails with compose's own error; the other project is unaffected", async () => {
        const out = await failingUp({ HEALTH_PATH: "missing.html" });
        expect(out).toMatch(/container c-web-1 is unhealthy/);
        await goodUnaffected();
    });

    it("the fixed config converges (the same config as before the failures: the failed update is retried, not skipped)", async () => {
        stack.setConfig(configWith({}));
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/\[c\] docker compose up/);
        const r = await get(ports.http, "c.project.localhost");
        expect(r.status, r.body).toBe(200);
        expect(r.body).toContain("Switchable");
        expect(await inner(n.dind("c"), "ps", "--format", "{{.Names}} {{.Status}}")).toMatch(/^c-web-1 Up .*\(healthy\)$/);
        await goodUnaffected();
    });

    it("destroy after a failed up is clean", async () => {
        await failingUp({ WEB_COMMAND: "/no/such/command" });
        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
        expect((await stateSummary(stack)).urns).toEqual([]);
    });
});

describe("fault 6: an up interrupted mid-way (the pulumi CLI killed with SIGKILL)", () => {
    let stack: TestStack;
    let n: ReturnType<typeof names>;
    let port = 0;

    beforeAll(async () => {
        stack = new TestStack("fkill");
        n = names(stack);
        port = await freePort();
        await stack.init({
            projects: [{ name: "a", path: KEEPER, preloadImages: [BUSYBOX] }],
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        });
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("after pulumi cancel (the documented recovery for the lock), the next up converges with no duplicates, and destroy leaves nothing", async () => {
        const running = stack.start("up", "--yes", "--skip-preview");
        // Mid-way: networks, volumes and containers are created, the compose stack is being created.
        await running.waitForOutput(/compose:Stack +env-a-stack +creating/);
        // The display runs ahead of the checkpoint: kill once the create is recorded as pending.
        for (let i = 0; i < 100 && !stack.pendingOnDisk().includes("pulumi-nodejs:dynamic/compose:Stack"); i++) {
            await new Promise((r) => setTimeout(r, 100));
        }
        expect(stack.pendingOnDisk()).toContain("pulumi-nodejs:dynamic/compose:Stack");
        const tree = running.descendants();
        running.kill("SIGKILL");
        const killed = await running.done;
        expect(killed.code).toBe(128);

        // The CLI's language host and provider plugin run in their own process groups: they outlive it.
        await new Promise((r) => setTimeout(r, 2_000));
        const orphans = alive(tree);
        console.log(
            `[${stack.name}] still running 2 s after the CLI was killed: ${orphans.length} of its ${tree.length} descendant processes`,
        );
        // End them (they are ours), as a user would have to, so nothing races the next up.
        killAll(orphans);

        // The file backend keeps the lock of the killed update: up refuses and names the recovery.
        expect(stack.locks()).toHaveLength(1);
        const locked = await stack.pulumi("up", "--yes", "--skip-preview");
        expect(locked.code).not.toBe(0);
        expect(locked.stdout + locked.stderr).toMatch(/the stack is currently locked by 1 lock\(s\).*`pulumi cancel`/s);
        expect((await stateSummary(stack)).pending).not.toEqual([]);

        await stack.pulumiOk("cancel", "--yes");
        expect(stack.locks()).toEqual([]);

        // The next up converges; Pulumi keeps the interrupted create as a pending operation and says so.
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout + up.stderr).toMatch(/pending operations? from previous deployment/);
        // Our creates adopt what an interrupted run left (same names), so the pending create can be dropped.
        await stack.pulumiOk("refresh", "--clear-pending-creates", "--yes", "--skip-preview");
        const state = await stateSummary(stack);
        expect(state.pending).toEqual([]);
        expect(new Set(state.urns).size).toBe(state.urns.length);
        expect(state.types["pulumi-nodejs:dynamic/compose:Stack"]).toBe(1);
        // No duplicates: the engine holds exactly the objects of the state, each once.
        const filter = `label=${STACK_LABEL}=${stack.label}`;
        const lines = async (...args: string[]) => (await docker(...args)).split("\n").filter(Boolean).sort();
        expect(await lines("ps", "-a", "--no-trunc", "-q", "--filter", filter)).toEqual(state.ids("Container"));
        expect(await lines("volume", "ls", "-q", "--filter", filter)).toEqual(state.ids("Volume"));
        expect(await lines("network", "ls", "--format", "{{.Name}}", "--filter", filter)).toEqual(state.ids("Network"));
        expect(state.ids("Container")).toHaveLength(2); // the gateway and a's dind
        expect(await docker("container", "inspect", "--format", "{{.State.Running}}", n.dind("a"), n.gateway)).toBe("true\ntrue");
        // One child container on the inner daemon.
        expect(await inner(n.dind("a"), "ps", "-a", "--format", "{{.Names}} {{.State}}")).toBe("a-web-1 running");
        expect((await get(port, "a.project.localhost", "/token")).status).toBe(200);

        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
        expect((await stateSummary(stack)).urns).toEqual([]);
    });
});
