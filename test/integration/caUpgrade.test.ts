// A stack written by the main before the user CA (issue 15), brought up by this version: the
// checkout of that commit brings it up (its state holds a CA of its own, key included, in the
// certificate's outputs), then this checkout's `up` on the same state updates the certificate in
// place (same type token and name), signed by the user CA, drops the old CA's key from the state
// and its file from disk, and replaces nothing: every container is kept, the dind container gains
// the CA's files in place.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { docker, freePort, httpsGet, labelledObjects, REPO_DIR, runCommand } from "./harness";

/** The last commit of main before the user CA. */
const BEFORE_USER_CA = "d280f57";

describe("a state written by the previous main (before the user CA) keeps working, nothing replaced (issues 15, 19)", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-ca-upgrade-"));
    const old = path.join(tmp, "old-checkout");
    const caDir = path.join(tmp, "ca");
    const stack = `it-caupgrade-${process.pid}`;
    const label = `label=dind-compose.stack=dind-compose/${stack}`;
    const stackFile = (dir: string) => path.join(dir, `Pulumi.${stack}.yaml`);
    const pulumi = async (dir: string, ...args: string[]) => {
        const env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${path.join(tmp, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "",
            DIND_COMPOSE_CA_DIR: caDir,
        };
        const r = await runCommand("pulumi", [...args, "--stack", stack, "--non-interactive", "--color", "never", "--cwd", dir], { env });
        console.log(`[${stack}] (${path.basename(dir)}) pulumi ${args.join(" ")} -> exit ${r.code} in ${r.seconds.toFixed(1)} s`);
        return r;
    };
    const leftovers = () => labelledObjects(label);
    type State = { deployment: { resources: { urn: string; type: string; outputs?: Record<string, unknown> }[] } };
    const certificateOf = (state: State) => state.deployment.resources.find((r) => r.urn.endsWith("::env-certificate"));

    afterAll(async () => {
        if ((await leftovers()) !== "") await pulumi(REPO_DIR, "destroy", "--yes", "--skip-preview");
        for (const id of (await docker("ps", "-aq", "--filter", label)).split("\n").filter(Boolean)) await docker("rm", "-f", "-v", id);
        for (const id of (await docker("network", "ls", "-q", "--filter", label)).split("\n").filter(Boolean))
            await docker("network", "rm", id);
        for (const id of (await docker("volume", "ls", "-q", "--filter", label)).split("\n").filter(Boolean))
            await docker("volume", "rm", "-f", id);
        fs.rmSync(stackFile(REPO_DIR), { force: true });
        fs.rmSync(tmp, { recursive: true, force: true });
        expect(await leftovers()).toBe("");
    });

    it("up with the old checkout, then up with this one: the certificate is updated in place, the old CA's key leaves the state", async () => {
        execFileSync("git", ["clone", "--quiet", "--no-checkout", REPO_DIR, old]);
        execFileSync("git", ["-C", old, "checkout", "--quiet", BEFORE_USER_CA]);
        fs.symlinkSync(path.join(REPO_DIR, "node_modules"), path.join(old, "node_modules"));
        fs.mkdirSync(path.join(tmp, "state"));
        expect((await pulumi(old, "stack", "init")).code).toBe(0);
        const salt = fs.readFileSync(stackFile(old), "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        const httpsPort = await freePort();
        const config = {
            "dind-compose:projects": [
                { name: "b", path: path.join(REPO_DIR, "examples", "project-b"), preloadImages: ["dind-compose/busybox:trixie"] },
            ],
            "dind-compose:gateway": { httpPort: await freePort(), httpsPort },
        };
        fs.writeFileSync(stackFile(old), `${salt}\n${stringify({ config })}`);
        fs.copyFileSync(stackFile(old), stackFile(REPO_DIR));

        const up = await pulumi(old, "up", "--yes", "--skip-preview");
        expect(up.code, up.stdout + up.stderr).toBe(0);
        const before = JSON.parse((await pulumi(old, "stack", "export")).stdout) as State;
        const oldCert = certificateOf(before);
        expect(oldCert?.type).toBe("pulumi-nodejs:dynamic/tls:GatewayCertificate");
        expect(Object.keys(oldCert?.outputs ?? {})).toEqual(expect.arrayContaining(["caCert", "caKey", "caFile"]));
        const oldCaFile = String(oldCert?.outputs?.caFile);
        expect(fs.existsSync(oldCaFile)).toBe(true);
        const gateway = `dind-compose-${stack}-gateway`;
        const gatewayId = await docker("inspect", "--format", "{{.Id}}", gateway);
        const containers = async () => (await docker("ps", "-aq", "--no-trunc", "--filter", label)).split("\n").sort();
        const containersBefore = await containers();

        const preview = await pulumi(REPO_DIR, "preview", "--diff");
        expect(preview.code, preview.stdout + preview.stderr).toBe(0);
        expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/tls:GatewayCertificate: \(update\)/);
        // Nothing is replaced: the CA reaches the dind container as files copied in place, not as a new mount.
        expect(preview.stdout, preview.stdout).not.toMatch(/\+-|replace/);
        const upNew = await pulumi(REPO_DIR, "up", "--yes", "--skip-preview");
        expect(upNew.code, upNew.stdout + upNew.stderr).toBe(0);
        expect(upNew.stdout).not.toMatch(/replaced/);
        expect(await containers()).toEqual(containersBefore);
        const dind = `dind-compose-${stack}-b-dind`;
        expect(await docker("exec", dind, "cat", "/etc/dind-compose/ca/ca.pem")).toBe(
            fs.readFileSync(path.join(caDir, "ca.pem"), "utf8").trim(),
        );
        const after = JSON.parse((await pulumi(REPO_DIR, "stack", "export", "--show-secrets")).stdout) as State;
        const newCert = certificateOf(after);
        expect(newCert?.urn).toBe(oldCert?.urn);
        expect(Object.keys(newCert?.outputs ?? {}).filter((k) => /^ca(Cert|Key|File)$/.test(k))).toEqual([]);
        expect(newCert?.outputs?.caDir).toBe(caDir);
        expect(fs.existsSync(oldCaFile)).toBe(false);
        expect(await docker("inspect", "--format", "{{.Id}}", gateway)).toBe(gatewayId);
        const r = await httpsGet(httpsPort, "b.project.localhost", fs.readFileSync(path.join(caDir, "ca.pem"), "utf8"));
        expect(r.status).toBe(200);

        const noop = await pulumi(REPO_DIR, "preview", "--diff");
        expect(noop.stdout).not.toMatch(/env-certificate/);
        const destroy = await pulumi(REPO_DIR, "destroy", "--yes", "--skip-preview");
        expect(destroy.code, destroy.stdout + destroy.stderr).toBe(0);
        expect(await leftovers()).toBe("");
        expect(fs.existsSync(path.join(caDir, "ca-key.pem"))).toBe(true);
    });
});
