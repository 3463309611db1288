// The program's TypeScript (index.ts and components/**/*.ts), transpiled ahead
// of the run into .dind-compose/build/, by program.js, which Pulumi runs; the
// JSON files under components/ are copied next to the modules that import them.
//
// Why not Pulumi's built-in ts-node: it installs source-map-support, and the
// Pulumi SDK captures a stack trace for every resource and promise, each one
// then mapped through the source maps: about 0.5 s of CPU per `pulumi preview`
// at 8 projects, plus ts-node's own start (BENCHMARKS.md). Here each file is
// transpiled on its own (tsconfig.json's options, `isolatedModules` is on so
// that this is sound) only when its text, the options or the TypeScript
// version changed; an unchanged program costs one hash per file. Types are
// checked by `npm run typecheck` and `npm test`, not on every run.
//
// Several pulumi processes may start at once (the tests do): every file is
// written to a temporary name and renamed into place, so none sees half a file.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const BUILD_DIR = path.join(".dind-compose", "build");

/** Files under components/ that are copied as they are: data a module imports, scripts a provider reads. */
const COPIED = [".json", ".sh"];

/** index.ts and every .ts (and .json and .sh, copied as they are) under components/, as paths relative to the project root. */
function programSources(root) {
    const found = ["index.ts"];
    const walk = (rel) => {
        for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
            const child = path.join(rel, entry.name);
            if (entry.isDirectory()) walk(child);
            else if ((entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) || COPIED.some((ext) => entry.name.endsWith(ext)))
                found.push(child);
        }
    };
    walk("components");
    return found.sort();
}

function writeAtomically(file, text) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
}

/** Every file under dir, relative to it. */
function filesUnder(dir, rel = "") {
    if (!fs.existsSync(path.join(dir, rel))) return [];
    return fs
        .readdirSync(path.join(dir, rel), { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? filesUnder(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]));
}

/**
 * Brings .dind-compose/build/ up to date with the sources and returns the path
 * of the compiled index.js. Throws an error naming the file and line for
 * syntax errors (type errors are tsc's job).
 */
function compileProgram(root) {
    const outDir = path.join(root, BUILD_DIR);
    const manifestFile = path.join(outDir, "manifest.json");
    let manifest = {};
    try {
        manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
    } catch {
        // first run, or a damaged manifest: everything is compiled
    }
    const tsconfigText = fs.readFileSync(path.join(root, "tsconfig.json"), "utf8");
    const tsVersion = require("typescript/package.json").version;
    let ts; // loaded only when something must be compiled (~0.1 s)
    let compilerOptions;
    const next = {};
    const outputs = new Set(["manifest.json"]);
    for (const rel of programSources(root)) {
        const text = fs.readFileSync(path.join(root, rel), "utf8");
        const key = crypto.createHash("sha256").update(`${tsVersion}\0${tsconfigText}\0${text}`).digest("hex");
        const outRel = rel.replace(/\.ts$/, ".js");
        const out = path.join(outDir, outRel);
        outputs.add(outRel);
        next[rel] = key;
        if (manifest[rel] === key && fs.existsSync(out)) continue;
        if (COPIED.some((ext) => rel.endsWith(ext))) {
            writeAtomically(out, text); // components/constants.json, components/providers/scripts/*.sh
            continue;
        }
        if (!ts) {
            ts = require("typescript");
            const parsed = ts.parseConfigFileTextToJson("tsconfig.json", tsconfigText);
            if (parsed.error) throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(parsed.error.messageText, "\n")}`);
            const converted = ts.convertCompilerOptionsFromJson(parsed.config.compilerOptions, root);
            compilerOptions = {
                ...converted.options,
                noEmit: false,
                outDir: undefined,
                sourceMap: false,
                inlineSourceMap: false,
                declaration: false,
            };
        }
        const result = ts.transpileModule(text, { compilerOptions, fileName: rel, reportDiagnostics: true });
        const problems = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
        if (problems.length > 0) {
            const d = problems[0];
            const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
            throw new Error(
                `${rel}${at ? `:${at.line + 1}:${at.character + 1}` : ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
            );
        }
        writeAtomically(out, result.outputText);
    }
    // Outputs of sources that are gone: a stale module must not stay loadable.
    for (const rel of filesUnder(outDir)) {
        if (!outputs.has(rel) && !rel.endsWith(".tmp")) fs.rmSync(path.join(outDir, rel), { force: true });
    }
    if (JSON.stringify(next) !== JSON.stringify(manifest)) writeAtomically(manifestFile, JSON.stringify(next, null, 1));
    return path.join(outDir, "index.js");
}

/** A module of the program (`components/composeCommand`), compiled if needed, for the project's scripts. */
function requireProgramModule(root, rel) {
    compileProgram(root);
    return require(path.join(root, BUILD_DIR, `${rel}.js`));
}

module.exports = { compileProgram, programSources, requireProgramModule };
