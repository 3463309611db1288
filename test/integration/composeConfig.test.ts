// The unit tests read each fixture's model from what compose printed for it
// (<fixture>/expected-config.json); here the real `docker compose config --format
// json` (the compose v2 client in the dind image, on the real engine) must still
// give the same model. When compose changes what it prints, capture the file again.
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { normalizeComposeConfigJson } from "../../components/compose";
import { defaultImages, runCommand } from "./harness";

const FIXTURES = path.resolve(__dirname, "../fixtures/compose");
const DIND_IMAGE = defaultImages().dind;

async function composeConfig(dir: string, files: string[], env: Record<string, string>): Promise<string> {
    const r = await runCommand("docker", [
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "docker",
        // the fixtures' paths leave their project dir (../shared): mount the whole fixture tree
        "--volume",
        `${FIXTURES}:${FIXTURES}:ro`,
        "--workdir",
        dir,
        ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
        DIND_IMAGE,
        "compose",
        "--project-directory",
        dir,
        ...files.flatMap((f) => ["--file", f]),
        "config",
        "--format",
        "json",
    ]);
    if (r.code !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
    return r.stdout;
}

describe.each<{ fixture: string; files: string[]; env: Record<string, string> }>([
    { fixture: "paths", files: ["compose.yaml"], env: {} },
    { fixture: "merge", files: ["compose.yaml", "compose.override.yaml", "compose.ports.yaml"], env: {} },
    { fixture: "interp", files: ["compose.yaml"], env: { TAG: "from-env", FROM_ENV: "x", EMPTY: "" } },
    { fixture: "profiles", files: ["compose.yaml"], env: { COMPOSE_PROFILES: "debug" } },
])("fixture $fixture: docker compose config ($files) vs the captured expected-config.json", ({ fixture, files, env }) => {
    it("give the same model", async () => {
        const dir = path.join(FIXTURES, fixture);
        const abs = files.map((f) => path.join(dir, f));
        const canonical = normalizeComposeConfigJson(await composeConfig(dir, abs, env), { projectDir: dir });
        const captured = normalizeComposeConfigJson(
            fs.readFileSync(path.join(dir, "expected-config.json"), "utf8").replaceAll("@FIXTURES@", FIXTURES),
            { projectDir: dir },
        );
        expect(Object.keys(canonical.services).sort()).toEqual(Object.keys(captured.services).sort());
        expect(canonical).toEqual(captured);
    });
});
