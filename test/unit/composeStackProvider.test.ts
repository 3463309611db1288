// The compose stack provider (components/providers/composeStack.ts) and the gateway upstreams
// provider (gatewayUpstreams.ts) against an in-memory engine (fakeEngine.ts): what their diffs
// name, when a daemon restart needs `up`, and what a failed update leaves in the state.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ComposeStackInputs, type ComposeStackOutputs, composeStackProvider } from "../../components/providers/composeStack";
import { setEngine } from "../../components/providers/engine";
import { type GatewayUpstreamsOutputs, gatewayUpstreamsProvider } from "../../components/providers/gatewayUpstreams";
import { behindTheBack, FakeEngine, type FakeContainer } from "./fakeEngine";

let fake: FakeEngine;
let daemon: FakeContainer;
/** What `docker compose ps` reports in the fake daemon (service -> state); what `up` leaves. */
let psStates: Record<string, string>;
let upFails: boolean;

const stack = composeStackProvider as Required<typeof composeStackProvider>;
const upstreams = gatewayUpstreamsProvider as Required<typeof gatewayUpstreamsProvider>;

const psOutput = (): string =>
    Object.entries(psStates)
        .map(([s, st]) => `${s}\t${st}\n`)
        .join("");

beforeEach(() => {
    fake = new FakeEngine();
    setEngine(fake);
    daemon = fake.addContainer("t-dev-a-dind", { labels: { "dind-compose.stack": "t-dev" } });
    psStates = { web: "running", db: "running" };
    upFails = false;
    // The dind container's answers: the poll script, `up` then `ps`, and `ps` alone.
    fake.execHandler = (_c, command) => {
        if (command[0] === "sh" && command[3] === "poll-daemon") return { stdout: "ready 1 26.1.5\n" };
        if (command[0] === "sh" && command[3] === "up-then-ps")
            return upFails ? { code: 1, stderr: "service web: image not found\n" } : { stdout: psOutput() };
        if (command.includes("ps")) return { stdout: psOutput() };
        return undefined;
    };
});
afterEach(() => setEngine(undefined));

const inputs = (over: Partial<ComposeStackInputs> = {}): ComposeStackInputs => ({
    daemon: "t-dev-a-dind",
    daemonId: daemon.id,
    project: "a",
    dir: "/srv/a",
    composeFiles: ["/srv/a/compose.yaml"],
    env: {},
    override: "",
    preloadImages: [],
    readyTimeoutSeconds: 30,
    model: { "services.web.image": "nginx", "services.db.image": "postgres" },
    buildFiles: { "/srv/a/web/Dockerfile": "aa" },
    sourceFiles: { "/srv/a/.env": "bb" },
    restartPolicy: "unless-stopped",
    ...over,
});

async function upped(i: ComposeStackInputs = inputs()): Promise<ComposeStackOutputs> {
    return ((await stack.create(i)) as { outs: ComposeStackOutputs }).outs;
}

