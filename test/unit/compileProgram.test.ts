// scripts/compile-program.js, which program.js runs before every pulumi command:
// it transpiles index.ts and components/**/*.ts into .dind-compose/build/,
// only what changed, and the result must run.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const { compileProgram, programSources } = require("../../scripts/compile-program.js") as {
    compileProgram(root: string): string;
    programSources(root: string): string[];
};

describe("compileProgram", () => {
    let root = "";
    const write = (rel: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
        fs.writeFileSync(path.join(root, rel), text);
    };
    const built = (rel: string) => path.join(root, ".dind-compose", "build", rel);
    const run = (index: string): unknown => {
        for (const k of Object.keys(require.cache)) if (k.startsWith(root)) delete require.cache[k];
        return require(index);
    };

    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "compile-program-"));
        fs.copyFileSync(path.join(__dirname, "..", "..", "tsconfig.json"), path.join(root, "tsconfig.json"));
        write("index.ts", 'import { twice } from "./components/math";\nexport = (): number => twice(21);\n');
        write("components/math.ts", "export function twice(n: number): number {\n    return n * 2;\n}\n");
        write("components/types.d.ts", "export type Unused = string;\n");
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    it("lists index.ts and the .ts files under components/ (not declaration files)", () => {
        expect(programSources(root)).toEqual(["components/math.ts", "index.ts"]);
    });

    it("transpiles the program into .dind-compose/build/ and the result runs", () => {
        const index = compileProgram(root);
        expect(index).toBe(built("index.js"));
        expect((run(index) as () => number)()).toBe(42);
        expect(fs.readFileSync(built("components/math.js"), "utf8")).not.toContain(": number");
    });

    it("a second run rewrites nothing; a changed file is compiled again, alone", () => {
        compileProgram(root);
        const past = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000); // whole seconds: mtimes round-trip exactly
        for (const f of ["index.js", "components/math.js", "manifest.json"]) fs.utimesSync(built(f), past, past);
        const mtime = (f: string) => fs.statSync(built(f)).mtimeMs;
        compileProgram(root);
        expect([mtime("index.js"), mtime("components/math.js"), mtime("manifest.json")]).toEqual([
            past.getTime(),
            past.getTime(),
            past.getTime(),
        ]);

        write("components/math.ts", "export function twice(n: number): number {\n    return n + n + 1;\n}\n");
        const index = compileProgram(root);
        expect(mtime("index.js")).toBe(past.getTime());
        expect(mtime("components/math.js")).toBeGreaterThan(past.getTime());
        expect((run(index) as () => number)()).toBe(43);
    });

    it("a source restored to older text (git checkout) is compiled again: content decides, not mtimes", () => {
        compileProgram(root);
        const before = fs.readFileSync(built("components/math.js"), "utf8");
        write("components/math.ts", "export function twice(n: number): number {\n    return n * 3;\n}\n");
        compileProgram(root);
        write("components/math.ts", "export function twice(n: number): number {\n    return n * 2;\n}\n");
        const past = new Date(Date.now() - 3_600_000);
        fs.utimesSync(path.join(root, "components/math.ts"), past, past);
        compileProgram(root);
        expect(fs.readFileSync(built("components/math.js"), "utf8")).toBe(before);
    });

    it("removes the output of a source that is gone, so a stale module cannot be loaded", () => {
        write("components/old.ts", "export const old = 1;\n");
        compileProgram(root);
        expect(fs.existsSync(built("components/old.js"))).toBe(true);
        fs.rmSync(path.join(root, "components/old.ts"));
        compileProgram(root);
        expect(fs.existsSync(built("components/old.js"))).toBe(false);
    });

    it("copies the JSON files under components/ as they are, for the modules that import them", () => {
        write("components/data.json", '{"n": 21}\n');
        write("index.ts", 'import data from "./components/data.json";\nexport = (): number => data.n * 2;\n');
        const index = compileProgram(root);
        expect(fs.readFileSync(built("components/data.json"), "utf8")).toBe('{"n": 21}\n');
        expect((run(index) as () => number)()).toBe(42);
    });

    it("copies the shell scripts under components/ as they are, for the providers that read them, and drops one that is gone", () => {
        const script = "echo \"$1\"\n\tprintf '%s\\n' done\n";
        write("components/providers/scripts/hello.sh", script);
        compileProgram(root);
        expect(programSources(root)).toContain("components/providers/scripts/hello.sh");
        expect(fs.readFileSync(built("components/providers/scripts/hello.sh"), "utf8")).toBe(script);
        fs.rmSync(path.join(root, "components/providers/scripts/hello.sh"));
        compileProgram(root);
        expect(fs.existsSync(built("components/providers/scripts/hello.sh"))).toBe(false);
    });

    it("a syntax error names the file, line and column", () => {
        write("components/bad.ts", "export const ok = 1;\nexport const = 2;\n");
        expect(() => compileProgram(root)).toThrow(/^components\/bad\.ts:2:\d+: /);
    });
});
