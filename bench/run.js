#!/usr/bin/env node
// `npm run bench`: dind-compose against plain compose and a hand-written dind
// script, on this machine's engine, for N = 1, 2, 4, 8 copies of the example
// projects (see BENCHMARKS.md for what each column means and the findings).
//
// Everything it creates is named bench-* (the program's objects are
// dind-compose-bench-*, the program's own prefix), lives in a temp dir or a
// temp Pulumi backend, and is removed at the end, also on failure or Ctrl-C.
//
// Knobs (for development; the defaults are the published run):
//   BENCH_N=1,8,32   BENCH_REPS=3   BENCH_WRK_SECONDS=10   BENCH_GATEWAY=1
//   BENCH_ONCE_N=100 (one cold up, no-op preview and destroy at that N; 0: none)
//   BENCH_WRITE=1 (update BENCHMARKS.md between its bench markers)
"use strict";
const { spawn } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const net = require("net");
const os = require("os");
const path = require("path");
const YAML = require("yaml");
const constants = require("../components/constants.json");
const { requireProgramModule } = require("../scripts/compile-program.js");

const REPO = path.resolve(__dirname, "..");
const NS = (process.env.BENCH_N || "1,8,32").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS || 3);
const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS || 10);
const DO_GATEWAY = process.env.BENCH_GATEWAY !== "0";
const WRITE = process.env.BENCH_WRITE !== "0";
const ONCE_N = Number(process.env.BENCH_ONCE_N ?? 100);
const RUN_ID = crypto.randomBytes(2).toString("hex");

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "bench-dind-compose-"));
const LOGS = path.join(TMP, "logs");
fs.mkdirSync(LOGS);

const images = process.env.DIND_COMPOSE_DEFAULT_IMAGES ? JSON.parse(process.env.DIND_COMPOSE_DEFAULT_IMAGES) : constants.images.defaults;
const DIND = images.dind;
const NGINX = images.nginx;
const DIND_ALT = `bench-dind:${RUN_ID}`; // a second tag of the same image: replaces the dind containers, keeps the data volumes
const BUSYBOX = constants.images.standIns.busybox;
const { STACK_LABEL } = requireProgramModule(path.resolve(__dirname, ".."), "components/names");
const SECURITY = process.env.DIND_COMPOSE_DEFAULT_SECURITY || "privileged";

/** The dind container's flags in a security mode: `--privileged`, or the program's `capabilities` set. */
const securityArgs = (mode) => (mode === "privileged" ? ["--privileged"] : constants.dindCapabilityFlags);

// ------------------------------------------------------------------ processes
const say = (m) => process.stderr.write(`[bench] ${m}\n`);

function run(file, args, opts = {}) {
    const started = process.hrtime.bigint();
    const startedEpoch = Date.now() / 1000;
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { cwd: opts.cwd || REPO, env: opts.env || process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("error", reject);
        child.on("close", (code) =>
            resolve({ code: code ?? 1, stdout, stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9, startedEpoch }),
        );
        child.stdin.on("error", () => {}); // a child that exits without reading its input
        child.stdin.end(opts.input || "");
    });
}

