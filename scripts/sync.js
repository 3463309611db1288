// `npm run sync -- [-s STACK] <project> [--watch]`: brings a project's source volumes (files: sync,
// an engine on another machine) into step with its folders here, as `pulumi up` does, without a
// whole `up`; `--watch` keeps them in step while you edit (inotifywait on the folders, then rsync
// of what changed, over `docker exec -i` into the project's dind container, or `kubectl exec -i`
// into its pod on a cluster).
const { spawn, spawnSync } = require("child_process");
const path = require("path");
const { requireProgramModule } = require("./compile-program");
const { parseArgs, stackOutputs, projectEntry } = require("./stack-outputs");

const root = path.resolve(__dirname, "..");
const { rsyncArgs, parseSyncOutput, describeSync, someOf, unreadableFiles } = requireProgramModule(root, "components/transport/rsync");

/** rsync's remote shell: docker exec into the dind container, or, on a cluster, kubectl exec into its pod (a script, left at exit). */
let rsh = ["docker", "exec", "-i"];

function syncDir(project, daemon, dir) {
    const started = Date.now();
    const r = spawnSync("rsync", rsyncArgs(daemon, dir, rsh), { encoding: "utf8" });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (r.error) throw new Error(`cannot run rsync (${r.error.message}); install it (apt-get install rsync; npm run bootstrap does)`);
    if (r.status !== 0) {
        const unreadable = unreadableFiles(r.stderr);
        const why =
            unreadable.length > 0
                ? `cannot read ${unreadable.map((u) => `${u.path} (${u.error})`).join(", ")}: make it readable`
                : r.stderr.trim();
        console.error(`[${project}] ${dir}: sync failed after ${seconds} s: ${why}`);
        return false;
    }
    const report = parseSyncOutput(r.stdout);
    const names = [...report.sent, ...report.deleted.map((d) => `${d} (deleted)`)];
    console.log(
        `[${project}] ${new Date().toISOString().slice(11, 19)} ${dir}: ${describeSync(report, false)} in ${seconds} s${names.length ? `: ${someOf(names)}` : ""}`,
    );
    return true;
}

function watch(project, daemon, dirs) {
    // close_write rather than modify: one event per saved file, not one per write.
    const w = spawn("inotifywait", ["-m", "-r", "-q", "--format", "%w%f", "-e", "close_write,create,delete,move,attrib", ...dirs], {
        stdio: ["ignore", "pipe", "inherit"],
    });
    w.on("error", (e) => {
        console.error(
            `npm run sync: cannot run inotifywait (${e.message}); install it (apt-get install inotify-tools; npm run bootstrap does)`,
        );
        process.exit(2);
    });
    const pending = new Set();
    let timer;
    let running = false;
    const flush = () => {
        if (running) return void (timer = setTimeout(flush, 50));
        running = true;
        const now = [...pending];
        pending.clear();
        for (const dir of now) syncDir(project, daemon, dir);
        running = false;
    };
    let partial = "";
    w.stdout.on("data", (chunk) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop();
        for (const file of lines) {
            const dir = dirs.find((d) => file === d || file.startsWith(`${d}/`));
            if (!dir) continue;
            pending.add(dir);
            // Editors write a file in several steps: one sync a moment after the last of them.
            clearTimeout(timer);
            timer = setTimeout(flush, 100);
        }
    });
    console.log(`[${project}] watching ${dirs.join(", ")} (Ctrl-C to stop)`);
    process.on("SIGINT", () => {
        w.kill();
        process.exit(0);
    });
    process.on("SIGTERM", () => {
        w.kill();
        process.exit(0);
    });
}

try {
    const { stack, project, args } = parseArgs(process.argv.slice(2));
    const outputs = stackOutputs(stack);
    if (project && !(outputs.files ?? {})[project] && (outputs.compose ?? {})[project]) {
        throw new Error(
            `project "${project}" of stack "${stack}" has its folders bind-mounted (dind-compose:files is bind here): edits show up by themselves`,
        );
    }
    const { daemon, dirs, engine } = projectEntry(outputs, "files", project, stack);
    if (engine) {
        const script = requireProgramModule(root, "components/providers/kubectlEngine").writeKubectlRsh(engine);
        rsh = [script.file];
        process.on("exit", () => script.remove());
    }
    const ok = dirs.map((dir) => syncDir(project, daemon, dir)).every(Boolean);
    if (args.includes("--watch")) watch(project, daemon, dirs);
    else process.exit(ok ? 0 : 1);
} catch (e) {
    console.error(`npm run sync: ${e.message}`);
    process.exit(2);
}
