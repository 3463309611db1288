// A state that does not depend on where the checkout is (issue 19 a), for real: a clone of this
// repository brings a stack up, the clone is renamed (its state moves with it), and `destroy`
// from the new place removes everything.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { STACK_LABEL } from "../../components/names";
import { docker, freePort, labelledObjects, REPO_DIR, runCommand, STAND_IN_IMAGES } from "./harness";

describe("the checkout moved after up: destroy from the new place leaves nothing (issue 19)", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-moved-"));
    const before = path.join(tmp, "checkout");
    const after = path.join(tmp, "renamed-checkout");
    const stack = `it-moved-${process.pid}`;
    const label = `label=${STACK_LABEL}=dind-compose/${stack}`;
    let dir = before;
    const pulumi = async (...args: string[]) => {
        // the state lives in the checkout, as .pulumi-state does, and moves with it
        // DIND_COMPOSE_CA_DIR: a user CA of the test's own, never the real user's.
        const env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${path.join(dir, ".pulumi-state")}`,
            PULUMI_CONFIG_PASSPHRASE: "",
            DIND_COMPOSE_CA_DIR: path.join(tmp, "ca"),
        };
        const r = await runCommand("pulumi", [...args, "--stack", stack, "--non-interactive", "--color", "never", "--cwd", dir], { env });
        console.log(`[${stack}] (${path.basename(dir)}) pulumi ${args.join(" ")} -> exit ${r.code} in ${r.seconds.toFixed(1)} s`);
        return r;
    };
    const leftovers = () => labelledObjects(label);

    afterAll(async () => {
        if ((await leftovers()) !== "") await pulumi("destroy", "--yes", "--skip-preview");
        for (const id of (await docker("ps", "-aq", "--filter", label)).split("\n").filter(Boolean)) await docker("rm", "-f", "-v", id);
        fs.rmSync(tmp, { recursive: true, force: true });
        expect(await leftovers()).toBe("");
    });

    it("up in one place, rename the checkout, destroy in the other", async () => {
        execFileSync("git", ["clone", "--quiet", REPO_DIR, before]);
        // the packages are the same for both places; the build (.dind-compose/build) is each checkout's own
        fs.symlinkSync(path.join(REPO_DIR, "node_modules"), path.join(before, "node_modules"));
        fs.mkdirSync(path.join(before, ".pulumi-state"));
        expect((await pulumi("stack", "init")).code).toBe(0);
        const file = path.join(before, `Pulumi.${stack}.yaml`);
        const salt = fs.readFileSync(file, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        const config = {
            "dind-compose:projects": [{ name: "b", path: "examples/project-b", preloadImages: [STAND_IN_IMAGES.busybox] }],
            "dind-compose:gateway": { httpPort: await freePort(), httpsPort: await freePort() },
        };
        fs.writeFileSync(file, `${salt}\n${stringify({ config })}`);
        const up = await pulumi("up", "--yes", "--skip-preview");
        expect(up.code, up.stdout + up.stderr).toBe(0);
        const state = JSON.parse((await pulumi("stack", "export")).stdout) as {
            deployment: { resources: { inputs?: { __provider?: string } }[] };
        };
        const providers = state.deployment.resources.map((r) => r.inputs?.__provider).filter((p): p is string => p !== undefined);
        expect(providers.length).toBeGreaterThan(5);
        // no provider reference names the checkout's path (the project's own paths, its inputs, may)
        expect(providers.filter((p) => p.includes(before))).toEqual([]);
        expect(await leftovers()).not.toBe("");

        fs.renameSync(before, after);
        dir = after;
        const preview = await pulumi("preview", "--refresh");
        expect(preview.code, preview.stdout + preview.stderr).toBe(0);
        const destroy = await pulumi("destroy", "--yes", "--skip-preview");
        expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
        expect(await leftovers()).toBe("");
    });
});