async function must(file, args, opts) {
    const r = await run(file, args, opts);
    if (r.code !== 0)
        throw new Error(`${file} ${args.join(" ")} failed (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return r;
}

const docker = (...args) => must("docker", args).then((r) => r.stdout.trim());
const dockerQuiet = (...args) => run("docker", args);

/** Wall time of several commands started together (a script with `&` and `wait`). */
async function parallel(commands) {
    const t0 = process.hrtime.bigint();
    const results = await Promise.all(commands.map(([f, a, o]) => run(f, a, o)));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const failed = results.find((r) => r.code !== 0);
    if (failed) throw new Error(`a parallel command failed:\n${failed.stdout.slice(-2000)}\n${failed.stderr.slice(-2000)}`);
    return seconds;
}

const median = (xs) => {
    const s = xs.filter((x) => x !== undefined && !Number.isNaN(x)).sort((a, b) => a - b);
    if (s.length === 0) return undefined;
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
        srv.on("error", reject);
    });
}

function httpGet(host, port, hostHeader, urlPath = "/") {
    return new Promise((resolve) => {
        const req = http.request({ host, port, path: urlPath, headers: hostHeader ? { Host: hostHeader } : {}, timeout: 5000 }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e) => resolve({ status: 0, body: String(e) }));
        req.end();
    });
}

// ------------------------------------------------------------------ docker CLI shim
// Every docker command the program runs (preflight, compose config, providers)
// goes through this wrapper, which appends "start end exit args" to
// $BENCH_DOCKER_LOG: the profile of where `pulumi up` spends its time.
const SHIM = path.join(TMP, "shim");
let REAL_DOCKER;
async function installShim() {
    REAL_DOCKER = (await must("bash", ["-c", "command -v docker"])).stdout.trim();
    fs.mkdirSync(SHIM);
    fs.writeFileSync(
        path.join(SHIM, "docker"),
        `#!/bin/bash
s=$EPOCHREALTIME
${REAL_DOCKER} "$@"
rc=$?
[ -n "\${BENCH_DOCKER_LOG:-}" ] && printf '%s %s %s %s\\n' "$s" "$EPOCHREALTIME" "$rc" "\${*//$'\\n'/ }" >> "$BENCH_DOCKER_LOG"
exit $rc
`,
        { mode: 0o755 },
    );
}

const CATEGORIES = [
    ["readiness polls", /^exec .*docker version/],
    ["image copy", /^save |^exec -i \S+ docker load|^exec \S+ docker image inspect/],
    ["compose up", /^exec .* compose .* up --detach/],
    ["compose down", /^exec .* compose .* down/],
    ["compose ps", /^exec (?!.* up --detach).* compose .* ps /],
    ["compose config", /^run --rm .*compose.*config/],
    ["containers", /^(create|start|stop|rm|cp) |^network (connect|disconnect)|^exec \S+ nginx/],
    ["volumes, networks", /^(volume|network) (create|rm)/],
    ["inspect, ls (engine reads)", /inspect|^(container|volume|network) ls /],
];

/** Reads a shim log: per category count, summed seconds and wall time covered; overall coverage. */
function dockerProfile(logFile, t0, wall) {
    const calls = fs.existsSync(logFile)
        ? fs
              .readFileSync(logFile, "utf8")
              .trim()
              .split("\n")
              .filter(Boolean)
              .map((l) => {
                  const [s, e, rc, ...rest] = l.split(" ");
                  const args = rest.join(" ");
                  const cat = (CATEGORIES.find(([, re]) => re.test(args)) || ["other"])[0];
                  return { s: Number(s) - t0, e: Number(e) - t0, rc: Number(rc), args, cat };
              })
        : [];
    const union = (xs) => {
        const iv = xs.map((c) => [c.s, c.e]).sort((a, b) => a[0] - b[0]);
        let total = 0;
        let cur;
        for (const [s, e] of iv) {
            if (!cur || s > cur[1]) {
                if (cur) total += cur[1] - cur[0];
                cur = [s, e];
            } else cur[1] = Math.max(cur[1], e);
        }
        if (cur) total += cur[1] - cur[0];
        return total;
    };
    const byCat = {};
    for (const c of calls) {
        const b = (byCat[c.cat] = byCat[c.cat] || { n: 0, sum: 0, calls: [] });
        b.n++;
        b.sum += c.e - c.s;
        b.calls.push(c);
    }
    for (const b of Object.values(byCat)) {
        b.covered = union(b.calls);
        delete b.calls;
    }
    const first = calls.length ? Math.min(...calls.map((c) => c.s)) : undefined;
    const last = calls.length ? Math.max(...calls.map((c) => c.e)) : undefined;
    return {
        n: calls.length,
        firstCall: first,
        afterLastCall: last === undefined ? undefined : wall - last,
        busy: union(calls),
        byCat,
        mutating: calls.filter((c) => c.cat !== "inspect, ls (engine reads)").map((c) => c.args.slice(0, 120)),
    };
}

// ------------------------------------------------------------------ projects
/** p1..pN: alternate copies of examples/project-a (odd) and project-b (even). */
function makeProjects(n) {
    const dir = path.join(TMP, "projects");
    const list = [];
    for (let i = 1; i <= n; i++) {
        const kind = i % 2 ? "project-a" : "project-b";
        const d = path.join(dir, `p${i}`);
        if (!fs.existsSync(d)) fs.cpSync(path.join(REPO, "examples", kind), d, { recursive: true });
        list.push({ name: `p${i}`, dir: d, kind, port: kind === "project-a" ? 3000 : 80 });
    }
    return list;
}

// ------------------------------------------------------------------ baseline 1: plain compose on the outer engine
// The examples publish fixed host ports (3000, 80); on one engine the copies
// would collide, so an override publishes them on ephemeral loopback ports.
// Their health checks use start_interval (1 s while starting), which engines
// before 25 refuse: there the override checks every second instead.
function b1Override(p, engineMajor) {
    const f = path.join(TMP, `b1-override-${p.name}.yaml`);
    const health = engineMajor < 25 ? `    healthcheck:\n      start_interval: !reset null\n      interval: 1s\n` : "";
    // Each project's default network gets a subnet of its own (10.252.<i>.0/24): the engine's default
    // pools run out after about 30 networks, which plain compose hits at N = 32 as the program did.
    const subnet = `10.252.${Number(p.name.slice(1))}.0/24`;
    const net = `networks:\n  default:\n    ipam:\n      config:\n        - subnet: ${subnet}\n`;
    if (!fs.existsSync(f)) fs.writeFileSync(f, `services:\n  web:\n    ports: !override ["127.0.0.1::${p.port}"]\n${health}${net}`);
    return f;
}
const b1Name = (p) => `bench-b1-${p.name}`;
let outerEngineMajor = 99; // set by main() from `docker version`
const b1Args = (p) => ["compose", "-p", b1Name(p), "-f", path.join(p.dir, "compose.yaml"), "-f", b1Override(p, outerEngineMajor)];

async function baseline1(projects) {
    const up = await parallel(projects.map((p) => ["docker", [...b1Args(p), "up", "-d", "--wait"], { cwd: p.dir }]));
    const down = await parallel(projects.map((p) => ["docker", [...b1Args(p), "down"], { cwd: p.dir }]));
    await b1Clean(projects);
    return { up, down };
}
/** Not timed: the images project-a builds, so every run builds again. */
async function b1Clean(projects) {
    for (const p of projects) {
        await dockerQuiet(...b1Args(p), "down", "--volumes", "--rmi", "local");
    }
}

// ------------------------------------------------------------------ baseline 2: the hand-written dind script
const SCRIPT = path.join(REPO, "bench", "dind-script.sh");
const scriptEnv = () => ({
    ...process.env,
    DIND_IMAGE: DIND,
    PRELOAD: BUSYBOX,
    PREFIX: "bench-s-",
    SECURITY_ARGS: securityArgs(SECURITY).join("\n"),
});

async function baseline2(projects) {
    const upR = await run("bash", [SCRIPT, "up", ...projects.map((p) => `${p.name}=${p.dir}`)], { env: scriptEnv() });
    if (upR.code !== 0) throw new Error(`dind script up failed:\n${upR.stderr.slice(-3000)}`);
    // Sanity: every project answers on its inner published port.
    for (const p of projects) {
        const ip = await docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", `bench-s-${p.name}`);
        const r = await httpGet(ip, p.port);
        if (r.status !== 200) throw new Error(`baseline 2: ${p.name} answered ${r.status} on ${ip}:${p.port}`);
    }
    const downR = await run("bash", [SCRIPT, "down", ...projects.map((p) => p.name)], { env: scriptEnv() });
    if (downR.code !== 0) throw new Error(`dind script down failed:\n${downR.stderr}`);
    return { up: upR.seconds, down: downR.seconds };
}

// ------------------------------------------------------------------ the program
const stacks = new Set();

class BenchStack {
    constructor(n, rep) {
        this.name = `bench-${RUN_ID}-n${n}r${rep}`;
        this.label = `dind-compose/${this.name}`;
        this.dir = path.join(TMP, "stacks", this.name);
        this.backend = path.join(this.dir, "backend");
        this.configFile = path.join(this.dir, `Pulumi.${this.name}.yaml`);
        fs.mkdirSync(this.backend, { recursive: true });
        this.seq = 0;
        stacks.add(this);
    }

    env(extra = {}) {
        return {
            ...process.env,
            PATH: `${SHIM}:${process.env.PATH}`,
            PULUMI_BACKEND_URL: `file://${this.backend}`,
            PULUMI_CONFIG_PASSPHRASE: "",
            // a user CA of the bench's own: a bench never makes or re-issues the user's
            DIND_COMPOSE_CA_DIR: path.join(TMP, "ca"),
            ...extra,
        };
    }

    async init(config) {
        const repoFile = path.join(REPO, `Pulumi.${this.name}.yaml`);
        const r = await run("pulumi", ["stack", "init", this.name, "--non-interactive"], { env: this.env() });
        // `stack init` writes Pulumi.<stack>.yaml into the repo: move it out at once (--config-file from here on).
        if (fs.existsSync(repoFile)) fs.renameSync(repoFile, this.configFile);
        if (r.code !== 0) throw new Error(`pulumi stack init failed: ${r.stderr}`);
        this.salt = fs.readFileSync(this.configFile, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        this.setConfig(config);
    }

    setConfig(config) {
        this.config = config;
        const values = {};
        for (const [k, v] of Object.entries(config)) values[`dind-compose:${k}`] = v;
        fs.writeFileSync(this.configFile, `${this.salt}\n${YAML.stringify({ config: values })}`);
    }

    /** Runs pulumi with the docker shim; returns wall time, output and the docker profile. */
    async pulumi(label, args, extraEnv = {}) {
        const log = path.join(LOGS, `${this.name}-${++this.seq}-${label}.docker.log`);
        const r = await run(
            "pulumi",
            [...args, "--stack", this.name, "--config-file", this.configFile, "--non-interactive", "--color", "never"],
            {
                env: this.env({ BENCH_DOCKER_LOG: log, ...extraEnv }),
            },
        );
        fs.writeFileSync(path.join(LOGS, `${this.name}-${this.seq}-${label}.out`), `${r.stdout}\n--- stderr\n${r.stderr}`);
        if (r.code !== 0)
            throw new Error(
                `pulumi ${args.join(" ")} (${this.name}) failed (exit ${r.code}):\n${r.stdout.slice(-5000)}\n${r.stderr.slice(-3000)}`,
            );
        const profile = dockerProfile(log, r.startedEpoch, r.seconds);
        return { seconds: r.seconds, out: r.stdout, profile, ...progressLines(r.stdout) };
    }

    async outputs() {
        const r = await must("pulumi", ["stack", "output", "--json", "--stack", this.name], { env: this.env() });
        return JSON.parse(r.stdout);
    }

    /** Destroys what is left, removes the stack and anything labelled with it. */
    async cleanup() {
        fs.rmSync(path.join(this.backend, ".pulumi", "locks"), { recursive: true, force: true }); // an interrupted run
        if (fs.existsSync(this.configFile)) {
            await run(
                "pulumi",
                ["destroy", "--yes", "--skip-preview", "--stack", this.name, "--config-file", this.configFile, "--non-interactive"],
                { env: this.env() },
            );
        }
        await run("pulumi", ["stack", "rm", "--yes", "--force", "--stack", this.name, "--non-interactive"], { env: this.env() });
        await removeLabelled(`label=${STACK_LABEL}=${this.label}`);
        fs.rmSync(path.join(REPO, `Pulumi.${this.name}.yaml`), { force: true });
        fs.rmSync(path.join(REPO, ".dind-compose", this.name), { recursive: true, force: true });
        stacks.delete(this);
    }
}

