// Two stacks of this program on one engine, with the same project names and
// different gateway ports: every object is prefixed and labelled per stack, so
// they run side by side and destroying one leaves the other untouched.
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STACK_LABEL } from "../../components/names";
import { copyExample, docker, freePort, httpGet, STAND_IN_IMAGES, TestStack } from "./harness";

describe("two stacks side by side on one engine", () => {
    const stacks = [new TestStack("side1"), new TestStack("side2")];
    const ports: number[] = [];

    beforeAll(async () => {
        for (const [i, stack] of stacks.entries()) {
            const dir = copyExample("project-b", stack.workDir);
            fs.writeFileSync(path.join(dir, "html", "index.html"), `<h1>stack ${i + 1}</h1>\n`);
            ports.push(await freePort());
            await stack.init({
                projects: [{ name: "b", path: dir, preloadImages: [STAND_IN_IMAGES.busybox] }],
                gateway: { httpPort: ports[i], httpsPort: await freePort() },
                dind: { security: "capabilities" },
            });
        }
    });
    afterAll(async () => {
        for (const stack of stacks) await stack.cleanup();
        for (const stack of stacks) expect(await stack.leftovers()).toEqual([]);
    });

    it("both come up with the same project name, each on its own gateway port with its own content", async () => {
        await Promise.all(stacks.map((s) => s.pulumiOk("up", "--yes", "--skip-preview")));
        for (const [i] of stacks.entries()) {
            const r = await httpGet(ports[i], "b.project.localhost");
            expect(r.body).toBe(`<h1>stack ${i + 1}</h1>\n`);
        }
        const daemons = await Promise.all(stacks.map(async (s) => ((await s.outputs()).daemons as Record<string, string>).b));
        expect(new Set(daemons).size).toBe(2);
    });

    it("destroying one stack leaves the other running and answering", async () => {
        await stacks[0].pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stacks[0].leftovers()).toEqual([]);
        expect((await httpGet(ports[1], "b.project.localhost")).body).toBe("<h1>stack 2</h1>\n");
        expect(await docker("ps", "-q", "--filter", `label=${STACK_LABEL}=${stacks[1].label}`)).not.toBe("");
    });
});