describe("compose stack provider", () => {
    it("create runs up and records what runs and when the daemon started", async () => {
        const outs = await upped();
        expect(outs.services).toEqual({ web: "running", db: "running" });
        expect(outs.runningAfterUp).toEqual(["db", "web"]);
        expect(outs.daemonStartedAt).toBe(daemon.startedAt);
    });

    it("no change, no diff", async () => {
        const outs = await upped();
        expect(await stack.diff("id", outs, inputs())).toMatchObject({ changes: false, replaces: [], detailedDiff: {} });
    });

    it("the diff names the keys of model, buildFiles and sourceFiles that changed, as updates", async () => {
        const outs = await upped();
        const news = inputs({
            model: { "services.web.image": "nginx:2", "services.db.image": "postgres", "services.cache.image": "redis" },
            buildFiles: { "/srv/a/web/Dockerfile": "cc" },
            sourceFiles: {},
        });
        const d = (await stack.diff("id", outs, news)) as { replaces?: string[]; detailedDiff?: Record<string, { kind: string }> };
        expect(d.replaces).toEqual([]);
        expect(Object.keys(d.detailedDiff ?? {}).sort()).toEqual([
            'buildFiles["/srv/a/web/Dockerfile"]',
            'model["services.cache.image"]',
            'model["services.web.image"]',
            'sourceFiles["/srv/a/.env"]',
        ]);
        expect(Object.values(d.detailedDiff ?? {}).every((x) => x.kind === "update")).toBe(true);
    });

    it("a state without sourceFiles or restartPolicy (written before them) reads sourceFiles as none", async () => {
        const outs = await upped(inputs({ sourceFiles: undefined }));
        expect((await stack.diff("id", outs, inputs({ sourceFiles: {} }))).changes).toBe(false);
        expect(await stack.diff("id", { ...outs, restartPolicy: undefined }, inputs({ sourceFiles: {} }))).toMatchObject({
            changes: true,
            detailedDiff: { restartPolicy: { kind: "update" } },
        });
    });

    it("a new project name replaces the stack", async () => {
        const outs = await upped();
        expect(await stack.diff("id", outs, inputs({ project: "b" }))).toMatchObject({ changes: true, replaces: ["project"] });
    });

    it("daemon restarted, every service that ran after up runs again and a restart policy is set: no change", async () => {
        const outs = await upped();
        await behindTheBack(() => fake.restart("t-dev-a-dind"));
        expect((await stack.diff("id", outs, inputs())).changes).toBe(false);
    });

    it("daemon restarted and a service that ran after up does not run: up again (daemonStartedAt)", async () => {
        const outs = await upped();
        await behindTheBack(() => fake.restart("t-dev-a-dind"));
        psStates = { web: "running", db: "exited" };
        expect(await stack.diff("id", outs, inputs())).toMatchObject({
            changes: true,
            detailedDiff: { daemonStartedAt: { kind: "update", inputDiff: false } },
        });
    });

    it("daemon restarted under a state without restartPolicy: up again even when all runs", async () => {
        const outs = await upped(inputs({ restartPolicy: undefined }));
        await behindTheBack(() => fake.restart("t-dev-a-dind"));
        const d = await stack.diff("id", outs, inputs({ restartPolicy: undefined }));
        expect(d).toMatchObject({ changes: true, detailedDiff: { daemonStartedAt: { kind: "update", inputDiff: false } } });
    });

    it("after a refresh that found a service down: up again for that service", async () => {
        const outs = await upped();
        const d = await stack.diff("id", { ...outs, services: { web: "running", db: "exited" } }, inputs());
        expect(d).toMatchObject({ changes: true, detailedDiff: { 'services["db"]': { kind: "update", inputDiff: false } } });
    });

    it("a failed update carries the new inputs as the state (partial failure), with what runs now", async () => {
        const outs = await upped();
        upFails = true;
        psStates = { web: "exited", db: "running" };
        const news = inputs({ model: { "services.web.image": "nginx:broken", "services.db.image": "postgres" } });
        const err = (await stack.update("t-dev-a-dind/a", outs, news).catch((e: unknown) => e)) as Error & {
            id?: string;
            properties?: ComposeStackOutputs;
            reasons?: string[];
        };
        expect(err.message).toMatch(/project a: docker compose up failed \(exit 1\):\nservice web: image not found/);
        expect(err.id).toBe("t-dev-a-dind/a");
        expect(err.properties).toEqual({ ...news, services: { web: "exited", db: "running" }, runningAfterUp: [] });
        expect(err.reasons).toEqual([err.message]);
    });

    it("a dind container that is gone: up says so instead of waiting", async () => {
        await behindTheBack(() => fake.containers.clear());
        await expect(stack.create(inputs())).rejects.toThrow(/dind container t-dev-a-dind does not exist; run 'pulumi up --refresh'/);
    });

    it("read: a missing daemon container means the stack is gone; a stopped one, no services", async () => {
        const outs = await upped();
        await behindTheBack(() => fake.stopContainer("t-dev-a-dind"));
        expect(await stack.read("id", outs)).toEqual({ id: "id", props: { ...outs, daemonId: daemon.id, services: {} } });
        await behindTheBack(() => fake.removeContainer("t-dev-a-dind"));
        expect(await stack.read("id", outs)).toEqual({ id: "", props: {} });
    });

    it("delete of a stack whose daemon does not run is done without compose", async () => {
        const outs = await upped();
        await behindTheBack(() => fake.stopContainer("t-dev-a-dind"));
        fake.calls.length = 0;
        await stack.delete("id", outs);
        expect(fake.calls.some((c) => c.startsWith("exec"))).toBe(false);
    });

    it("delete tolerates an inner daemon that stopped answering, and fails for anything else", async () => {
        const outs = await upped();
        fake.execHandler = () => ({
            code: 1,
            stderr: "Cannot connect to the Docker daemon at tcp://localhost:2376. Is the docker daemon running?\n",
        });
        await stack.delete("id", outs);
        fake.execHandler = () => ({ code: 1, stderr: "permission denied\n" });
        await expect(stack.delete("id", outs)).rejects.toThrow(/project a: docker compose down failed \(exit 1\): permission denied/);
    });
});