async function removeLabelled(filter) {
    const ids = async (...args) => (await dockerQuiet(...args)).stdout.split("\n").filter(Boolean);
    for (const id of await ids("ps", "-aq", "--filter", filter)) await dockerQuiet("rm", "-f", "-v", id);
    for (const id of await ids("network", "ls", "-q", "--filter", filter)) await dockerQuiet("network", "rm", id);
    for (const id of await ids("volume", "ls", "-q", "--filter", filter)) await dockerQuiet("volume", "rm", "-f", id);
}

/** "[p1] inner daemon 26.1.5 ready after 1.4 s" and "[p1] up in 2.0 s" lines of `pulumi up`. */
function progressLines(out) {
    const first = (re) => {
        const m = {};
        for (const x of out.matchAll(re)) if (!(x[1] in m)) m[x[1]] = Number(x[2]);
        return Object.values(m);
    };
    return { ready: first(/\[([\w-]+)\] inner daemon \S+ ready after ([\d.]+) s/g), composeUp: first(/\[([\w-]+)\] up in ([\d.]+) s/g) };
}

/** The program's `docker compose config` cache entries for this run's projects (they name the temp dir). */
function clearComposeCache() {
    const dir = path.join(REPO, ".dind-compose", "cache");
    if (!fs.existsSync(dir)) return;
    for (const f of fs.readdirSync(dir)) {
        const p = path.join(dir, f);
        try {
            if (fs.readFileSync(p, "utf8").includes(TMP)) fs.rmSync(p, { force: true });
        } catch {
            // removed meanwhile
        }
    }
}

/** The program's kept `docker save` archive of the preloaded image (components/providers/composeStack.ts): a cold `up` makes it again, as the script saves every time. */
function clearImageArchives() {
    const dir = path.join(REPO, ".dind-compose", "cache", "images");
    if (!fs.existsSync(dir)) return;
    for (const f of fs.readdirSync(dir)) if (f.includes(BUSYBOX.replace(/[^\w.-]+/g, "_"))) fs.rmSync(path.join(dir, f), { force: true });
}

async function programRuns(n, rep, projects, extras) {
    const st = new BenchStack(n, rep);
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const config = {
        projects: projects.map((p) => ({ name: p.name, path: p.dir, preloadImages: [BUSYBOX] })),
        gateway: { bindAddress: "127.0.0.1", httpPort, httpsPort },
        images: { dind: DIND, nginx: NGINX },
        dind: { security: SECURITY },
    };
    await st.init(config);
    const res = {};
    try {
        clearComposeCache(); // cold: as on the first `up` of these projects
        clearImageArchives();
        res.cold = await st.pulumi("cold-up", ["up", "--yes", "--skip-preview"]);
        for (const p of projects) {
            const r = await httpGet("127.0.0.1", httpPort, `${p.name}.project.localhost`);
            if (r.status !== 200)
                throw new Error(`${st.name}: ${p.name} answered ${r.status} through the gateway after up: ${r.body.slice(0, 200)}`);
        }
        res.noop = await st.pulumi("noop-up", ["up", "--yes", "--skip-preview"]);
        if (
            !/unchanged/.test(res.noop.out) ||
            /\d+ (to )?(create|update|replace|delete)/i.test(res.noop.out.split("Resources:")[1] || "")
        ) {
            throw new Error(`no-op up changed something:\n${res.noop.out.slice(-2000)}`);
        }
        res.preview = await st.pulumi("preview", ["preview"]);
        // Where the start-up goes: program.js transpiles only the files that changed
        // (scripts/compile-program.js), so the previews above compile nothing; after a change of
        // every file (its manifest removed) the same preview transpiles them all.
        fs.rmSync(path.join(REPO, ".dind-compose", "build", "manifest.json"), { force: true });
        res.previewRebuild = await st.pulumi("preview-rebuild", ["preview"]);
        // The no-op and the previews above run right after the cold `up`, while eight new daemons
        // still settle and take the CPU. The same two again once the machine is quiet, as when a
        // user runs them later.
        res.settleSeconds = await waitForQuietCpu();
        ({ memory: res.idleMemory, cpu: res.idleCpu } = await idleStats(st));
        res.noopSettled = await st.pulumi("noop-up-settled", ["up", "--yes", "--skip-preview"]);
        res.previewSettled = await st.pulumi("preview-settled", ["preview"]);
        // `up` after the dind containers are replaced (data volumes, so the inner image cache, kept).
        st.setConfig({ ...config, images: { dind: DIND_ALT, nginx: NGINX } });
        res.warm = await st.pulumi("replaced-dind-up", ["up", "--yes", "--skip-preview"]);
        for (const p of projects) {
            const r = await httpGet("127.0.0.1", httpPort, `${p.name}.project.localhost`);
            if (r.status !== 200) throw new Error(`${st.name}: ${p.name} answered ${r.status} after the dind containers were replaced`);
        }
        if (extras) await extras(st, projects, httpPort);
        res.destroy = await st.pulumi("destroy", ["destroy", "--yes", "--skip-preview"]);
        const left = await dockerQuiet("ps", "-aq", "--filter", `label=${STACK_LABEL}=${st.label}`);
        if (left.stdout.trim()) throw new Error(`destroy left containers: ${left.stdout}`);
    } finally {
        await st.cleanup();
    }
    return res;
}

