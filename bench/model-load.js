// How long reading the compose models takes before any resource is registered: loadProjects
// (the files compose reads, `docker compose config` in one container of the dind image, the
// port and routes, the build-file digests) for N projects (p1, p3, … are examples/project-a,
// p2, p4, … examples/project-b), with its model cache cold (every model from compose) and
// warm (every model from the cache, no container). Medians of BENCH_REPS runs (default 5).
// Alone: bash scripts/with-env.sh node bench/model-load.js  (BENCH_N=1,8 by default)
const fs = require("fs");
const os = require("os");
const path = require("path");
const { compileProgram } = require("../scripts/compile-program.js");
const constants = require("../components/constants.json");

const REPO = path.resolve(__dirname, "..");
const NS = (process.env.BENCH_N || "1,8").split(",").map(Number);
const REPS = Number(process.env.BENCH_REPS || 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

compileProgram(REPO);
const { loadProjects } = require(path.join(REPO, ".dind-compose", "build", "components", "loadProjects.js"));

const spec = (n) => {
    const dir = path.join(REPO, "examples", n % 2 === 1 ? "project-a" : "project-b");
    const name = `p${n}`;
    return {
        name,
        dir,
        composeFiles: [path.join(dir, "compose.yaml")],
        hostname: `${name}.localhost`,
        port: undefined,
        env: {},
        preloadImages: [],
        daemonPort: undefined,
        routes: undefined,
        tcp: [],
    };
};

async function timed(projects, cacheDir) {
    const t0 = process.hrtime.bigint();
    await loadProjects(projects, {
        composeImage: (process.env.DIND_COMPOSE_DEFAULT_IMAGES
            ? JSON.parse(process.env.DIND_COMPOSE_DEFAULT_IMAGES)
            : constants.images.defaults
        ).dind,
        cacheDir,
        domain: "localhost",
    });
    return Number(process.hrtime.bigint() - t0) / 1e6;
}

(async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-model-load-"));
    try {
        console.log("| N | cold (compose config) ms | warm (cached) ms |\n| --- | --- | --- |");
        for (const n of NS) {
            const projects = Array.from({ length: n }, (_, i) => spec(i + 1));
            const cold = [];
            const warm = [];
            for (let r = 0; r < REPS; r++) {
                const cacheDir = path.join(tmp, `n${n}-r${r}`);
                cold.push(await timed(projects, cacheDir));
                warm.push(await timed(projects, cacheDir));
            }
            console.log(`| ${n} | ${median(cold).toFixed(0)} | ${median(warm).toFixed(1)} |`);
        }
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
