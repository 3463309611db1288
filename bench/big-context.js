// `pulumi preview` of a project whose build context holds 50,000 files (a node_modules and no
// .dockerignore), next to the same project with a .dockerignore that leaves node_modules out:
// wall time with the file-digest cache cold and warm, and what the context adds to the stack's
// state (the compose stack's buildFiles input). Run by `npm run bench` after bench/run.js, or
// alone: bash scripts/with-env.sh node bench/big-context.js
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const YAML = require("yaml");
const constants = require("../components/constants.json");

const REPO = path.resolve(__dirname, "..");
const FILES = Number(process.env.BENCH_CONTEXT_FILES || 50000);
const REPS = Number(process.env.BENCH_REPS || 3);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "bench-context-"));
const DIGEST_CACHE = path.join(REPO, ".dind-compose", "cache", "file-digests.json");
const say = (m) => process.stderr.write(`[bench] ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A project with a build context of `FILES` files under node_modules; `ignore`: a .dockerignore that drops them. */
function makeProject(name, ignore) {
    const dir = path.join(TMP, name);
    for (let d = 0; d < FILES / 100; d++) {
        const sub = path.join(dir, "node_modules", `pkg${d}`);
        fs.mkdirSync(sub, { recursive: true });
        for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(sub, `f${f}.js`), `module.exports = ${d * 100 + f};\n`);
    }
    fs.writeFileSync(path.join(dir, "index.js"), "console.log('hi');\n");
    fs.writeFileSync(path.join(dir, "Dockerfile"), `FROM ${constants.images.standIns.busybox}\nCOPY index.js /app/\n`);
    if (ignore) fs.writeFileSync(path.join(dir, ".dockerignore"), "node_modules\n");
    fs.writeFileSync(
        path.join(dir, "compose.yaml"),
        YAML.stringify({ services: { app: { build: ".", command: ["httpd", "-f", "-p", "3000"], ports: ["3000:3000"] } } }),
    );
    return dir;
}

function pulumi(stack, env, ...args) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync("pulumi", [...args, "--stack", stack, "--non-interactive", "--color", "never"], {
        cwd: REPO,
        env,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
    return { seconds, stdout: r.stdout };
}

/** Preview figures of one project: cold (no digest cache), warm (median), and the state its context adds. */
function measure(label, dir) {
    const stack = `bench-ctx-${label}-${crypto.randomBytes(2).toString("hex")}`;
    const backend = path.join(TMP, `backend-${label}`);
    fs.mkdirSync(backend);
    // DIND_COMPOSE_CA_DIR: a user CA of the bench's own, never the user's.
    const env = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "",
        DIND_COMPOSE_CA_DIR: path.join(TMP, "ca"),
    };
    const stackFile = path.join(REPO, `Pulumi.${stack}.yaml`);
    try {
        spawnSync("pulumi", ["stack", "init", stack, "--non-interactive"], { cwd: REPO, env });
        const salt = fs.readFileSync(stackFile, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        fs.writeFileSync(
            stackFile,
            `${salt}\n${YAML.stringify({ config: { "dind-compose:projects": [{ name: "ctx", path: dir }], "dind-compose:gateway": { httpPort: 18080, httpsPort: 18443 } } })}`,
        );
        fs.rmSync(DIGEST_CACHE, { force: true });
        const cold = pulumi(stack, env, "preview", "--json");
        const warm = [];
        let last = cold;
        for (let i = 0; i < REPS; i++) warm.push((last = pulumi(stack, env, "preview", "--json")).seconds);
        const step = (JSON.parse(last.stdout).steps ?? []).find((s) => s.urn.endsWith("::env-ctx-stack"));
        const buildFiles = step?.newState?.inputs?.buildFiles ?? {};
        return {
            label,
            cold: cold.seconds,
            warm: median(warm),
            entries: Object.keys(buildFiles).length,
            bytes: Buffer.byteLength(JSON.stringify(buildFiles)),
        };
    } finally {
        spawnSync("pulumi", ["stack", "rm", "--yes", "--force", "--stack", stack], { cwd: REPO, env });
        fs.rmSync(stackFile, { force: true });
    }
}

function main() {
    say(`making two projects of ${FILES} files each in ${TMP}`);
    const rows = [measure("no-dockerignore", makeProject("big", false)), measure("dockerignore", makeProject("ignored", true))];
    console.log(`\n## preview of a project with a ${FILES}-file build context (medians of ${REPS} warm runs)\n`);
    console.log("| project | preview, digest cache cold (s) | preview, warm (s) | buildFiles entries | buildFiles in the state (bytes) |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const r of rows) console.log(`| ${r.label} | ${r.cold.toFixed(2)} | ${r.warm.toFixed(2)} | ${r.entries} | ${r.bytes} |`);
    const [big, small] = rows;
    console.log(
        `\nratio, ${FILES} files against .dockerignore: cold ${(big.cold / small.cold).toFixed(2)}x, warm ${(big.warm / small.warm).toFixed(2)}x`,
    );
    fs.rmSync(TMP, { recursive: true, force: true });
}

main();