// ------------------------------------------------------------------ Pulumi's floor: an empty program
/**
 * `preview`, `up` and `destroy` of an empty Node.js Pulumi program (one that only loads the SDK)
 * on the same CLI, backend kind and Node: what any Pulumi program pays, the floor the targets of
 * BENCHMARKS.md are read against.
 */
async function floorRuns(rep) {
    const dir = path.join(TMP, `floor-${rep}`);
    const backend = path.join(dir, "backend");
    fs.mkdirSync(backend, { recursive: true });
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: bench-floor\nruntime: nodejs\nmain: index.js\n");
    fs.writeFileSync(path.join(dir, "index.js"), 'require("@pulumi/pulumi");\n');
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    const env = { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "" };
    const p = (...args) => must("pulumi", [...args, "--stack", "floor", "--non-interactive", "--color", "never"], { cwd: dir, env });
    await must("pulumi", ["stack", "init", "floor", "--non-interactive"], { cwd: dir, env });
    const up = (await p("up", "--yes", "--skip-preview")).seconds;
    const preview = (await p("preview")).seconds;
    const destroy = (await p("destroy", "--yes", "--skip-preview")).seconds;
    fs.rmSync(dir, { recursive: true, force: true });
    return { up, preview, destroy };
}

/** One cold `up`, a no-op `preview` once the machine is quiet, and `destroy`, at a large N; the floor measured right after. */
async function onceRun(n) {
    const projects = makeProjects(n);
    const st = new BenchStack(n, "once");
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    await st.init({
        projects: projects.map((p) => ({ name: p.name, path: p.dir, preloadImages: [BUSYBOX] })),
        gateway: { bindAddress: "127.0.0.1", httpPort, httpsPort },
        images: { dind: DIND, nginx: NGINX },
        dind: { security: SECURITY },
    });
    const res = { n };
    try {
        clearComposeCache();
        res.cold = (await st.pulumi("cold-up", ["up", "--yes", "--skip-preview"])).seconds;
        for (const p of projects) {
            const r = await httpGet("127.0.0.1", httpPort, `${p.name}.project.localhost`);
            if (r.status !== 200) throw new Error(`${st.name}: ${p.name} answered ${r.status} through the gateway after up`);
        }
        res.settleSeconds = await waitForQuietCpu(120);
        ({ memory: res.idleMemory, cpu: res.idleCpu } = await idleStats(st));
        res.preview = (await st.pulumi("preview-settled", ["preview", "--expect-no-changes"])).seconds;
        res.destroy = (await st.pulumi("destroy", ["destroy", "--yes", "--skip-preview"])).seconds;
    } finally {
        await st.cleanup();
    }
    res.floor = await floorRuns("once");
    return res;
}

// ------------------------------------------------------------------ memory
async function rssOf(container) {
    const out = await docker("top", container, "-eo", "pid,rss,comm");
    const procs = out
        .split("\n")
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .map(([, rss, comm]) => ({ rss: Number(rss) / 1024, comm }));
    const sum = (f) => procs.filter(f).reduce((a, p) => a + p.rss, 0);
    return {
        daemon: sum((p) => p.comm === "dockerd" || p.comm === "containerd"),
        total: sum(() => true),
        procs: procs.map((p) => `${p.comm} ${p.rss.toFixed(0)}`).join(", "),
    };
}

/**
 * The stack's dind containers at this moment, from one `docker stats`: the median cgroup memory
 * (MiB: the daemon, its children and their page cache) and CPU (% of one CPU).
 */
async function idleStats(st) {
    const names = (
        await docker("ps", "--filter", `label=dind-compose.stack=${st.label}`, "--filter", "name=-dind$", "--format", "{{.Names}}")
    )
        .split("\n")
        .filter(Boolean);
    const out = await docker("stats", "--no-stream", "--format", "{{.MemUsage}}\t{{.CPUPerc}}", ...names);
    const units = { B: 1 / 2 ** 20, KiB: 1 / 1024, MiB: 1, GiB: 1024 };
    const rows = out.split("\n").map((l) => {
        const [mem, cpu] = l.trim().split("\t");
        const m = /^([\d.]+)(B|KiB|MiB|GiB)/.exec(mem ?? "");
        return { memory: m ? Number(m[1]) * units[m[2]] : NaN, cpu: Number((cpu ?? "").replace("%", "")) };
    });
    return {
        memory: median(rows.map((r) => r.memory).filter(Number.isFinite)),
        cpu: median(rows.map((r) => r.cpu).filter(Number.isFinite)),
    };
}

async function memory(st, projects) {
    const outs = await st.outputs();
    const daemons = [];
    for (const p of projects) daemons.push({ project: p.name, ...(await rssOf(outs.daemons[p.name])) });
    const stats = await docker(
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}\t{{.MemUsage}}",
        ...projects.map((p) => outs.daemons[p.name]),
        outs.gateway,
    );
    return { daemons, gateway: await rssOf(outs.gateway), stats };
}

// ------------------------------------------------------------------ gateway throughput
async function wrk(url, hostHeader) {
    const args = ["-t2", "-c16", `-d${WRK_SECONDS}s`, "--latency", ...(hostHeader ? ["-H", `Host: ${hostHeader}`] : []), url];
    const r = await must("wrk", args);
    const rps = Number((r.stdout.match(/Requests\/sec:\s+([\d.]+)/) || [])[1]);
    const p99m = r.stdout.match(/^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m);
    const p99 = p99m ? Number(p99m[1]) * { us: 0.001, ms: 1, s: 1000 }[p99m[2]] : undefined;
    const non2xx = Number((r.stdout.match(/Non-2xx or 3xx responses: (\d+)/) || [0, 0])[1]);
    const errors = (r.stdout.match(/Socket errors: .*/) || [""])[0];
    return { rps, p99, non2xx, errors, raw: r.stdout };
}

