// The program's compiled modules load the parts of @pulumi/pulumi they use, not its package index
// (which loads the Automation API and the closure serializer: ~0.45 s per command, see
// components/pulumiSdk.ts). Checked in a Node.js process of its own, on the real build.
import { execFileSync } from "child_process";
import * as path from "path";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "..", "..");
const { compileProgram, programSources } = require("../../scripts/compile-program.js") as {
    compileProgram(root: string): string;
    programSources(root: string): string[];
};

describe("the program's imports of the Pulumi SDK", () => {
    it("every compiled module of components/ loads without @pulumi/pulumi's index or its Automation API", () => {
        compileProgram(REPO);
        const buildDir = path.join(REPO, ".dind-compose", "build");
        const modules = programSources(REPO)
            .filter((f) => f.startsWith(`components${path.sep}`) && !f.endsWith(".sh")) // scripts are read, not required
            .map((f) => path.join(buildDir, f.replace(/\.ts$/, ".js")));
        expect(modules).toContain(path.join(buildDir, "components", "providers", "docker.js"));
        const script = `for (const m of ${JSON.stringify(modules)}) require(m);
const loaded = Object.keys(require.cache).filter((f) => f.includes("/@pulumi/pulumi/"));
console.log(JSON.stringify({ sdkFiles: loaded.length, heavy: loaded.filter((f) => /@pulumi\\/pulumi\\/(index\\.js|automation\\/)/.test(f)) }));`;
        const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: REPO, encoding: "utf8" })) as {
            sdkFiles: number;
            heavy: string[];
        };
        expect(out.sdkFiles).toBeGreaterThan(10); // the modules did load the SDK's parts
        expect(out.heavy).toEqual([]);
    }, 60_000); // a Node.js process per module: seconds on a loaded 2-core machine
});