describe("gateway upstreams provider", () => {
    const targets = (ids: Record<string, string>) => [
        { project: "zeta", daemonId: ids.zeta, network: "t-dev-zeta", port: 80 },
        { project: "alpha", daemonId: ids.alpha, network: "t-dev-alpha", port: 80 },
    ];

    async function setUp(): Promise<{ outs: GatewayUpstreamsOutputs; ids: Record<string, string> }> {
        fake.addContainer("t-dev-gateway");
        const ids: Record<string, string> = {};
        for (const p of ["zeta", "alpha"]) {
            await fake.createNetwork(`t-dev-${p}`, {}, {});
            ids[p] = fake.addContainer(`t-dev-${p}-dind`).id;
            fake.join(`t-dev-${p}`, `t-dev-${p}-dind`, p === "zeta" ? "10.9.0.2" : "10.8.0.2");
        }
        const i = { gateway: "t-dev-gateway", gatewayId: "g1", targets: targets(ids), reloadCommand: ["nginx", "-s", "reload"] };
        const { outs } = (await upstreams.create(i)) as { outs: GatewayUpstreamsOutputs };
        return { outs, ids };
    }

    it("a state whose addresses come back with keys sorted, targets in route order: no change", async () => {
        const { outs, ids } = await setUp();
        const sorted = Object.fromEntries(Object.entries(outs.addresses).sort(([a], [b]) => a.localeCompare(b)));
        expect(Object.keys(sorted)).toEqual(["alpha", "zeta"]);
        const d = await upstreams.diff(
            "id",
            { ...outs, addresses: sorted },
            { gateway: "t-dev-gateway", gatewayId: "g1", targets: targets(ids), reloadCommand: ["nginx", "-s", "reload"] },
        );
        expect(d).toMatchObject({ changes: false, detailedDiff: {} });
    });

    it("a daemon with a new address: the addresses change (not an input)", async () => {
        const { outs, ids } = await setUp();
        await behindTheBack(async () => {
            await fake.disconnectNetwork("t-dev-alpha", "t-dev-alpha-dind");
            fake.join("t-dev-alpha", "t-dev-alpha-dind", "10.8.0.7");
        });
        const d = await upstreams.diff("id", outs, {
            gateway: "t-dev-gateway",
            gatewayId: "g1",
            targets: targets(ids),
            reloadCommand: ["nginx", "-s", "reload"],
        });
        expect(d).toMatchObject({ changes: true, detailedDiff: { addresses: { kind: "update", inputDiff: false } } });
    });

    it("read and delete of a gateway that is gone or stopped change nothing", async () => {
        const { outs } = await setUp();
        await behindTheBack(() => fake.stopContainer("t-dev-gateway"));
        expect(await upstreams.read("id", outs)).toEqual({ id: "id", props: outs });
        await behindTheBack(() => fake.removeContainer("t-dev-gateway"));
        await upstreams.delete("id", outs);
        expect(await upstreams.read("id", outs)).toEqual({ id: "id", props: outs });
    });
});