/**
 * Direct (host -> the dind container's address -> the inner published port) against the
 * gateway (published port on 127.0.0.1, and the gateway container's own address, which
 * leaves out docker-proxy): as configured (a keepalive pool on the dind container's address),
 * by name only (the route as it was before the pools: a new upstream connection per request),
 * and without tcp_tw_reuse.
 * Upstreams: the example's busybox httpd (closes every connection), and an nginx started
 * in the same inner daemon (keeps connections open), routed as the program routes a project.
 */
async function gatewayBench(st, projects, httpPort) {
    const outs = await st.outputs();
    const p = projects.find((x) => x.kind === "project-b");
    const dindName = outs.daemons[p.name];
    const gw = outs.gateway;
    const dindIp = await docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", dindName);
    const gwIp = await docker(
        "inspect",
        "--format",
        `{{(index .NetworkSettings.Networks "dind-compose-${st.name}-gateway-net").IPAddress}}`,
        gw,
    );
    const hostname = `${p.name}.project.localhost`;
    const kaHost = `bench-ka.${p.name}.project.localhost`;

    // A keep-alive upstream in the same inner daemon: nginx on inner port 8081.
    say(`gateway: loading ${NGINX} into ${dindName} for a keep-alive upstream`);
    await must("bash", ["-c", `docker save ${NGINX} | docker exec -i ${dindName} docker load -q`]);
    await docker("exec", dindName, "docker", "run", "-d", "--name", "bench-ka", "-p", "8081:80", NGINX, "nginx", "-g", "daemon off;");
    for (let i = 0; i < 50 && (await httpGet(dindIp, 8081)).status !== 200; i++) await new Promise((r) => setTimeout(r, 200));

    // The program's own renderers (compiled by the pulumi runs above), for the keep-alive upstream's route.
    const gatewayConfig = require(path.join(REPO, ".dind-compose", "build", "components", "gatewayConfig.js"));
    const kaRoute = { key: "bench-ka", project: "bench-ka", hostname: kaHost, upstreamHost: dindName, upstreamPort: 8081 };
    const kaAddressFile = `${gatewayConfig.GATEWAY_UPSTREAMS_DIR}/bench-ka/address.conf`;
    await must("docker", ["exec", "-i", gw, "sh", "-c", `mkdir -p ${path.dirname(kaAddressFile)} && cat > ${kaAddressFile}`], {
        input: gatewayConfig.upstreamServerLine(dindIp, 8081),
    });

    const original = await docker("exec", gw, "cat", "/etc/dind-compose/nginx.conf");
    const load = async (conf) => {
        await must("docker", ["exec", "-i", gw, "sh", "-c", "cat > /etc/dind-compose/nginx.conf"], { input: conf });
        await docker("exec", gw, "nginx", "-c", "/etc/dind-compose/nginx.conf", "-s", "reload");
        await new Promise((r) => setTimeout(r, 1500)); // old workers finish
    };
    const asIs = original.replace(
        /\n}\s*$/,
        `${gatewayConfig.renderUpstream(kaRoute)}${gatewayConfig.renderRoute(kaRoute, "listen 80;")}}\n`,
    );
    // Variant: both routes by name, resolved at request time (no pool), as before.
    const byName = [{ key: p.name, project: p.name, upstreamHost: dindName, upstreamPort: p.port }, kaRoute].reduce((conf, r) => {
        const line = `proxy_pass http://${gatewayConfig.upstreamName(r.key)};`;
        if (!conf.includes(line)) throw new Error(`nginx.conf has no "${line}" to derive the by-name variant from`);
        return conf.replace(line, `set $upstream ${r.upstreamHost}:${r.upstreamPort};\n            proxy_pass http://$upstream;`);
    }, asIs);

    const results = [];
    const gwPid = await docker("inspect", "--format", "{{.State.Pid}}", gw);
    /** Sockets in TIME_WAIT in the gateway's network namespace (each closed upstream connection leaves one for 60 s). */
    const timeWait = async () =>
        Number((await must("nsenter", ["-t", gwPid, "-n", "sh", "-c", "awk '$4 == \"06\"' /proc/net/tcp | wc -l"])).stdout.trim());
    const twReuse = (v) => must("nsenter", ["-t", gwPid, "-n", "sysctl", "-q", "-w", `net.ipv4.tcp_tw_reuse=${v}`]);
    const original_tw = (await must("nsenter", ["-t", gwPid, "-n", "sysctl", "-n", "net.ipv4.tcp_tw_reuse"])).stdout.trim();
    /**
     * Without tcp_tw_reuse, a run must not start with the TIME_WAIT sockets of the one before (a
     * new upstream connection cannot take a port in TIME_WAIT towards the same address): wait,
     * up to 65 s, until fewer than 2000 are left.
     */
    let reuse = original_tw === "1";
    const drain = async () => {
        for (let i = 0; i < 66 && !reuse && (await timeWait()) > 2000; i++) await new Promise((r) => setTimeout(r, 1000));
    };
    const measure = async (upstream, variant, path_, url, host) => {
        await drain();
        say(`wrk ${upstream}, ${variant}, ${path_}: ${url}${host ? ` (Host: ${host})` : ""}`);
        const r = await wrk(url, host);
        if (r.non2xx > 0) throw new Error(`wrk ${url} (${host}): ${r.non2xx} non-2xx answers\n${r.raw}`);
        results.push({ upstream, variant, path: path_, rps: r.rps, p99: r.p99, errors: r.errors, timeWait: await timeWait() });
    };
    try {
        for (const [upstream, port, host] of [
            ["busybox httpd (example project-b; closes every connection)", p.port, hostname],
            ["nginx (keeps connections open)", 8081, kaHost],
        ]) {
            await measure(upstream, "direct", "dind address, inner published port", `http://${dindIp}:${port}/`);
            for (const [variant, conf, tw] of [
                [`gateway as configured (keepalive pool, tcp_tw_reuse=${original_tw})`, asIs, original_tw],
                ["gateway by name only, no pool (as before 2026-11-23 evening)", byName, original_tw],
                ["gateway by name only, without tcp_tw_reuse (as before 2026-11-23)", byName, "0"],
            ]) {
                await load(conf);
                await twReuse(tw);
                reuse = tw === "1";
                await measure(upstream, variant, "gateway container address", `http://${gwIp}:80/`, host);
                await measure(upstream, variant, "published port (docker-proxy)", `http://127.0.0.1:${httpPort}/`, host);
            }
            await twReuse(original_tw);
        }
    } finally {
        await twReuse(original_tw).catch(() => {});
        await load(original);
        await dockerQuiet("exec", gw, "rm", "-rf", path.dirname(kaAddressFile));
        await dockerQuiet("exec", dindName, "docker", "rm", "-f", "bench-ka");
    }
    return results;
}

