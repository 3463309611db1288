// The file transport of `dind-compose:files: sync` on a project of 10,000 files: the first sync
// and a one-file re-sync (rsync over `docker exec -i`, the arguments the product uses), against
// `tar -c | docker exec -i <c> tar -x` of the whole folder, measured in the same run, with the
// floors beside them (one `docker exec`, an rsync with nothing to send, the tree digest that
// preview computes). Then the same through Pulumi: a stack with files: sync, where `up` after one
// edited file is compared with a no-op `preview`, Pulumi's own floor.
// Run by `npm run bench`, or alone: bash scripts/with-env.sh node bench/sync.js
//   BENCH_SYNC_FILES=10000  BENCH_REPS=3  BENCH_SYNC_PULUMI=1 (0: leave out the Pulumi part)
"use strict";
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const YAML = require("yaml");

const REPO = path.resolve(__dirname, "..");
require("../scripts/compile-program").compileProgram(REPO);
const BUILD = path.join(REPO, ".dind-compose", "build", "components");
const { rsyncArgs, parseSyncOutput } = require(path.join(BUILD, "transport", "rsync.js"));
const { treeManifest } = require(path.join(BUILD, "transport", "manifest.js"));
const constants = require("../components/constants.json");

const FILES = Number(process.env.BENCH_SYNC_FILES || 10000);
const REPS = Number(process.env.BENCH_REPS || 3);
const WITH_PULUMI = process.env.BENCH_SYNC_PULUMI !== "0";
const LABEL = "dind-compose.bench-sync=1";
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "bench-sync-"));
const PROJECT = path.join(TMP, "project");
const say = (m) => process.stderr.write(`[bench] ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd, args, opts = {}) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    return { seconds, stdout: r.stdout };
}
const sh = (script) => run("bash", ["-o", "pipefail", "-c", script]);

/** A monorepo-like tree: FILES files of 200 B to 8 KB in folders of 100, plus a compose file. */
function makeProject() {
    let bytes = 0;
    for (let d = 0; d < Math.ceil(FILES / 100); d++) {
        const sub = path.join(PROJECT, "web", `mod${d}`);
        fs.mkdirSync(sub, { recursive: true });
        for (let f = 0; f < 100 && d * 100 + f < FILES; f++) {
            const text = `// ${d}/${f}\n`.padEnd(200 + (((d * 100 + f) * 797) % 8000), "x") + "\n";
            fs.writeFileSync(path.join(sub, `f${f}.js`), text);
            bytes += text.length;
        }
    }
    fs.writeFileSync(path.join(PROJECT, "web", "index.html"), "<h1>bench</h1>\n");
    fs.writeFileSync(
        path.join(PROJECT, "compose.yaml"),
        YAML.stringify({
            services: {
                web: {
                    image: constants.images.standIns.busybox,
                    command: ["httpd", "-f", "-p", "80", "-h", "/www"],
                    volumes: ["./web:/www:ro"],
                    ports: ["8080:80"],
                },
            },
        }),
    );
    return bytes;
}

/** The timings of the transport alone, into a container of the dind image (which has rsync). */
function transport() {
    const c = `bench-sync-${crypto.randomBytes(3).toString("hex")}`;
    run("docker", ["run", "-d", "--name", c, "--label", LABEL, "--entrypoint", "sleep", constants.images.standIns.dind, "infinity"]);
    try {
        const rsh = ["docker", "exec", "-i"];
        const into = (target) => rsyncArgs(c, PROJECT, rsh).map((a) => (a === `${c}:${PROJECT}/` ? `${c}:${target}/` : a));
        const execFloor = [];
        const tar = [];
        const first = [];
        for (let i = 0; i < REPS; i++) {
            execFloor.push(run("docker", ["exec", c, "true"]).seconds);
            tar.push(sh(`tar -C '${PROJECT}' -cf - . | docker exec -i ${c} sh -c 'mkdir -p /tar${i} && tar -x -C /tar${i}'`).seconds);
            run("docker", ["exec", c, "mkdir", "-p", `/rs${i}`]);
            const r = run("rsync", into(`/rs${i}`));
            first.push(r.seconds);
            if (i === 0) say(`first sync sent ${parseSyncOutput(r.stdout).sent.length} files`);
        }
        const again = [];
        const none = [];
        const edited = path.join(PROJECT, "web", "mod7", "f3.js");
        for (let i = 0; i < REPS; i++) {
            fs.appendFileSync(edited, `// edit ${i}\n`);
            const r = run("rsync", into("/rs0"));
            const sent = parseSyncOutput(r.stdout).sent;
            if (sent.length !== 1) throw new Error(`a one-file re-sync sent ${sent.length} files: ${sent.slice(0, 5).join(", ")}`);
            again.push(r.seconds);
            none.push(run("rsync", into("/rs0")).seconds);
        }
        const digest = [];
        for (let i = 0; i < REPS; i++) {
            const t0 = process.hrtime.bigint();
            treeManifest(PROJECT);
            digest.push(Number(process.hrtime.bigint() - t0) / 1e9);
        }
        return {
            execFloor: median(execFloor),
            tar: median(tar),
            first: median(first),
            again: median(again),
            none: median(none),
            digest: median(digest),
        };
    } finally {
        spawnSync("docker", ["rm", "-f", "-v", c]);
    }
}

