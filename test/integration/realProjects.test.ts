// Real projects, unmodified (issue 14), for real: a monorepo whose project reads files from a
// shared folder beside it (include, extends, env_file, a config, a secret, a bind mount), with
// three HTTP services (one published on the loopback only) and a TCP database; a second project
// beside it. Routes per service, TCP to the host, a change in an included file seen by preview in
// that project alone and applied by up, and the bad inputs of the issue on the running stack,
// which keeps serving.
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliResult, docker, freePort, httpGet, httpsGet, REPO_DIR, StackConfig, STAND_IN_IMAGES, TestStack } from "./harness";

const IMAGE = STAND_IN_IMAGES.busybox;
const FIXTURE = path.join(REPO_DIR, "test", "fixtures", "monorepo");

/** The first line a TCP server on 127.0.0.1:port sends. */
function tcpFirstLine(port: number, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        let data = "";
        const timer = setTimeout(() => socket.destroy(new Error(`no line from 127.0.0.1:${port} within ${timeoutMs} ms`)), timeoutMs);
        socket.on("data", (d: Buffer) => {
            data += d.toString();
            if (data.includes("\n")) {
                clearTimeout(timer);
                socket.destroy();
                resolve(data.split("\n")[0]);
            }
        });
        socket.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        socket.on("close", () => {
            clearTimeout(timer);
            resolve(data.split("\n")[0]);
        });
    });
}

type Inputs = Record<string, unknown>;
interface PreviewStep {
    op: string;
    urn: string;
    oldState?: { inputs?: Inputs };
    newState?: { inputs?: Inputs };
}

/** The inputs a step changes, record-valued ones key by key as the provider's diff names them: `sourceFiles["../x"]`. */
function changedInputs(step: PreviewStep): string[] {
    const o = step.oldState?.inputs ?? {};
    const n = step.newState?.inputs ?? {};
    const out: string[] = [];
    for (const k of [...new Set([...Object.keys(o), ...Object.keys(n)])].sort()) {
        if (k === "__provider") continue;
        const [ov, nv] = [o[k], n[k]];
        if (["model", "sourceFiles", "buildFiles"].includes(k)) {
            const [or, nr] = [(ov ?? {}) as Inputs, (nv ?? {}) as Inputs];
            for (const key of [...new Set([...Object.keys(or), ...Object.keys(nr)])].sort())
                if (or[key] !== nr[key]) out.push(`${k}["${key}"]`);
        } else if (JSON.stringify(ov) !== JSON.stringify(nv)) out.push(k);
    }
    return out;
}

/** `pulumi preview --json` -> resource name -> its step (same steps omitted). */
function changedSteps(r: CliResult): Record<string, PreviewStep> {
    const steps = (JSON.parse(r.stdout) as { steps?: PreviewStep[] }).steps ?? [];
    return Object.fromEntries(steps.filter((s) => s.op !== "same").map((s) => [s.urn.split("::").pop() ?? s.urn, s]));
}