// ------------------------------------------------------------------ startup
async function startupCosts() {
    const times = async (f, a, k = 5) => {
        const xs = [];
        for (let i = 0; i < k; i++) xs.push((await must(f, a)).seconds);
        return median(xs);
    };
    return {
        nodeBare: await times("node", ["-e", "0"]),
        nodePulumiSdk: await times("node", ["-e", "require('@pulumi/pulumi')"]),
        nodeTypescript: await times("node", ["-e", "require('typescript')"]),
        compileProgramUnchanged: await times("node", [
            "-e",
            `require(${JSON.stringify(path.join(REPO, "scripts", "compile-program.js"))}).compileProgram(${JSON.stringify(REPO)})`,
        ]),
        pulumiVersion: await times("pulumi", ["version"]),
        tsc: await times("tsc", ["--noEmit", "-p", "."], 1),
    };
}

// ------------------------------------------------------------------ report
const f1 = (x) => (x === undefined ? "–" : x.toFixed(1));

/** Busy and total jiffies of all CPUs, from /proc/stat. */
function cpuJiffies() {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] || 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
}

/** Waits until the CPUs are at least 70 % idle over a second, at most `maxSeconds`; returns the seconds waited. */
async function waitForQuietCpu(maxSeconds = 30) {
    const started = Date.now();
    while ((Date.now() - started) / 1000 < maxSeconds) {
        const a = cpuJiffies();
        await new Promise((r) => setTimeout(r, 1000));
        const b = cpuJiffies();
        if ((b.busy - a.busy) / Math.max(1, b.total - a.total) <= 0.3) break;
    }
    return (Date.now() - started) / 1000;
}
const f2 = (x) => (x === undefined ? "–" : x.toFixed(2));
const ratio = (x, base) => (x === undefined || !base ? "" : ` (${(x / base).toFixed(1)}×)`);