function pulumi(stack, env, ...args) {
    return run("pulumi", [...args, "--stack", stack, "--non-interactive", "--color", "never"], { cwd: REPO, env });
}

/** One project with files: sync on this machine's engine: first up, re-sync up after one edit, no-op preview. */
function throughPulumi() {
    const stack = `bench-sync-${crypto.randomBytes(2).toString("hex")}`;
    const backend = path.join(TMP, "backend");
    fs.mkdirSync(backend);
    const env = {
        ...process.env,
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "",
        DIND_COMPOSE_CA_DIR: path.join(TMP, "ca"),
    };
    const stackFile = path.join(REPO, `Pulumi.${stack}.yaml`);
    try {
        pulumi(stack, env, "stack", "init");
        const salt = fs.readFileSync(stackFile, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        const config = {
            // No registry here: the inner daemon gets the image from this engine.
            "dind-compose:projects": [{ name: "big", path: PROJECT, preloadImages: [constants.images.standIns.busybox] }],
            "dind-compose:files": "sync",
            "dind-compose:gateway": { httpPort: 18180, httpsPort: 18543 },
        };
        fs.writeFileSync(stackFile, `${salt}\n${YAML.stringify({ config })}`);
        const firstUp = pulumi(stack, env, "up", "--yes", "--skip-preview").seconds;
        const noop = [];
        const editUp = [];
        for (let i = 0; i < REPS; i++) {
            noop.push(pulumi(stack, env, "preview").seconds);
            fs.appendFileSync(path.join(PROJECT, "web", "index.html"), `<p>edit ${i}</p>\n`);
            const up = pulumi(stack, env, "up", "--yes", "--skip-preview");
            if (!/1 file sent/.test(up.stdout)) throw new Error(`up after one edit did not say "1 file sent":\n${up.stdout}`);
            editUp.push(up.seconds);
        }
        return { firstUp, noop: median(noop), editUp: median(editUp) };
    } finally {
        spawnSync("pulumi", ["destroy", "--yes", "--skip-preview", "--stack", stack, "--non-interactive"], { cwd: REPO, env });
        spawnSync("pulumi", ["stack", "rm", "--yes", "--force", "--stack", stack, "--non-interactive"], { cwd: REPO, env });
        fs.rmSync(stackFile, { force: true });
    }
}

function main() {
    const bytes = makeProject();
    say(`project: ${FILES} files, ${(bytes / 1e6).toFixed(1)} MB, in ${PROJECT}`);
    const t = transport();
    const s = (x) => `${x.toFixed(2)} s`;
    const ratio = (x) => `${(x / t.tar).toFixed(2)}x`;
    const rows = [
        ["`tar -c` piped into `docker exec -i <c> tar -x`, the whole folder (baseline)", s(t.tar), "1.00x"],
        ["rsync first sync (into an empty folder)", s(t.first), ratio(t.first)],
        ["rsync re-sync after one file edited", s(t.again), ratio(t.again)],
        ["rsync with nothing to send", s(t.none), ratio(t.none)],
        ["`docker exec <c> true` (the exec's own floor)", s(t.execFloor), ratio(t.execFloor)],
        ["tree digest (lstat of every file; what preview and up compute)", s(t.digest), ratio(t.digest)],
    ];
    if (WITH_PULUMI) {
        const p = throughPulumi();
        rows.push(
            ["`pulumi up`, first (dind container, first sync, compose up)", s(p.firstUp), ratio(p.firstUp)],
            ["`pulumi preview` with nothing changed (Pulumi's floor)", s(p.noop), ratio(p.noop)],
            [
                "`pulumi up` after one file edited (a re-sync, nothing else)",
                s(p.editUp),
                `${ratio(p.editUp)}, ${(p.editUp / p.noop).toFixed(2)}x the floor`,
            ],
        );
    }
    const table = [
        `${FILES} files, ${(bytes / 1e6).toFixed(1)} MB; median of ${REPS}`,
        "",
        "| step | time | vs tar |",
        "| --- | --- | --- |",
    ];
    for (const r of rows) table.push(`| ${r.join(" | ")} |`);
    process.stdout.write(`${table.join("\n")}\n`);
}

try {
    main();
} finally {
    fs.rmSync(TMP, { recursive: true, force: true });
    const left = spawnSync("docker", ["ps", "-aq", "--filter", `label=${LABEL}`], { encoding: "utf8" }).stdout.trim();
    if (left) spawnSync("docker", ["rm", "-f", "-v", ...left.split("\n")]);
}
