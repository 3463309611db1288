// The preflight (components/preflight.ts) against an in-memory engine (fakeEngine.ts): images on
// the engine, pulled, or refused with the key; ports taken by another program or by this stack's
// own container; caps above what the engine has. The ports are real ones of this machine.
import * as net from "net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, FileChecks, parseConfig } from "../../components/config";
import { StackNames } from "../../components/names";
import { preflight } from "../../components/preflight";
import { setEngine } from "../../components/providers/engine";
import { FakeEngine } from "./fakeEngine";

const files: FileChecks = { isDirectory: (p) => p === "/repo/a", isFile: (p) => p === "/repo/a/compose.yaml" };
const names = new StackNames("dind-compose", "dev");

let fake: FakeEngine;
const listeners: net.Server[] = [];
beforeEach(() => {
    fake = new FakeEngine();
    setEngine(fake);
});
afterEach(async () => {
    setEngine(undefined);
    await Promise.all(listeners.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A port of 127.0.0.1 that something listens on (kept until the test ends) or that was free a moment ago. */
async function port(taken: boolean): Promise<number> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const p = (srv.address() as net.AddressInfo).port;
    if (taken) listeners.push(srv);
    else await new Promise((r) => srv.close(r));
    return p;
}

async function problemsOf(project: Record<string, unknown>, gateway: { httpPort: number; httpsPort: number }): Promise<string[]> {
    const spec = parseConfig({ projects: [{ name: "a", path: "a", ...project }], gateway }, "/repo", files);
    for (const img of [spec.images.dind, spec.images.nginx]) fake.images.set(img, `sha256:${img}`); // the engine has the stack's own
    try {
        await preflight(spec, names);
        return [];
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
}

describe("preflight", () => {
    it("passes when the images are on the engine and the ports are free", async () => {
        expect(await problemsOf({}, { httpPort: await port(false), httpsPort: await port(false) })).toEqual([]);
    });

    it("pulls an image the engine lacks, and refuses one no registry has, naming its key", async () => {
        fake.registry.set("busybox:1", "sha256:b");
        const problems = await problemsOf(
            { preloadImages: ["busybox:1", "nope:1"] },
            { httpPort: await port(false), httpsPort: await port(false) },
        );
        expect(fake.images.get("busybox:1")).toBe("sha256:b");
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(
            /^dind-compose:projects\[0\]\.preloadImages\[1\] "nope:1" is not on the engine and not pullable \(.*pull access denied/,
        );
    });

    it("refuses a port another program listens on, and accepts one this stack's own gateway holds", async () => {
        const other = await port(true);
        const ours = await port(true);
        await fake.createContainer({ ...fakeGateway(), ports: [{ hostIp: "127.0.0.1", hostPort: ours, containerPort: 80 }] });
        const problems = await problemsOf({}, { httpPort: ours, httpsPort: other });
        expect(problems).toEqual([
            `dind-compose:gateway.httpsPort ${other}: 127.0.0.1:${other} is already in use by another program; choose a free port (ss -ltn shows the ones in use) or stop that program`,
        ]);
    });

    it("refuses caps above the engine's CPUs and memory", async () => {
        fake.machine = { cpus: 2, memory: 4 * 1024 ** 3 };
        const problems = await problemsOf(
            { resources: { cpus: 3, memory: "5g" } },
            { httpPort: await port(false), httpsPort: await port(false) },
        );
        expect(problems).toEqual([
            "dind-compose:projects[0].resources.cpus 3: the engine has 2 CPUs; use at most 2",
            "dind-compose:projects[0].resources.memory 5.0 GiB: the engine has 4.0 GiB of memory; use less",
        ]);
    });
});

function fakeGateway() {
    return {
        name: names.gateway(),
        hostname: "gateway",
        image: "nginx",
        command: [],
        labels: {},
        env: {},
        mounts: [],
        ports: [],
        securityArgs: [],
        restart: "unless-stopped" as const,
    };
}