/** The commit measured, and whether the working tree differs from it. */
function revision() {
    const r = require("child_process").spawnSync("git", ["describe", "--always", "--dirty"], { cwd: REPO, encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : "unknown (not a git checkout)";
}

function machine() {
    const q = (cmd) => require("child_process").execSync(cmd, { encoding: "utf8" }).trim();
    return {
        nproc: os.cpus().length,
        memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
        kernel: os.release(),
        docker: q("docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'"),
        compose: q("docker compose version --short"),
        pulumi: q("pulumi version"),
        node: process.version,
        cpu: os.cpus()[0].model,
    };
}

function report(all) {
    const L = [];
    const m = all.machine;
    L.push(
        `Run of ${all.date} (${all.seconds.toFixed(0)} s): \`${all.command}\` at ${all.revision}, N = ${all.ns.join(", ")}, medians of ${all.reps} runs.`,
    );
    L.push(
        `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB, kernel ${m.kernel}, Docker ${m.docker}, compose ${m.compose}, Pulumi ${m.pulumi}, Node ${m.node}; dind security mode \`${all.security}\`; images ${all.images.dind}, ${all.images.nginx}.`,
    );
    L.push(
        `Load: other containers on the engine ${all.others.start} at the start, ${all.others.end} at the end; load average ${all.load.start} → ${all.load.end}.`,
    );
    L.push("");
    L.push("Seconds, wall clock; in parentheses the ratio to baseline 2 (the dind script; tear-downs to its tear-down).");
    L.push("");
    L.push(
        "| N | plain compose up / down | dind script up / down | cold `pulumi up` | `up` after dind replaced | no-op `up`: right after / settled | `preview`: right after / settled | `destroy` |",
    );
    L.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of all.rows) {
        L.push(
            `| ${r.n} | ${f1(r.b1up)} / ${f1(r.b1down)} | ${f1(r.b2up)} / ${f1(r.b2down)} | ${f1(r.cold)}${ratio(r.cold, r.b2up)} | ${f1(r.warm)}${ratio(r.warm, r.b2up)} | ${f1(r.noop)} / ${f1(r.noopSettled)} | ${f1(r.preview)} / ${f1(r.previewSettled)} | ${f1(r.destroy)}${ratio(r.destroy, r.b2down)} |`,
        );
    }
    L.push("");
    L.push(
        "Against Pulumi's floor (an empty Node.js program on the same CLI, measured in the same runs, alternating) and the targets: no-op `preview` (settled) within 1.3× the floor's `preview` at N = 8; cold `up` within 1.1× (the script's `up` + the floor's `up`); `destroy` within the floor's `destroy` + 1.5× the script's tear-down. Idle memory: median `docker stats` of a project's dind container once the machine is quiet.",
    );
    L.push("");
    L.push(
        "| N | floor preview / up / destroy | no-op preview ÷ floor | cold up ÷ (script + floor) | destroy ÷ (floor + 1.5 × script down) | cost per added project (cold up) | idle memory per project (MiB) | idle CPU per project (% of one CPU) |",
    );
    L.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
    // A ratio with a target says whether it holds; one without (the preview away from N = 8) is shown as it is.
    const verdict = (x, limit) =>
        x === undefined || !Number.isFinite(x)
            ? "–"
            : limit === undefined
              ? x.toFixed(2)
              : `${x.toFixed(2)} ${x <= limit ? "(met)" : "(missed)"}`;
    all.rows.forEach((r, i) => {
        const prev = all.rows[i - 1];
        const perProject = prev ? `${f2((r.cold - prev.cold) / (r.n - prev.n))} s` : "–";
        L.push(
            `| ${r.n} | ${f2(r.floorPreview)} / ${f2(r.floorUp)} / ${f2(r.floorDestroy)} | ${verdict(r.previewSettled / r.floorPreview, r.n === 8 ? 1.3 : undefined)} | ${verdict(r.cold / (r.b2up + r.floorUp), 1.1)} | ${verdict(r.destroy / (r.floorDestroy + 1.5 * r.b2down), 1)} | ${perProject} | ${f1(r.idleMemory)} | ${f1(r.idleCpu)} |`,
        );
    });
    if (all.once) {
        const o = all.once;
        L.push("");
        L.push(
            `Once at N = ${o.n}: cold \`up\` ${f1(o.cold)} s (${f2(o.cold / o.n)} s per project); no-op \`preview\` (after ${f1(o.settleSeconds)} s of settling) ${f2(o.preview)} s, ${f2(o.preview / o.floor.preview)}× the floor's ${f2(o.floor.preview)} s; \`destroy\` ${f1(o.destroy)} s; idle memory per project ${f1(o.idleMemory)} MiB, CPU ${f1(o.idleCpu)} % of one CPU.`,
        );
    }
    L.push("");
    L.push(
        "Where the time goes (medians). *before 1st docker call*: the Pulumi CLI, language host, Node, loading the program (program.js) and the program up to its preflight; *docker busy*: time during which at least one docker command of the program ran; ready/up: the slowest project's `inner daemon … ready after` and `up in` progress lines.",
    );
    L.push("");
    L.push(
        "| N | run | wall | before 1st docker call | docker busy | docker calls | readiness polls (calls, busy s) | image copy | compose config | compose up (slowest) | inner daemon ready (slowest) |",
    );
    L.push("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const r of all.rows) {
        for (const [k, label] of [
            ["cold", "cold up"],
            ["warm", "up after dind replaced"],
            ["noop", "no-op up"],
            ["preview", "preview"],
            ["noopSettled", "no-op up, settled"],
            ["previewSettled", "preview, settled"],
            ["previewRebuild", "preview after a change of every program file (all transpiled again)"],
            ["destroy", "destroy"],
        ]) {
            const p = r.profile[k];
            if (!p) continue;
            const cat = (c) => (p.cats[c] ? `${p.cats[c].n.toFixed(0)}, ${f1(p.cats[c].covered)}` : "–");
            L.push(
                `| ${r.n} | ${label} | ${f1(p.wall)} | ${f2(p.firstCall)} | ${f1(p.busy)} | ${p.n.toFixed(0)} | ${cat("readiness polls")} | ${cat("image copy")} | ${cat("compose config")} | ${f1(p.composeUp)} | ${f1(p.ready)} |`,
            );
        }
    }
    L.push("");
    const s = all.startup;
    L.push(
        `Start-up pieces (medians of 5): \`node -e 0\` ${f2(s.nodeBare)} s; \`node -e "require('@pulumi/pulumi')"\` ${f2(s.nodePulumiSdk)} s; \`node -e "require('typescript')"\` ${f2(s.nodeTypescript)} s; \`compileProgram\` with nothing changed (program.js's check, in its own node) ${f2(s.compileProgramUnchanged)} s; \`pulumi version\` ${f2(s.pulumiVersion)} s; \`tsc --noEmit -p .\` (the whole repo, once) ${f1(s.tsc)} s.`,
    );
    if (all.memory) {
        const mem = all.memory;
        L.push("");
        L.push(`Memory at N = ${mem.n} after \`up\` (RSS in MiB, from \`docker top\`; inner daemon = dockerd + containerd):`);
        L.push("");
        L.push("| container | inner daemon | all processes | processes |");
        L.push("| --- | --- | --- | --- |");
        for (const d of mem.daemons) L.push(`| dind ${d.project} | ${f1(d.daemon)} | ${f1(d.total)} | ${d.procs} |`);
        L.push(`| gateway | – | ${f1(mem.gateway.total)} | ${mem.gateway.procs} |`);
        L.push("");
        L.push(
            `Median inner daemon ${f1(median(mem.daemons.map((d) => d.daemon)))} MiB; \`docker stats\` (cgroup memory, page cache included): ${mem.stats
                .split("\n")
                .map((l) => l.replace(/^dind-compose-bench-\S+?-(p\d+-dind|gateway)\t/, "$1 "))
                .join("; ")}.`,
        );
    }
    if (all.gateway) {
        L.push("");
        L.push(
            `Gateway (wrk -t2 -c16 -d${WRK_SECONDS}s from the host, to addresses on this machine's docker bridges or loopback; project ${all.gateway.project}; without tcp_tw_reuse each run starts with < 2000 TIME_WAIT sockets in the gateway; *TIME_WAIT after*: sockets the run left there):`,
        );
        L.push("");
        L.push("| upstream | variant | path | req/s | p99 ms | vs direct | TIME_WAIT after |");
        L.push("| --- | --- | --- | --- | --- | --- | --- |");
        for (const g of all.gateway.results) {
            const direct = all.gateway.results.find((x) => x.upstream === g.upstream && x.variant === "direct");
            L.push(
                `| ${g.upstream} | ${g.variant} | ${g.path} | ${g.rps.toFixed(0)} | ${f2(g.p99)} | ${(g.rps / direct.rps).toFixed(2)}×${g.errors ? ` (${g.errors})` : ""} | ${g.variant === "direct" ? "–" : g.timeWait} |`,
            );
        }
    }
    return L.join("\n");
}

// ------------------------------------------------------------------ main
let cleaning;
async function cleanupAll() {
    if (cleaning) return cleaning;
    cleaning = (async () => {
        say("cleaning up");
        for (const st of [...stacks]) await st.cleanup().catch((e) => say(`cleanup of ${st.name}: ${e.message}`));
        const projects = makeProjectsIfAny();
        await b1Clean(projects).catch(() => {});
        const s = await dockerQuiet("ps", "-aq", "--filter", "name=^bench-s-");
        if (s.stdout.trim()) await dockerQuiet("rm", "-f", "-v", ...s.stdout.trim().split("\n"));
        await dockerQuiet("image", "rm", DIND_ALT);
        clearComposeCache();
        fs.rmSync(TMP, { recursive: true, force: true });
    })();
    return cleaning;
}
function makeProjectsIfAny() {
    const dir = path.join(TMP, "projects");
    return fs.existsSync(dir) ? makeProjects(fs.readdirSync(dir).length) : [];
}

process.on("uncaughtException", (e) => {
    say(`FAILED: ${e.stack || e}`);
    cleanupAll().finally(() => process.exit(1));
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
        say(`${sig}: stopping`);
        cleanupAll().finally(() => process.exit(130));
    });
}

async function othersOnEngine() {
    const r = await dockerQuiet("ps", "--format", "{{.Names}}");
    return r.stdout.split("\n").filter((n) => n && !/^bench-|^dind-compose-bench-/.test(n)).length;
}

