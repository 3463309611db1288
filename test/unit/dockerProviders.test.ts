// The volume, network and container providers (components/providers/docker.ts) against an
// in-memory engine (fakeEngine.ts): which changes replace, which update in place, what the
// engine is asked to do, and what a missing or stopped object leads to.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setEngine } from "../../components/providers/engine";
import {
    type ContainerInputs,
    type ContainerOutputs,
    containerProvider,
    networkProvider,
    volumeProvider,
} from "../../components/providers/docker";
import { behindTheBack, FakeEngine } from "./fakeEngine";

const LABELS = { "dind-compose.stack": "t-dev" };
let fake: FakeEngine;

beforeEach(() => {
    fake = new FakeEngine();
    setEngine(fake);
});
afterEach(() => setEngine(undefined));

/** The provider's methods, all there (ResourceProvider declares them optional). */
const p = containerProvider as Required<typeof containerProvider>;
const net = networkProvider as Required<typeof networkProvider>;
const vol = volumeProvider as Required<typeof volumeProvider>;

describe("network and volume providers", () => {
    it("create adopts a network of the same name left by an interrupted run", async () => {
        await fake.createNetwork("t-dev-a", LABELS, {});
        const r = await net.create({ name: "t-dev-a", labels: LABELS, subnet: "10.99.0.0/24" });
        expect(r.id).toBe("t-dev-a");
        expect(fake.networks.get("t-dev-a")?.subnet).toBeUndefined(); // the existing one, kept as it is
    });

    it("creates a network with its subnet and range", async () => {
        await net.create({ name: "t-dev-a", labels: LABELS, subnet: "10.99.0.0/24", ipRange: "10.99.0.128/25" });
        expect(fake.networks.get("t-dev-a")).toMatchObject({ subnet: "10.99.0.0/24", ipRange: "10.99.0.128/25", labels: LABELS });
    });

    it("takes the next free subnet of the pool when another stack took the planned one meanwhile, and reports the one it got", async () => {
        await fake.createNetwork("other-stack-net", {}, { subnet: "10.250.0.16/28" });
        const r = await net.create({
            name: "t-dev-a",
            labels: LABELS,
            subnet: "10.250.0.16/28",
            ipRange: "10.250.0.24/29",
            pool: "10.250.0.0/24",
        });
        expect(r.outs).toMatchObject({ subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29" });
        expect(fake.networks.get("t-dev-a")).toMatchObject({ subnet: "10.250.0.0/28", ipRange: "10.250.0.8/29" });
    });

    it.each([
        ["both sides have a subnet, different", "10.1.0.0/24", "10.2.0.0/24", ["subnet"]],
        ["the state has none (written before subnets)", undefined, "10.2.0.0/24", []],
        ["the new inputs have none (an existing network keeps its own)", "10.1.0.0/24", undefined, []],
        ["the same subnet", "10.1.0.0/24", "10.1.0.0/24", []],
    ])("subnet: %s", async (_, oldSubnet, newSubnet, replaces) => {
        await fake.createNetwork("t-dev-a", LABELS, {});
        const d = await net.diff(
            "t-dev-a",
            { name: "t-dev-a", labels: LABELS, subnet: oldSubnet },
            { name: "t-dev-a", labels: LABELS, subnet: newSubnet },
        );
        expect(d.replaces).toEqual(replaces);
        expect(d.changes).toBe(replaces.length > 0);
    });

    it("a label change replaces, names first removed (deleteBeforeReplace)", async () => {
        await fake.createVolume("t-dev-a-data", LABELS);
        const d = await vol.diff(
            "t-dev-a-data",
            { name: "t-dev-a-data", labels: LABELS },
            { name: "t-dev-a-data", labels: { ...LABELS, extra: "1" } },
        );
        expect(d).toMatchObject({
            changes: true,
            replaces: ["labels"],
            deleteBeforeReplace: true,
            detailedDiff: { labels: { kind: "update-replace", inputDiff: true } },
        });
    });

    it.each(["volume", "network"] as const)("a %s removed behind Pulumi's back is replaced (name)", async (kind) => {
        const provider = kind === "volume" ? vol : net;
        const inputs = { name: "t-dev-x", labels: LABELS };
        await provider.create(inputs);
        expect((await provider.diff("t-dev-x", inputs, inputs)).changes).toBe(false);
        await behindTheBack(() => (kind === "volume" ? fake.volumes : fake.networks).clear());
        expect(await provider.diff("t-dev-x", inputs, inputs)).toMatchObject({ changes: true, replaces: ["name"] });
        expect(await provider.read("t-dev-x", inputs)).toEqual({ id: "", props: {} });
    });

    it("deleting a volume that is gone succeeds", async () => {
        await vol.delete("t-dev-gone", { name: "t-dev-gone", labels: LABELS });
        expect(fake.calls).toEqual(["removeVolume t-dev-gone"]);
    });

    it("deleting a network that is gone succeeds (after looking for containers in the way)", async () => {
        await net.delete("t-dev-gone", { name: "t-dev-gone", labels: LABELS });
        expect(fake.calls).toEqual(["removeNetwork t-dev-gone", "networkContainers t-dev-gone", "removeNetwork t-dev-gone"]);
    });

    it("a network with containers joined by hand: they are disconnected, then it is removed", async () => {
        await net.create({ name: "t-dev-a", labels: LABELS });
        const foreign = fake.addContainer("someone-elses");
        fake.join("t-dev-a", "someone-elses");
        await net.delete("t-dev-a", { name: "t-dev-a", labels: LABELS });
        expect(fake.networks.has("t-dev-a")).toBe(false);
        expect(foreign.networks.size).toBe(0);
        expect(fake.calls.slice(1)).toEqual([
            "removeNetwork t-dev-a",
            "networkContainers t-dev-a",
            `disconnectNetwork t-dev-a ${foreign.id} --force`,
            "removeNetwork t-dev-a",
        ]);
    });
});

describe("container provider", () => {
    const inputs = (over: Partial<ContainerInputs> = {}): ContainerInputs => ({
        name: "t-dev-a-dind",
        image: "docker:29-dind",
        labels: LABELS,
        env: { DOCKER_TLS_CERTDIR: "/certs" },
        command: [],
        mounts: [{ type: "volume", source: "t-dev-a-data", target: "/var/lib/docker" }],
        networks: [
            { name: "t-dev-a", aliases: ["dind"], ip: "10.0.0.2" },
            { name: "t-dev-gateway", aliases: ["a"] },
        ],
        ports: [],
        securityArgs: ["--privileged"],
        hostname: "a",
        files: [{ path: "/etc/a.conf", content: "one" }],
        secretFiles: [],
        reloadCommand: ["nginx", "-s", "reload"],
        running: true,
        ...over,
    });

    /** Networks the inputs name, created in the fake engine; then the container, as `pulumi up` would. */
    async function created(i: ContainerInputs = inputs()): Promise<{ id: string; outs: ContainerOutputs }> {
        for (const n of i.networks) if (!fake.networks.has(n.name)) await fake.createNetwork(n.name, LABELS, {});
        return (await p.create(i)) as { id: string; outs: ContainerOutputs };
    }

    it("create: the first network at creation, the others joined, files written, then started", async () => {
        const { id, outs } = await created();
        const c = fake.container(id);
        expect(c?.running).toBe(true);
        expect([...(c?.networks.keys() ?? [])]).toEqual(["t-dev-a", "t-dev-gateway"]);
        expect(c?.files.get("/etc/a.conf")).toBe("one");
        expect(outs.ipAddresses["t-dev-a"]).toBe("10.0.0.2");
        expect(fake.calls).toEqual(
            expect.arrayContaining([
                "createContainer t-dev-a-dind",
                "connectNetwork t-dev-gateway t-dev-a-dind",
                "copyFiles t-dev-a-dind /etc/a.conf",
                "startContainer t-dev-a-dind",
            ]),
        );
    });

    it("create replaces a container of the same name left by an interrupted run", async () => {
        const stale = fake.addContainer("t-dev-a-dind");
        const { id } = await created();
        expect(id).not.toBe(stale.id);
        expect(fake.calls.filter((c) => /^(create|remove)Container t-dev-a-dind/.test(c))).toEqual([
            "createContainer t-dev-a-dind",
            "removeContainer t-dev-a-dind",
            "createContainer t-dev-a-dind",
        ]);
    });

    it("no change, no diff", async () => {
        const { id, outs } = await created();
        expect((await p.diff(id, outs, inputs())).changes).toBe(false);
    });

    it.each<[string, Partial<ContainerInputs>]>([
        ["image", { image: "docker:30-dind" }],
        ["env", { env: { DOCKER_TLS_CERTDIR: "/other" } }],
        ["command", { command: ["--debug"] }],
        ["mounts", { mounts: [] }],
        ["ports", { ports: [{ hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80 }] }],
        ["labels", { labels: { ...LABELS, more: "1" } }],
        ["securityArgs", { securityArgs: [] }],
        ["sysctls", { sysctls: { "net.ipv4.ip_forward": "1" } }],
        ["hostname", { hostname: "b" }],
        ["networks", { networks: [{ name: "t-dev-a", aliases: ["dind", "more"], ip: "10.0.0.2" }] }],
    ])("a change of %s replaces the container", async (key, change) => {
        const { id, outs } = await created();
        const d = await p.diff(id, outs, inputs(change));
        expect(d).toMatchObject({ changes: true, replaces: [key], deleteBeforeReplace: true });
    });

    it.each<[string, Partial<ContainerInputs>]>([
        ["files", { files: [{ path: "/etc/a.conf", content: "two" }] }],
        ["secretFiles", { secretFiles: [{ path: "/etc/key.pem", content: "k" }] }],
        ["hostFiles", { hostFiles: [{ path: "/etc/ca.pem", source: "/nowhere/ca.pem", sha256: "d" }] }],
        ["reloadCommand", { reloadCommand: [] }],
        ["running", { running: false }],
        ["resources", { resources: { cpus: 1.5 } }],
        ["networks", { networks: [{ name: "t-dev-a", aliases: ["dind"], ip: "10.0.0.2" }] }],
    ])("a change of %s is an update in place", async (key, change) => {
        const { id, outs } = await created();
        const d = await p.diff(id, outs, inputs(change));
        expect(d.replaces).toBeUndefined();
        expect(d).toMatchObject({ changes: true, detailedDiff: { [key]: { kind: "update", inputDiff: true } } });
    });

    it("resources: a changed cap updates in place, a lifted cap replaces", async () => {
        const { id, outs } = await created(inputs({ resources: { cpus: 1, memory: 256 * 1024 * 1024 } }));
        expect((await p.diff(id, outs, inputs({ resources: { cpus: 2, memory: 256 * 1024 * 1024 } }))).replaces).toBeUndefined();
        expect(await p.diff(id, outs, inputs({ resources: { cpus: 2 } }))).toMatchObject({ replaces: ["resources"] });
        expect(await p.diff(id, outs, inputs())).toMatchObject({ replaces: ["resources"] });
        await p.update(id, outs, inputs({ resources: { cpus: 2, memory: 256 * 1024 * 1024 } }));
        expect(fake.container(id)?.resources).toEqual({ cpus: 2, memory: 256 * 1024 * 1024 });
    });

    it("a container removed behind Pulumi's back is recreated (containerId)", async () => {
        const { id, outs } = await created();
        await behindTheBack(() => fake.containers.clear());
        expect(await p.diff(id, outs, inputs())).toMatchObject({ changes: true, replaces: ["containerId"] });
        expect(await p.read(id, outs)).toEqual({ id: "", props: {} });
    });

    it("a stopped container that should run is started by the update", async () => {
        const { id, outs } = await created();
        await behindTheBack(() => fake.stopContainer("t-dev-a-dind"));
        const d = await p.diff(id, outs, inputs());
        expect(d).toMatchObject({ changes: true, detailedDiff: { running: { kind: "update", inputDiff: true } } });
        expect(d.replaces).toBeUndefined();
        const r = (await p.update(id, outs, inputs())) as { outs: ContainerOutputs };
        expect(fake.container(id)?.running).toBe(true);
        expect(r.outs.running).toBe(true);
    });

    it("update joins new networks, leaves old ones, re-joins one whose aliases changed, without a new container", async () => {
        for (const n of ["t-dev-b", "t-dev-c"]) await fake.createNetwork(n, LABELS, {});
        const { id, outs } = await created(inputs({ networks: [...inputs().networks, { name: "t-dev-b", aliases: ["x"] }] }));
        fake.calls.length = 0;
        const news = inputs({
            networks: [inputs().networks[0], { name: "t-dev-gateway", aliases: ["a", "a2"] }, { name: "t-dev-c", aliases: [] }],
        });
        await p.update(id, outs, news);
        const c = fake.container(id);
        expect(c?.id).toBe(id);
        expect([...(c?.networks.keys() ?? [])].sort()).toEqual(["t-dev-a", "t-dev-c", "t-dev-gateway"]);
        expect(c?.networks.get("t-dev-gateway")?.aliases).toEqual(["a", "a2"]);
        expect(fake.calls.filter((x) => x.includes("Network")).sort()).toEqual([
            "connectNetwork t-dev-c t-dev-a-dind",
            "connectNetwork t-dev-gateway t-dev-a-dind",
            "disconnectNetwork t-dev-b t-dev-a-dind",
            "disconnectNetwork t-dev-gateway t-dev-a-dind",
        ]);
    });

    it("changed files are written again and the reload command runs; unchanged ones are not", async () => {
        const { id, outs } = await created();
        const ran: string[][] = [];
        fake.execHandler = (_c, command) => {
            ran.push(command);
            return undefined;
        };
        await p.update(id, outs, inputs({ running: true }));
        expect(ran).toEqual([]);
        await p.update(id, outs, inputs({ files: [{ path: "/etc/a.conf", content: "two" }] }));
        expect(fake.container(id)?.files.get("/etc/a.conf")).toBe("two");
        expect(ran).toEqual([["nginx", "-s", "reload"]]);
    });

    it("host files are copied in by digest at create and when the digest changes; a file that is not what the program saw is refused", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "host-files-"));
        const source = path.join(dir, "ca.pem");
        const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
        try {
            fs.writeFileSync(source, "CA one");
            const hostFiles = (content: string) => [{ path: "/etc/dind-compose/ca/ca.pem", source, sha256: sha(content) }];
            const { id, outs } = await created(inputs({ hostFiles: hostFiles("CA one") }));
            expect(fake.container(id)?.files.get("/etc/dind-compose/ca/ca.pem")).toBe("CA one");
            expect(JSON.stringify(outs)).not.toContain("CA one"); // the state holds the digest only
            fs.writeFileSync(source, "CA two");
            await expect(p.update(id, outs, inputs({ hostFiles: hostFiles("CA three") }))).rejects.toThrow(
                new RegExp(`${source} changed while this update ran \\(sha256 ${sha("CA two")}, expected ${sha("CA three")}\\)`),
            );
            await p.update(id, outs, inputs({ hostFiles: hostFiles("CA two") }));
            expect(fake.container(id)?.files.get("/etc/dind-compose/ca/ca.pem")).toBe("CA two");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a failing reload command fails the update with its output", async () => {
        const { id, outs } = await created();
        fake.execHandler = () => ({ code: 1, stderr: "nginx: [emerg] unknown directive\n" });
        await expect(p.update(id, outs, inputs({ files: [{ path: "/etc/a.conf", content: "bad" }] }))).rejects.toThrow(
            /docker exec t-dev-a-dind failed \(exit 1\): nginx: \[emerg\] unknown directive/,
        );
    });

    it("running: false stops it in place", async () => {
        const { id, outs } = await created();
        await p.update(id, outs, inputs({ running: false }));
        expect(fake.container(id)?.running).toBe(false);
    });

    it("delete removes it with its anonymous volumes, and succeeds when it is gone", async () => {
        const { id, outs } = await created();
        await p.delete(id, outs);
        expect(fake.container(id)).toBeUndefined();
        await p.delete(id, outs);
        expect(fake.calls.filter((c) => c.startsWith("removeContainer"))).toEqual([
            `removeContainer ${id} --volumes`,
            `removeContainer ${id} --volumes`,
        ]);
    });
});
