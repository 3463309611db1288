// The product, for real: `pulumi up` of two example projects against the real
// Docker engine, routed through the real nginx gateway, checked with real HTTP
// requests; then a change to one project, a no-op up, and destroy.
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, docker, freePort, httpGet, httpsGet, STAND_IN_IMAGES, TestStack } from "./harness";

describe("two projects behind the gateway (real engine, real Pulumi)", () => {
    const stack = new TestStack("env");
    let port = 0;
    let httpsPort = 0;
    let projectB = "";
    let daemons: Record<string, string> = {};

    /** Inner container IDs of a project, from its own daemon. */
    const innerContainers = (project: string) =>
        docker("exec", daemons[project], "docker", "ps", "-aq", "--no-trunc").then((s) => s.split("\n").sort());

    beforeAll(async () => {
        port = await freePort();
        httpsPort = await freePort();
        const projectA = copyExample("project-a", stack.workDir);
        projectB = copyExample("project-b", stack.workDir);
        await stack.init({
            projects: [
                { name: "a", path: projectA, preloadImages: [STAND_IN_IMAGES.busybox] },
                { name: "b", path: projectB, preloadImages: [STAND_IN_IMAGES.busybox] },
            ],
            gateway: { httpPort: port, httpsPort },
            dind: { security: "capabilities" },
        });
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("pulumi up brings both projects up; each hostname answers through the gateway with its own content", async () => {
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/inner daemon .* ready after/);
        const outputs = await stack.outputs();
        daemons = outputs.daemons as Record<string, string>;
        expect(outputs.urls).toEqual({ a: `http://a.project.localhost:${port}/`, b: `http://b.project.localhost:${port}/` });

        const a = await httpGet(port, "a.project.localhost");
        expect(a.status).toBe(200);
        expect(a.body).toContain('<h1 id="title">Project A</h1>');
        const b = await httpGet(port, "b.project.localhost");
        expect(b.status).toBe(200);
        expect(b.body).toContain('<h1 id="title">Project B</h1>');
    });

    it("HTTPS works too, with a certificate from the user CA that the stack names as a file and an output", async () => {
        const outputs = await stack.outputs();
        const caFile = String(outputs.caFile);
        expect(fs.readFileSync(caFile, "utf8")).toBe(outputs.caCertificate);
        const r = await httpsGet(httpsPort, "b.project.localhost", String(outputs.caCertificate));
        expect(r.body).toContain('<h1 id="title">Project B</h1>');
        await expect(httpsGet(httpsPort, "b.project.localhost", "")).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    });

    it("the private keys stay out of the stack's plain outputs", async () => {
        const plain = await stack.pulumiOk("stack", "output", "--json");
        expect(plain.stdout).not.toContain("PRIVATE KEY");
        const state = await stack.pulumiOk("stack", "export");
        expect(state.stdout).not.toContain("PRIVATE KEY");
    });

    it("both projects call their service `web` on their own daemon; the names do not clash", async () => {
        const namesA = await docker("exec", daemons.a, "docker", "ps", "--format", "{{.Names}}");
        const namesB = await docker("exec", daemons.b, "docker", "ps", "--format", "{{.Names}}");
        expect(namesA).toBe("a-web-1");
        expect(namesB).toBe("b-web-1");
        // Nothing of theirs is on the outer engine.
        expect(await docker("ps", "-q", "--filter", "name=a-web-1")).toBe("");
    });

    it("project a's relative bind mount ./web:/app is live: an edit on the host shows through the gateway", async () => {
        const file = path.join(stack.workDir, "project-a", "web", "live.txt");
        fs.writeFileSync(file, "edited on the host\n");
        const r = await httpGet(port, "a.project.localhost", "/live.txt");
        expect(r.body).toBe("edited on the host\n");
    });

    it("the bare domain serves the index page listing every project, with a live status probe each", async () => {
        const index = await httpGet(port, "project.localhost");
        expect(index.status).toBe(200);
        expect(index.body).toContain(`http://a.project.localhost:${port}/`);
        expect(index.body).toContain(`http://b.project.localhost:${port}/`);
        expect((await httpGet(port, "project.localhost", "/_status/a")).status).toBe(200);
    });

    it("a project whose service is down gets a 502 naming it, while the other keeps answering", async () => {
        await docker("exec", daemons.b, "docker", "stop", "b-web-1");
        try {
            const down = await httpGet(port, "b.project.localhost");
            expect(down.status).toBe(502);
            expect(down.body).toContain("project b (b.project.localhost) is not answering");
            expect((await httpGet(port, "project.localhost", "/_status/b")).status).toBe(502);
            expect((await httpGet(port, "a.project.localhost")).status).toBe(200);
        } finally {
            await docker("exec", daemons.b, "docker", "start", "b-web-1");
        }
        for (let i = 0; i < 50 && (await httpGet(port, "b.project.localhost")).status !== 200; i++)
            await new Promise((r) => setTimeout(r, 200));
        expect((await httpGet(port, "b.project.localhost")).status).toBe(200);
    });

    it("an unknown hostname gets a 404 naming the known ones", async () => {
        const r = await httpGet(port, "nope.project.localhost");
        expect(r.status).toBe(404);
        expect(r.body).toContain("a.project.localhost");
    });

    it("a change to project b's compose file: preview --diff names only project b, up applies it, project a's containers keep their IDs", async () => {
        const aBefore = await innerContainers("a");
        const composeFile = path.join(projectB, "compose.yaml");
        fs.writeFileSync(
            composeFile,
            fs
                .readFileSync(composeFile, "utf8")
                .replace("      - ./html:/www:ro", '      - ./html:/www:ro\n    environment:\n      RELEASE: "2"'),
        );

        const preview = await stack.pulumiOk("preview", "--diff");
        // The diff names the project's stack and the changed service field, and nothing else moves.
        expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/compose:Stack: \(update\)\n.*\n.*::env-b-stack\]/);
        expect(preview.stdout).toMatch(/\+ services\.web\.environment\.RELEASE/);
        expect(preview.stdout).not.toContain("env-a-");
        expect(preview.stdout).toMatch(/~ 1 to update/);

        await stack.pulumiOk("up", "--yes", "--skip-preview");
        const env = await docker(
            "exec",
            daemons.b,
            "docker",
            "inspect",
            "b-web-1",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
        );
        expect(env).toContain("RELEASE=2");
        expect(await innerContainers("a")).toEqual(aBefore);
        expect((await httpGet(port, "b.project.localhost")).status).toBe(200);
    });

    it("a no-op up changes nothing and runs no command", async () => {
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).not.toMatch(/docker compose up/);
        expect(up.stdout).toMatch(/\d+ unchanged/);
        expect(up.stdout).not.toMatch(/ to update| updated| created| replaced/);
    });

    it("pulumi destroy leaves no container, volume or network with the stack's label", async () => {
        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
    });
});
