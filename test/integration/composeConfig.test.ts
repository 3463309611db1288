// The hand-written compose reader against compose itself: for each fixture,
// the real `docker compose config --format json` (the compose v2 client in the
// dind image, on the real engine) and readComposeModel must agree on the
// fields the program uses.
import * as path from "path";
import { describe, expect, it } from "vitest";
import { compareModels, normalizeComposeConfigJson, readComposeModel } from "../../components/compose";
import { runCommand } from "./harness";

const FIXTURES = path.resolve(__dirname, "../fixtures/compose");
const DIND_IMAGE = (JSON.parse(process.env.DIND_COMPOSE_DEFAULT_IMAGES ?? "{}") as { dind?: string }).dind ?? "docker:29-dind";

async function composeConfig(dir: string, files: string[], env: Record<string, string>): Promise<string> {
    const r = await runCommand("docker", [
        "run", "--rm", "--network", "none", "--entrypoint", "docker",
        // the fixtures' paths leave their project dir (../shared): mount the whole fixture tree
        "--volume", `${FIXTURES}:${FIXTURES}:ro`, "--workdir", dir,
        ...Object.entries(env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
        DIND_IMAGE, "compose", "--project-directory", dir, ...files.flatMap((f) => ["--file", f]), "config", "--format", "json",
    ]);
    if (r.code !== 0) throw new Error(`docker compose config failed: ${r.stderr}`);
    return r.stdout;
}

describe.each<{ fixture: string; files: string[]; env: Record<string, string> }>([
    { fixture: "paths", files: ["compose.yaml"], env: {} },
    { fixture: "merge", files: ["compose.yaml", "compose.override.yaml", "compose.ports.yaml"], env: {} },
    { fixture: "interp", files: ["compose.yaml"], env: { TAG: "from-env", FROM_ENV: "x", EMPTY: "" } },
])("fixture $fixture: hand-written reader vs docker compose config ($files)", ({ fixture, files, env }) => {
    it("agree on image, build, ports, volumes, environment and env_file", async () => {
        const dir = path.join(FIXTURES, fixture);
        const abs = files.map((f) => path.join(dir, f));
        const canonical = normalizeComposeConfigJson(await composeConfig(dir, abs, env), { projectDir: dir });
        const handWritten = readComposeModel(abs, env, undefined, { projectDir: dir });
        expect(Object.keys(canonical.services).sort()).toEqual(Object.keys(handWritten.services).sort());
        expect(compareModels(handWritten, canonical)).toEqual([]);
    });
});
