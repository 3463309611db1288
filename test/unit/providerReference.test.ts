// The `__provider` text of providerReference.ts, evaluated as the provider process does
// (require-from-string of a module whose handler() returns the provider).
import * as fs from "fs";
import { createRequire } from "module";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { providerSource } from "../../components/providers/providerReference";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "provider-ref-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Evaluates `source` as a CommonJS module and calls its handler, like @pulumi/pulumi's dynamic provider host. */
function handlerOf(source: string): Record<string, unknown> {
    const exports: { handler?: () => Record<string, unknown> } = {};
    new Function("exports", "require", source)(exports, createRequire(path.join(tmp, "host.js")));
    return (exports.handler as () => Record<string, unknown>)();
}

describe("providerSource", () => {
    it("is a small module whose handler returns the provider the compiled module exports, methods and all", () => {
        const moduleFile = path.join(tmp, "built", "p.js");
        fs.mkdirSync(path.dirname(moduleFile), { recursive: true });
        fs.writeFileSync(
            moduleFile,
            "exports.thingProvider = { create: async (i) => ({ id: 'x', outs: i }), diff: async () => ({ changes: false }) };\n",
        );
        const source = providerSource(moduleFile, "thingProvider");
        expect(source.length).toBeLessThan(1500);
        const provider = handlerOf(source);
        expect(Object.keys(provider).sort()).toEqual(["create", "diff"]);
        expect(provider).toBe(createRequire(moduleFile)(moduleFile).thingProvider);
    });

    it("names a module of the project relative to it, found from the provider process's directory (the project's)", () => {
        // vitest runs in the repository, as Pulumi runs the provider process in the project directory
        fs.mkdirSync(path.join(process.cwd(), "test-artifacts"), { recursive: true });
        const dir = fs.mkdtempSync(path.join(process.cwd(), "test-artifacts", "provider-ref-"));
        try {
            const moduleFile = path.join(dir, "s.js");
            fs.writeFileSync(moduleFile, "exports.sProvider = { here: __filename };\n");
            const source = providerSource(moduleFile, "sProvider", process.cwd());
            expect(source).toContain(JSON.stringify(path.relative(process.cwd(), moduleFile)));
            expect(source).not.toContain(process.cwd());
            expect(handlerOf(source)).toEqual({ here: moduleFile });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("names the module and the export when the export is missing", () => {
        const moduleFile = path.join(tmp, "built", "q.js");
        fs.writeFileSync(moduleFile, "exports.other = {};\n");
        expect(() => handlerOf(providerSource(moduleFile, "thingProvider"))).toThrow(
            `${moduleFile} exports no provider named thingProvider`,
        );
    });

    it("compiles the program first when the build is gone (a destroy after the build directory was removed)", () => {
        const root = path.join(tmp, "repo");
        const moduleFile = path.join(root, ".dind-compose", "build", "components", "providers", "r.js");
        fs.mkdirSync(path.join(root, "scripts"), { recursive: true });
        // A stand-in for scripts/compile-program.js that writes the module it is asked for.
        fs.writeFileSync(
            path.join(root, "scripts", "compile-program.js"),
            `const fs = require("fs"); exports.compileProgram = (root) => { fs.mkdirSync(${JSON.stringify(path.dirname(moduleFile))}, { recursive: true }); fs.writeFileSync(${JSON.stringify(moduleFile)}, "exports.rProvider = { create: () => 'built for ' + " + JSON.stringify(root) + " };"); };\n`,
        );
        const provider = handlerOf(providerSource(moduleFile, "rProvider")) as { create: () => string };
        expect(fs.existsSync(moduleFile)).toBe(true);
        expect(provider.create()).toBe(`built for ${root}`);
    });
});
