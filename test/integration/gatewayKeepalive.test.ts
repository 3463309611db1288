// The gateway keeps connections to each project's daemon alive (an upstream block with a keepalive
// pool, on the dind container's address, written after the container exists), and falls back to
// the name, resolved at request time, when that address is wrong: real engine, real Pulumi, real
// nginx on both sides. The upstream answers with the serial number of the connection each request
// came on, so the number of connections the gateway opened can be counted.
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STACK_LABEL } from "../../components/names";
import { defaultImages, docker, freePort, httpGet, REPO_DIR, StackConfig, STAND_IN_IMAGES, TestStack } from "./harness";

const FIXTURE = path.join(REPO_DIR, "test/fixtures/projects/keepalive");
const NGINX = STAND_IN_IMAGES.nginx;
const HOST = "k.project.localhost";
const ADDRESS_FILE = "/etc/dind-compose/upstreams/k/address.conf";

describe("the gateway keeps upstream connections alive, and falls back to the name when the address it has is wrong", () => {
    const stack = new TestStack("keepalive");
    let port = 0;
    let daemon = "";
    let gateway = "";
    let network = "";
    let config: StackConfig;

    /** The upstream connection serials seen by `count` requests in a row through the gateway (each must be a 200 from the fixture). */
    const connections = async (count: number): Promise<Set<string>> => {
        const seen = new Set<string>();
        for (let i = 0; i < count; i++) {
            const r = await httpGet(port, HOST);
            expect(r.status, r.body).toBe(200);
            const serial = /^keepalive fixture, connection (\d+)$/m.exec(r.body)?.[1];
            expect(serial, r.body).toBeDefined();
            seen.add(serial as string);
        }
        return seen;
    };
    const addressOf = async (container: string): Promise<string> =>
        docker("inspect", container, "--format", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`);
    const writtenAddress = () => docker("exec", gateway, "cat", ADDRESS_FILE);
    /** How many nginx workers the gateway runs (worker_processes auto: one per CPU it sees). */
    const workers = os.cpus().length;

    beforeAll(async () => {
        port = await freePort();
        config = {
            projects: [{ name: "k", path: FIXTURE, preloadImages: [NGINX] }],
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        };
        await stack.init(config);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        const outputs = await stack.outputs();
        daemon = (outputs.daemons as Record<string, string>).k;
        gateway = outputs.gateway as string;
        network = `dind-compose-${stack.name}-k`;
    });
    const otherDindTag = `dind-compose/dind:${stack.name}`;
    afterAll(async () => {
        await stack.cleanup();
        await docker("rmi", otherDindTag).catch(() => undefined);
        expect(await stack.leftovers()).toEqual([]);
    });

    it("after up, the gateway has the dind container's address and reuses its connections: 20 requests, at most one connection per worker", async () => {
        expect(await writtenAddress()).toBe(`server ${await addressOf(daemon)}:80;`);
        const seen = await connections(20);
        console.log(`20 requests through the gateway came on ${seen.size} upstream connection(s) (${workers} workers)`);
        expect(seen.size).toBeLessThanOrEqual(workers);
    });

    it("when the daemon gets a new address behind pulumi's back, requests still answer (by name, a connection each); preview names the change, up writes the new address and keepalive is back", async () => {
        const before = await addressOf(daemon);
        // As after an engine restart that started the containers in another order: the daemon leaves
        // its network and joins again while another container holds its address (that one goes again
        // at once), and the gateway restarts (its written files stay, its connection pools do not).
        await docker("network", "disconnect", network, daemon);
        const squatter = `${stack.name}-squatter`;
        await docker(
            "run",
            "-d",
            "--name",
            squatter,
            "--label",
            `${STACK_LABEL}=${stack.label}`,
            "--network",
            network,
            "--entrypoint",
            "sleep",
            NGINX,
            "600",
        );
        await docker("network", "connect", "--alias", "k", network, daemon);
        await docker("rm", "-f", squatter);
        await docker("restart", gateway);
        const after = await addressOf(daemon);
        expect(after, "the reconnected daemon got its old address again: nothing to test").not.toBe(before);

        // The old address answers nobody: the first request waits for the connect to fail, then goes by name.
        const byName = await connections(10);
        console.log(`with the stale address ${before} (now ${after}): 10 requests on ${byName.size} upstream connection(s)`);
        expect(byName.size).toBe(10);
        expect(await writtenAddress()).toBe(`server ${before}:80;`);

        const preview = await stack.pulumiOk("preview", "--diff");
        expect(preview.stdout).toMatch(/env-gateway-upstreams/);
        expect(preview.stdout).toMatch(/1 to update/);
        expect(preview.stdout).not.toMatch(/to (create|replace|delete)/);

        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(await writtenAddress()).toBe(`server ${after}:80;`);
        expect((await connections(20)).size).toBeLessThanOrEqual(workers);
    });

    it("an address that is now the gateway's own (port 80 is its own too) is served by name, not looped; up --refresh writes the right one back", async () => {
        const own = await addressOf(gateway);
        await docker(
            "exec",
            gateway,
            "sh",
            "-c",
            `echo 'server ${own}:80;' > ${ADDRESS_FILE} && nginx -c /etc/dind-compose/nginx.conf -s reload`,
        );
        await new Promise((r) => setTimeout(r, 1000)); // the old workers finish
        const looped = await connections(5);
        expect(looped.size).toBe(5);

        await stack.pulumiOk("up", "--yes", "--skip-preview", "--refresh");
        expect(await writtenAddress()).toBe(`server ${await addressOf(daemon)}:80;`);
        expect((await connections(20)).size).toBeLessThanOrEqual(workers);
    });

    it("a daemon removed by hand: its pooled connections went with it, so a request gets the page naming the project at once; up brings it back, with its address written", async () => {
        await connections(5); // a warm pool
        await docker("rm", "-f", daemon);
        const started = Date.now();
        const down = await httpGet(port, HOST);
        const seconds = (Date.now() - started) / 1000;
        console.log(`request after the daemon was removed: ${down.status} in ${seconds.toFixed(2)} s`);
        expect(down.status).toBe(502);
        expect(down.body).toContain("project k (k.project.localhost) is not answering");

        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(await writtenAddress()).toBe(`server ${await addressOf(daemon)}:80;`);
        expect((await connections(20)).size).toBeLessThanOrEqual(workers);
    });

    it("a daemon replaced by pulumi (images.dind names another tag): the new container's address is written, and keepalive works on it", async () => {
        const before = await docker("inspect", daemon, "--format", "{{.Id}}");
        await docker("tag", defaultImages().dind, otherDindTag);
        config = { ...config, images: { ...defaultImages(), dind: otherDindTag } };
        stack.setConfig(config);
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/env-k-dind +replaced/);
        expect(up.stdout).toMatch(/env-gateway-upstreams +updated/);
        expect(await docker("inspect", daemon, "--format", "{{.Id}}")).not.toBe(before);
        expect(await writtenAddress()).toBe(`server ${await addressOf(daemon)}:80;`);
        expect((await connections(20)).size).toBeLessThanOrEqual(workers);
    });
});