async function main() {
    const t0 = Date.now();
    if ((await run("bash", ["-c", "command -v wrk"])).code !== 0) {
        say("installing wrk (Debian package) for the gateway measurement");
        await must("bash", [
            "-c",
            "apt-get install -y wrk >/dev/null 2>&1 || (apt-get update >/dev/null && apt-get install -y wrk >/dev/null)",
        ]);
    }
    await installShim();
    outerEngineMajor = Number((await docker("version", "--format", "{{.Server.Version}}")).split(".")[0]);
    await docker("tag", DIND, DIND_ALT);
    const all = {
        date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        command: "npm run bench",
        revision: process.env.BENCH_REVISION || revision(),
        ns: NS,
        reps: REPS,
        security: SECURITY,
        images,
        machine: machine(),
        others: { start: await othersOnEngine() },
        load: { start: os.loadavg()[0].toFixed(1) },
        rows: [],
    };
    say(`temp dir ${TMP}; N = ${NS.join(",")}, ${REPS} runs each`);
    all.startup = await startupCosts();
    const maxN = Math.max(...NS);
    for (const n of NS) {
        const projects = makeProjects(n);
        const runs = [];
        for (let rep = 1; rep <= REPS; rep++) {
            say(`N=${n} run ${rep}: plain compose`);
            const b1 = await baseline1(projects);
            say(`N=${n} run ${rep}: dind script`);
            const b2 = await baseline2(projects);
            say(`N=${n} run ${rep}: Pulumi's floor (an empty program)`);
            const floor = await floorRuns(rep);
            say(`N=${n} run ${rep}: pulumi (cold up, no-op up, previews, the same settled, up after dind replaced, destroy)`);
            const last = n === maxN && rep === REPS;
            const prog = await programRuns(
                n,
                rep,
                projects,
                last
                    ? async (st, ps, httpPort) => {
                          say("memory");
                          all.memory = { n, ...(await memory(st, ps)) };
                          const projectB = ps.find((x) => x.kind === "project-b");
                          if (DO_GATEWAY && !projectB) say("gateway: skipped (it needs a project-b, so N >= 2)");
                          if (DO_GATEWAY && projectB)
                              all.gateway = { project: projectB.name, results: await gatewayBench(st, ps, httpPort) };
                      }
                    : undefined,
            );
            const line = `b1 ${f1(b1.up)}/${f1(b1.down)}  b2 ${f1(b2.up)}/${f1(b2.down)}  cold ${f1(prog.cold.seconds)}  warm ${f1(prog.warm.seconds)}  noop ${f1(prog.noop.seconds)}  preview ${f1(prog.preview.seconds)} (rebuild ${f1(prog.previewRebuild.seconds)}; settled after ${f1(prog.settleSeconds)} s: noop ${f1(prog.noopSettled.seconds)} preview ${f1(prog.previewSettled.seconds)})  destroy ${f1(prog.destroy.seconds)}  load ${os.loadavg()[0].toFixed(1)}`;
            say(`N=${n} run ${rep}: ${line}`);
            runs.push({ b1, b2, floor, prog });
        }
        const med = (f) => median(runs.map(f));
        const prof = (k) => {
            const cats = {};
            for (const c of new Set(runs.flatMap((r) => Object.keys(r.prog[k].profile.byCat)))) {
                cats[c] = {
                    n: med((r) => r.prog[k].profile.byCat[c]?.n ?? 0),
                    covered: med((r) => r.prog[k].profile.byCat[c]?.covered ?? 0),
                    sum: med((r) => r.prog[k].profile.byCat[c]?.sum ?? 0),
                };
            }
            return {
                wall: med((r) => r.prog[k].seconds),
                firstCall: med((r) => r.prog[k].profile.firstCall),
                busy: med((r) => r.prog[k].profile.busy),
                n: med((r) => r.prog[k].profile.n),
                ready: med((r) => (r.prog[k].ready.length ? Math.max(...r.prog[k].ready) : undefined)),
                composeUp: med((r) => (r.prog[k].composeUp.length ? Math.max(...r.prog[k].composeUp) : undefined)),
                cats,
                mutating: runs[runs.length - 1].prog[k].profile.mutating,
            };
        };
        all.rows.push({
            n,
            b1up: med((r) => r.b1.up),
            b1down: med((r) => r.b1.down),
            b2up: med((r) => r.b2.up),
            b2down: med((r) => r.b2.down),
            cold: med((r) => r.prog.cold.seconds),
            warm: med((r) => r.prog.warm.seconds),
            noop: med((r) => r.prog.noop.seconds),
            preview: med((r) => r.prog.preview.seconds),
            noopSettled: med((r) => r.prog.noopSettled.seconds),
            previewSettled: med((r) => r.prog.previewSettled.seconds),
            settleSeconds: med((r) => r.prog.settleSeconds),
            destroy: med((r) => r.prog.destroy.seconds),
            floorUp: med((r) => r.floor.up),
            floorPreview: med((r) => r.floor.preview),
            floorDestroy: med((r) => r.floor.destroy),
            idleMemory: med((r) => r.prog.idleMemory),
            idleCpu: med((r) => r.prog.idleCpu),
            profile: Object.fromEntries(
                ["cold", "warm", "noop", "preview", "noopSettled", "previewSettled", "previewRebuild", "destroy"].map((k) => [k, prof(k)]),
            ),
            runs: runs.map((r) => ({
                b1: r.b1,
                b2: r.b2,
                floor: r.floor,
                prog: Object.fromEntries(
                    Object.entries(r.prog)
                        .filter(([, v]) => typeof v === "object")
                        .map(([k, v]) => [k, { seconds: v.seconds, ready: v.ready, composeUp: v.composeUp, profile: v.profile }]),
                ),
            })),
        });
    }
    if (ONCE_N > 0) {
        say(`N=${ONCE_N} once: cold up, no-op preview (settled), destroy; the floor beside it`);
        all.once = await onceRun(ONCE_N);
    }
    all.others.end = await othersOnEngine();
    all.load.end = os.loadavg()[0].toFixed(1);
    all.seconds = (Date.now() - t0) / 1000;
    const text = report(all);
    process.stdout.write(`\n${text}\n`);
    fs.mkdirSync(path.join(REPO, "test-artifacts"), { recursive: true });
    fs.writeFileSync(path.join(REPO, "test-artifacts", "bench.json"), JSON.stringify(all, null, 2));
    if (WRITE) writeBenchmarksMd(text);
    keepLogs();
}

/** The pulumi outputs and docker call logs of this run, for a closer look (test-artifacts is gitignored). */
function keepLogs() {
    const dest = path.join(REPO, "test-artifacts", "bench-logs");
    fs.rmSync(dest, { recursive: true, force: true });
    fs.cpSync(LOGS, dest, { recursive: true });
    say(`pulumi outputs and docker call logs: ${dest}`);
}

/** Replaces the part of BENCHMARKS.md between the bench markers (the prose around it stays). */
function writeBenchmarksMd(text) {
    const file = path.join(REPO, "BENCHMARKS.md");
    const begin = "<!-- bench:begin (written by npm run bench) -->";
    const end = "<!-- bench:end -->";
    const block = `${begin}\n${text}\n${end}`;
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : `# Benchmarks\n\n${begin}\n${end}\n`;
    const i = old.indexOf(begin);
    const j = old.indexOf(end);
    fs.writeFileSync(file, i >= 0 && j > i ? old.slice(0, i) + block + old.slice(j + end.length) : `${old}\n${block}\n`);
    say(`wrote ${file}`);
}

main()
    .then(() => cleanupAll())
    .catch(async (e) => {
        say(`FAILED: ${e.stack || e}`);
        keepLogs();
        await cleanupAll();
        process.exit(1);
    });