describe("real projects: files from a shared folder, routes per service, loopback ports, TCP to the host (issue 14)", () => {
    const stack = new TestStack("real");
    let repo = "";
    let port = 0;
    let dbPort = 0;
    let config: StackConfig;

    beforeAll(async () => {
        // The monorepo is copied whole: the test edits its shared folder.
        repo = path.join(stack.workDir, "monorepo");
        fs.cpSync(FIXTURE, repo, { recursive: true });
        port = await freePort();
        dbPort = await freePort();
        config = {
            projects: [
                { name: "shop", path: path.join(repo, "shop"), preloadImages: [IMAGE], tcp: [{ port: 5432, hostPort: dbPort }] },
                { name: "blog", path: path.join(repo, "blog"), preloadImages: [IMAGE] },
            ],
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        };
        await stack.init(config);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("routes the main service at the project's hostname and every other HTTP service at <service>.<hostname>, the loopback-bound API included", async () => {
        const shop = await httpGet(port, "shop.project.localhost");
        expect(shop.status).toBe(200);
        expect(shop.body).toContain('<h1 id="title">Shop</h1>');
        // api publishes 127.0.0.1:8000:8000 and reads its page from a config file in ../shared
        const api = await httpGet(port, "api.shop.project.localhost");
        expect(api.status, api.body).toBe(200);
        expect(api.body).toContain("Shop API");
        // admin serves a bind mount from ../shared
        const admin = await httpGet(port, "admin.shop.project.localhost");
        expect(admin.status, admin.body).toBe(200);
        expect(admin.body).toContain("Shop admin");
        // db's port is opened as tcp: no HTTP route for it
        expect((await httpGet(port, "db.shop.project.localhost")).status).toBe(404);
        const blog = await httpGet(port, "blog.project.localhost");
        expect(blog.body).toContain("Blog");

        const outputs = await stack.outputs();
        expect(outputs.routes).toEqual({
            shop: [
                { url: `http://shop.project.localhost:${port}/`, service: "web", port: 3000 },
                { url: `http://api.shop.project.localhost:${port}/`, service: "api", port: 8000 },
                { url: `http://admin.shop.project.localhost:${port}/`, service: "admin", port: 9000 },
            ],
            blog: [{ url: `http://blog.project.localhost:${port}/`, service: "web", port: 80 }],
        });
        // The index page lists every route, and its status probe answers for each.
        const index = await httpGet(port, "project.localhost");
        for (const h of ["shop.project.localhost", "api.shop.project.localhost", "admin.shop.project.localhost", "blog.project.localhost"])
            expect(index.body).toContain(h);
        for (const key of ["shop", "shop.api.8000", "shop.admin.9000", "blog"])
            expect((await httpGet(port, "project.localhost", `/_status/${key}`)).status, key).toBe(200);
    });

    it("a service route is served over HTTPS with a certificate that names it, and children of another project reach it by name", async () => {
        const outputs = await stack.outputs();
        const httpsPort = Number((config.gateway as { httpsPort: number }).httpsPort);
        const api = await httpsGet(httpsPort, "api.shop.project.localhost", String(outputs.caCertificate));
        expect(api.status).toBe(200);
        expect(api.body).toContain("Shop API");
        const daemons = outputs.daemons as Record<string, string>;
        const fromBlog = await stack.run("docker", [
            "exec",
            daemons.blog,
            "docker",
            "exec",
            "blog-web-1",
            "wget",
            "-qO-",
            "-T",
            "5",
            "http://api.shop.project.localhost/",
        ]);
        expect(fromBlog.code, fromBlog.stderr).toBe(0);
        expect(fromBlog.stdout).toContain("Shop API");
    });

    it("changing a tcp port replaces only the project's TCP proxy: no daemon, child or gateway is recreated", async () => {
        const outputs = await stack.outputs();
        const daemons = outputs.daemons as Record<string, string>;
        const ids = async (): Promise<string[]> =>
            Promise.all([
                docker("inspect", "--format", "{{.Id}}", daemons.shop),
                docker("inspect", "--format", "{{.Id}}", daemons.blog),
                docker("inspect", "--format", "{{.Id}}", String(outputs.gateway)),
                docker("exec", daemons.shop, "docker", "inspect", "--format", "{{.Id}}", "shop-db-1"),
                docker("exec", daemons.blog, "docker", "inspect", "--format", "{{.Id}}", "blog-web-1"),
            ]);
        const before = await ids();
        const newPort = await freePort();
        config = { ...config, projects: [{ ...config.projects[0], tcp: [{ port: 5432, hostPort: newPort }] }, config.projects[1]] };
        stack.setConfig(config);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        dbPort = newPort;
        expect(await tcpFirstLine(dbPort)).toMatch(/^db-v1 /);
        expect(await ids()).toEqual(before);
        expect((await httpGet(port, "blog.project.localhost")).status).toBe(200);
    });

    it("the extended file, the env file and the secret from ../shared reach the containers", async () => {
        const daemons = (await stack.outputs()).daemons as Record<string, string>;
        const env = await stack.run("docker", ["exec", daemons.shop, "docker", "exec", "shop-web-1", "env"]);
        expect(env.stdout).toContain("FROM_BASE=base");
        expect(env.stdout).toContain("GREETING=hello-from-shared-env");
        expect(await tcpFirstLine(dbPort)).toBe("db-v1 token-from-shared");
    });

    it("a change in the included file shows in that project's preview alone, naming the file, and up applies it", async () => {
        const db = path.join(repo, "shared", "db.yaml");
        fs.writeFileSync(db, fs.readFileSync(db, "utf8").replace("db-v1", "db-v2"));
        const changed = changedSteps(await stack.pulumiOk("preview", "--json", "--diff"));
        expect(Object.keys(changed)).toEqual(["env-shop-stack"]);
        expect(changedInputs(changed["env-shop-stack"])).toEqual(['model["services.db.command"]', 'sourceFiles["../shared/db.yaml"]']);
        // and the text a user reads names the file
        expect((await stack.pulumiOk("preview", "--diff")).stdout).toMatch(/~ \.\.\/shared\/db\.yaml\s*: "sha256:/);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(await tcpFirstLine(dbPort)).toBe("db-v2 token-from-shared");
        // A secret's content is no part of the model: the file alone names the change.
        fs.writeFileSync(path.join(repo, "shared", "secrets", "token.txt"), "token-v2\n");
        const secretPreview = changedSteps(await stack.pulumiOk("preview", "--json", "--diff"));
        expect(Object.keys(secretPreview)).toEqual(["env-shop-stack"]);
        expect(changedInputs(secretPreview["env-shop-stack"])).toEqual(['sourceFiles["../shared/secrets/token.txt"]']);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        // an unchanged stack: a no-op
        expect(changedSteps(await stack.pulumiOk("preview", "--json", "--diff"))).toEqual({});
    });

    it.each<[string, (c: StackConfig) => StackConfig, RegExp]>([
        [
            "two routes with one hostname across projects",
            (c) => ({
                ...c,
                projects: [c.projects[0], { ...c.projects[1], routes: [{ service: "web", hostname: "api.shop.project.localhost" }] }],
            }),
            /hostname api\.shop\.project\.localhost is routed twice: to project shop service api port 8000 and to project blog service web port 80/,
        ],
        [
            "a route to a port no service publishes",
            (c) => ({ ...c, projects: [{ ...c.projects[0], routes: [{ service: "api", port: 8080 }] }, c.projects[1]] }),
            /dind-compose:projects\[0\]\.routes\[0\]\.port 8080: no service publishes it; use one of "api"'s published ports \(8000\)/,
        ],
        [
            "a tcp port no service publishes",
            (c) => ({ ...c, projects: [{ ...c.projects[0], tcp: [{ port: 6379, hostPort: 16379 }] }, c.projects[1]] }),
            /dind-compose:projects\[0\]\.tcp\[0\]\.port 6379: no service of project shop publishes it/,
        ],
    ])("refuses %s before anything changes, and the running stack keeps serving", async (_t, change, expected) => {
        stack.setConfig(change(config));
        try {
            const r = await stack.pulumi("up", "--yes", "--skip-preview");
            expect(r.code).not.toBe(0);
            expect(r.stdout + r.stderr).toMatch(expected);
            expect(r.stdout + r.stderr).toContain("nothing was created or changed");
            expect((await httpGet(port, "api.shop.project.localhost")).status).toBe(200);
        } finally {
            stack.setConfig(config);
        }
    });

    it("refuses a tcp host port that another program listens on", async () => {
        const taken = await freePort();
        const server = net.createServer().listen(taken, "127.0.0.1");
        await new Promise((r) => server.once("listening", r));
        stack.setConfig({ ...config, projects: [config.projects[0], { ...config.projects[1], tcp: [{ port: 80, hostPort: taken }] }] });
        try {
            const r = await stack.pulumi("preview");
            expect(r.code).not.toBe(0);
            expect(r.stdout + r.stderr).toMatch(
                new RegExp(
                    `dind-compose:projects\\[1\\]\\.tcp\\[0\\]\\.hostPort ${taken}: 127\\.0\\.0\\.1:${taken} is already in use by another program; choose a free port`,
                ),
            );
        } finally {
            server.close();
            stack.setConfig(config);
        }
        // its own port is not "in use" for the stack itself
        expect((await stack.pulumi("preview")).code).toBe(0);
    });

    it("refuses a file that compose would read and that is missing, naming where it is named", async () => {
        const db = path.join(repo, "shared", "db.yaml");
        fs.renameSync(db, `${db}.moved`);
        try {
            const r = await stack.pulumi("preview");
            expect(r.code).not.toBe(0);
            expect(r.stdout + r.stderr).toMatch(
                /project shop: include in .*\/shop\/compose\.yaml names \.\.\/shared\/db\.yaml, which does not exist \(.*\/shared\/db\.yaml\); create it or fix the path in compose\.yaml/,
            );
        } finally {
            fs.renameSync(`${db}.moved`, db);
        }
        expect((await httpGet(port, "shop.project.localhost")).status).toBe(200);
    });

    it("refuses an unknown key directly under dind-compose: (a typo)", async () => {
        await stack.pulumiOk("config", "set", "dind-compose:gatway", "{}");
        try {
            const r = await stack.pulumi("preview");
            expect(r.code).not.toBe(0);
            expect(r.stdout + r.stderr).toMatch(
                /dind-compose:gatway is not a known key \(allowed: dind-compose:projects, dind-compose:domain, dind-compose:gateway, dind-compose:images, dind-compose:dind, dind-compose:network, dind-compose:tls, dind-compose:files, dind-compose:engine\); remove it or fix its spelling/,
            );
        } finally {
            await stack.pulumiOk("config", "rm", "dind-compose:gatway");
        }
    });
});
