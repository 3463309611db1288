// The same stack of N projects (copies of examples/project-b) on the Docker engine and on the
// test cluster (scripts/kubernetes/cluster.sh), in one run: cold `up`, no-op `preview` (Pulumi's
// own floor for the stack) and `destroy`. Run alone (the cluster must be built: the first run
// builds it, ~20 min cold): bash scripts/with-env.sh node bench/cluster.js
//   BENCH_CLUSTER_N=4  BENCH_REPS=3
"use strict";
const { spawnSync } = require("child_process");
const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");
const YAML = require("yaml");
const constants = require("../components/constants.json");

const REPO = path.resolve(__dirname, "..");
const N = Number(process.env.BENCH_CLUSTER_N || 4);
const REPS = Number(process.env.BENCH_REPS || 3);
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "bench-cluster-"));
const CACHE = process.env.DIND_COMPOSE_CACHE || path.join(os.homedir(), ".cache", "dind-compose");
const K8S_VERSION = /^KUBERNETES_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(REPO, "scripts/kubernetes/versions.sh"), "utf8"))[1];
const KUBE_BIN = path.join(CACHE, "kubernetes", `kubernetes-v${K8S_VERSION}`, "bin");
const KUBECONFIG = path.join(CACHE, "kubernetes", "kubeconfig");
const say = (m) => process.stderr.write(`[bench] ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function run(cmd, args, opts = {}) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
    return { seconds, stdout: r.stdout };
}

function images() {
    const fromEnv = process.env.DIND_COMPOSE_DEFAULT_IMAGES;
    return fromEnv ? JSON.parse(fromEnv) : constants.images.defaults;
}

/** One stack's figures: cold up, median no-op preview, destroy. */
function measure(engineName, engineConfig, env) {
    const stack = `bench-${engineName}-${crypto.randomBytes(2).toString("hex")}`;
    const backend = path.join(TMP, `backend-${engineName}`);
    fs.mkdirSync(backend);
    const stackEnv = {
        ...env,
        PULUMI_BACKEND_URL: `file://${backend}`,
        PULUMI_CONFIG_PASSPHRASE: "",
        DIND_COMPOSE_CA_DIR: path.join(TMP, "ca"),
    };
    const pulumi = (...args) =>
        run("pulumi", [...args, "--stack", stack, "--non-interactive", "--color", "never"], { cwd: REPO, env: stackEnv });
    const stackFile = path.join(REPO, `Pulumi.${stack}.yaml`);
    const projects = Array.from({ length: N }, (_, i) => {
        const dir = path.join(TMP, engineName, `p${i}`);
        fs.cpSync(path.join(REPO, "examples", "project-b"), dir, { recursive: true });
        return { name: `p${i}`, path: dir, preloadImages: [constants.images.standIns.busybox] };
    });
    try {
        pulumi("stack", "init");
        const salt = fs.readFileSync(stackFile, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        const config = {
            "dind-compose:projects": projects,
            "dind-compose:images": images(),
            "dind-compose:gateway": { httpPort: 18280, httpsPort: 18643 },
            ...(engineConfig ? { "dind-compose:engine": engineConfig } : {}),
        };
        fs.writeFileSync(stackFile, `${salt}\n${YAML.stringify({ config })}`);
        say(`${engineName}: up of ${N} projects`);
        const up = pulumi("up", "--yes", "--skip-preview").seconds;
        const noop = [];
        for (let i = 0; i < REPS; i++) noop.push(pulumi("preview", "--expect-no-changes").seconds);
        const destroy = pulumi("destroy", "--yes", "--skip-preview").seconds;
        return { up, noop: median(noop), destroy };
    } finally {
        spawnSync("pulumi", ["destroy", "--yes", "--skip-preview", "--stack", stack, "--non-interactive"], { cwd: REPO, env: stackEnv });
        spawnSync("pulumi", ["stack", "rm", "--yes", "--force", "--stack", stack, "--non-interactive"], { cwd: REPO, env: stackEnv });
        fs.rmSync(stackFile, { force: true });
    }
}

function main() {
    run("bash", [path.join(REPO, "scripts/kubernetes/build-provider.sh")], { stdio: ["ignore", "ignore", "inherit"] });
    run("bash", [path.join(REPO, "scripts/kubernetes/cluster.sh"), "up"], { stdio: ["ignore", "ignore", "inherit"] });
    run("bash", [path.join(REPO, "scripts/kubernetes/cluster.sh"), "load-images", images().dind, images().nginx], {
        stdio: ["ignore", "ignore", "inherit"],
    });
    const docker = measure("docker", undefined, process.env);
    const cluster = measure(
        "kubernetes",
        {
            kind: "kubernetes",
            context: "dind-compose-test",
            namespace: `bench-${crypto.randomBytes(2).toString("hex")}`,
            storageClass: "local-path",
        },
        { ...process.env, KUBECONFIG, PATH: `${KUBE_BIN}:${process.env.PATH}` },
    );
    const s = (x) => `${x.toFixed(1)} s`;
    const r = (k, d) => `${(k / d).toFixed(2)}x`;
    const rows = [
        ["cold `up`", s(docker.up), s(cluster.up), r(cluster.up, docker.up)],
        ["no-op `preview` (Pulumi's floor for the stack)", s(docker.noop), s(cluster.noop), r(cluster.noop, docker.noop)],
        ["`destroy`", s(docker.destroy), s(cluster.destroy), r(cluster.destroy, docker.destroy)],
    ];
    const out = [
        `N = ${N} projects (copies of examples/project-b); median of ${REPS} previews`,
        "",
        "| step | Docker engine | cluster | cluster / Docker |",
        "| --- | --- | --- | --- |",
    ];
    for (const row of rows) out.push(`| ${row.join(" | ")} |`);
    process.stdout.write(`${out.join("\n")}\n`);
}

try {
    main();
} finally {
    fs.rmSync(TMP, { recursive: true, force: true });
}
