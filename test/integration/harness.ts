// Drives the real Pulumi CLI (the one the bootstrap installed, on PATH through
// scripts/env.sh) against the real Docker engine, with a throw-away local
// backend and stack per test file.
import { execFile, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { chromium, type Browser } from "playwright-core";
import { stringify } from "yaml";
import constants from "../../components/constants.json";
import { STACK_LABEL } from "../../components/names";

export const REPO_DIR = path.resolve(__dirname, "../..");
const execFileAsync = promisify(execFile);

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

/**
 * Runs a command. With `timeoutMs`, a command still running then is killed with every process it
 * started, and the result (code 124) carries what was running at that moment: a hang in CI says
 * where it hung instead of timing the whole test out and leaving the process to disturb the next.
 */
export function runCommand(
    file: string,
    args: string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
        const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let timedOut = "";
        const timer =
            opts.timeoutMs === undefined
                ? undefined
                : setTimeout(() => {
                      const tree = child.pid === undefined ? [] : [child.pid, ...descendantsOf(child.pid)];
                      timedOut = `\n${file} timed out after ${opts.timeoutMs! / 1000} s and was killed; its processes then:\n${processReport(tree)}`;
                      killAll(tree);
                  }, opts.timeoutMs);
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            const seconds = (Date.now() - started) / 1000;
            resolve(timedOut ? { code: 124, stdout, stderr: stderr + timedOut, seconds } : { code: code ?? 1, stdout, stderr, seconds });
        });
        child.stdin.end(opts.input ?? "");
    });
}

/** One line per process: PID, seconds since it started, command line (cut at 300 characters). */
export function processReport(pids: number[]): string {
    const ticks = 100; // USER_HZ on Linux
    const uptime = Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    return pids
        .map((pid) => {
            try {
                const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
                const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
                const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
                return `  ${pid} ${(uptime - startTicks / ticks).toFixed(0)} s: ${cmd.slice(0, 300)}`;
            } catch {
                return `  ${pid} (ended)`;
            }
        })
        .join("\n");
}

/** SIGKILL to each of `pids` that still runs. */
export function killAll(pids: number[]): void {
    for (const pid of pids) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // it ended meanwhile
        }
    }
}

export async function docker(...args: string[]): Promise<string> {
    return dockerWith(process.env, ...args);
}

/** docker with `env`'s engine settings (DOCKER_HOST and its TLS or ssh settings). */
export async function dockerWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
    const { stdout } = await execFileAsync("docker", args, { maxBuffer: 64 * 1024 * 1024, env });
    return stdout.trim();
}

/** A free TCP port on 127.0.0.1. */
const handedOut = new Set<number>();

/** Whether 127.0.0.1:port can be listened on right now. */
function canListen(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
}

/**
 * A free TCP port on 127.0.0.1, below the kernel's ephemeral range (32768-60999): a port
 * from that range (what listen(0) gives) can be taken meanwhile as the source port of an
 * outgoing connection or by a gRPC server of a concurrent pulumi run. Never the same twice
 * in one test process.
 */
export async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        if (handedOut.has(port) || !(await canListen(port))) continue;
        handedOut.add(port);
        return port;
    }
    throw new Error("no free port found in 20000-31999 on 127.0.0.1");
}

/**
 * Debian's headless Chromium as the machine allows it (no sandbox as root; no background
 * networking, whose connections this closed network refuses). HOME is `home`: Chromium reads the
 * NSS database there, so a test trusts a CA by putting it into `<home>/.pki/nssdb`.
 */
export function launchChromium(home: string, extraArgs: string[] = []): Promise<Browser> {
    return chromium.launch({
        executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
        env: { ...process.env, HOME: home },
        args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            ...extraArgs,
        ],
    });
}

/** Containers, volumes and networks carrying `label` (a `label=key=value` filter), as one line of IDs; "" when none. */
export async function labelledObjects(label: string): Promise<string> {
    return [
        await docker("ps", "-aq", "--filter", label),
        await docker("volume", "ls", "-q", "--filter", label),
        await docker("network", "ls", "-q", "--filter", label),
    ]
        .join(" ")
        .trim();
}

export interface HttpResult {
    status: number;
    body: string;
}

/** One GET to 127.0.0.1:port with a Host header (*.localhost names do not resolve here); HTTPS verifies against `ca`. */
function get(
    scheme: "http" | "https",
    port: number,
    hostname: string,
    urlPath: string,
    timeoutMs: number,
    ca?: string,
    address = "127.0.0.1",
): Promise<HttpResult> {
    const request = scheme === "https" ? https.request : http.request;
    const options = {
        host: address,
        port,
        path: urlPath,
        headers: { Host: hostname },
        timeout: timeoutMs,
        ...(scheme === "https" ? { servername: hostname, ca } : {}),
    };
    return new Promise((resolve, reject) => {
        const req = request(options, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${scheme}://${hostname}:${port}${urlPath} timed out`)));
        req.on("error", reject);
        req.end();
    });
}

/** GET through the gateway over HTTP. */
export function httpGet(port: number, hostname: string, urlPath = "/", timeoutMs = 10_000): Promise<HttpResult> {
    return get("http", port, hostname, urlPath, timeoutMs);
}

/** GET to `address:port` (a cluster node's address and the gateway's node port) with a Host header. */
export function httpGetAt(address: string, port: number, hostname: string, urlPath = "/", timeoutMs = 10_000): Promise<HttpResult> {
    return get("http", port, hostname, urlPath, timeoutMs, undefined, address);
}

/** GET over HTTPS through the gateway, verifying its certificate against `ca` for `hostname`. */
export function httpsGet(port: number, hostname: string, ca: string, urlPath = "/"): Promise<HttpResult> {
    return get("https", port, hostname, urlPath, 10_000, ca);
}

/** Copies an example project into a temp dir (tests edit their copies). */
export function copyExample(name: string, into: string): string {
    const dest = path.join(into, name);
    fs.cpSync(path.join(REPO_DIR, "examples", name), dest, { recursive: true });
    return dest;
}

/** The images the bootstrap builds from Debian packages (busybox and python are the examples'). */
export const STAND_IN_IMAGES = constants.images.standIns;

/** The images the bootstrap chose (stand-ins here); a test that sets dind-compose:images must name both. */
export const defaultImages = (): { dind: string; nginx: string } => {
    const fromEnv = process.env.DIND_COMPOSE_DEFAULT_IMAGES;
    return fromEnv ? (JSON.parse(fromEnv) as { dind: string; nginx: string }) : constants.images.defaults;
};

export interface StackConfig {
    projects: Record<string, unknown>[];
    gateway?: Record<string, unknown>;
    domain?: string;
    dind?: Record<string, unknown>;
    images?: Record<string, string>;
    network?: Record<string, unknown>;
    tls?: Record<string, unknown>;
    files?: string;
    engine?: Record<string, unknown>;
}

/** A pulumi command started with TestStack.start. */
export interface RunningPulumi {
    pid: number;
    /** Output so far. */
    stdout: string;
    stderr: string;
    /** Settles when the process ends (code 128 when a signal ended it). */
    done: Promise<CliResult>;
    /**
     * Resolves once the output holds `count` matches of `re` (default 1); rejects if pulumi ends
     * first or the time is up. Matches are counted, not matched as one pattern repeated `count`
     * times: `(x[\s\S]*){25}` backtracks exponentially on an output with 24, and blocked the test
     * process for minutes.
     */
    waitForOutput(re: RegExp, timeoutMs?: number, count?: number): Promise<void>;
    /** PIDs of every process pulumi started that is still running (language host, program, provider plugins, docker CLIs). */
    descendants(): number[];
    /** Sends `signal` (default SIGKILL) to the pulumi CLI process only, as `kill -9 <pid>` would. */
    kill(signal?: NodeJS.Signals): void;
}

/** Parent PID of each running process, from /proc. */
function parentPids(): Map<number, number> {
    const parents = new Map<number, number>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses.
            const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            parents.set(Number(entry), ppid);
        } catch {
            // the process ended meanwhile
        }
    }
    return parents;
}

/** Every running descendant of `pid`. */
export function descendantsOf(pid: number): number[] {
    const parents = parentPids();
    const found: number[] = [];
    let frontier = [pid];
    while (frontier.length > 0) {
        const next = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([p]) => p);
        found.push(...next);
        frontier = next;
    }
    return found;
}

/** Which of `pids` are still running (not zombies). */
export function alive(pids: number[]): number[] {
    return pids.filter((p) => {
        try {
            return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, "utf8"));
        } catch {
            return false;
        }
    });
}

/** One Pulumi stack of this program, in its own temporary backend. */
export class TestStack {
    readonly name: string;
    readonly label: string;
    readonly workDir: string;
    /** The user CA's directory for this stack (DIND_COMPOSE_CA_DIR of every command it runs). */
    readonly caDir: string;
    private readonly backendDir: string;
    private readonly env: NodeJS.ProcessEnv;
    /** How long one pulumi command may run before it is killed and reported with its processes (see runCommand). */
    commandTimeoutMs = 10 * 60_000;
    /** Commands started with `start`, so that cleanup can end those a failed test left running. */
    private readonly started: RunningPulumi[] = [];

    constructor(prefix: string) {
        this.name = `it-${prefix}-${crypto.randomBytes(3).toString("hex")}`;
        this.label = `dind-compose/${this.name}`;
        this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), `dind-compose-${prefix}-`));
        this.backendDir = path.join(this.workDir, "backend");
        fs.mkdirSync(this.backendDir);
        // A user CA of the stack's own (never the real user's), kept until cleanup: a test that
        // destroys and brings the stack up again sees the same CA.
        this.caDir = path.join(this.workDir, "ca");
        this.env = {
            ...process.env,
            PULUMI_BACKEND_URL: `file://${this.backendDir}`,
            PULUMI_CONFIG_PASSPHRASE: "",
            DIND_COMPOSE_CA_DIR: this.caDir,
        };
    }

    /** Points every later command of this stack (pulumi, the scripts, its own docker calls) at another engine. */
    useEngine(env: Record<string, string>): void {
        Object.assign(this.env, env);
    }

    /** The environment this stack's commands run with (backend, engine), for a script a test starts itself. */
    envForScripts(): NodeJS.ProcessEnv {
        return { ...this.env };
    }

    /** docker against this stack's engine. */
    private docker(...args: string[]): Promise<string> {
        return dockerWith(this.env, ...args);
    }

    private get stackFile(): string {
        return path.join(REPO_DIR, `Pulumi.${this.name}.yaml`);
    }

    async pulumi(...args: string[]): Promise<CliResult> {
        const r = await runCommand("pulumi", [...args, "--stack", this.name, "--non-interactive", "--color", "never"], {
            cwd: REPO_DIR,
            env: this.env,
            timeoutMs: this.commandTimeoutMs,
        });
        console.log(`[${this.name}] pulumi ${args.join(" ")} -> exit ${r.code} in ${r.seconds.toFixed(1)} s`);
        return r;
    }

    /** Starts pulumi without waiting for it, so a test can interrupt it (see RunningPulumi). */
    start(...args: string[]): RunningPulumi {
        const started = Date.now();
        const child = spawn("pulumi", [...args, "--stack", this.name, "--non-interactive", "--color", "never"], {
            cwd: REPO_DIR,
            env: this.env,
            stdio: ["ignore", "pipe", "pipe"],
        });
        const pid = child.pid ?? 0;
        const handle: RunningPulumi = {
            pid,
            stdout: "",
            stderr: "",
            done: new Promise((resolve, reject) => {
                child.on("error", reject);
                child.on("close", (code, signal) => {
                    const seconds = (Date.now() - started) / 1000;
                    console.log(`[${this.name}] pulumi ${args.join(" ")} -> ${signal ?? `exit ${code}`} in ${seconds.toFixed(1)} s`);
                    resolve({ code: code ?? 128, stdout: handle.stdout, stderr: handle.stderr, seconds });
                });
            }),
            async waitForOutput(re: RegExp, timeoutMs = 120_000, count = 1): Promise<void> {
                const deadline = Date.now() + timeoutMs;
                const global = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
                const what = count === 1 ? `${re}` : `${count} times ${re}`;
                while (((handle.stdout + handle.stderr).match(global)?.length ?? 0) < count) {
                    if (child.exitCode !== null || child.signalCode !== null)
                        throw new Error(
                            `pulumi ended before printing ${what}:\n${handle.stdout.slice(-3000)}\n${handle.stderr.slice(-3000)}`,
                        );
                    if (Date.now() > deadline) {
                        const tree = processReport(descendantsOf(pid));
                        throw new Error(
                            `pulumi did not print ${what} within ${timeoutMs} ms:\n${handle.stdout.slice(-3000)}\nits processes:\n${tree}`,
                        );
                    }
                    await new Promise((r) => setTimeout(r, 100));
                }
            },
            descendants: () => descendantsOf(pid),
            kill(signal: NodeJS.Signals = "SIGKILL"): void {
                process.kill(pid, signal);
            },
        };
        child.stdout.on("data", (d: Buffer) => (handle.stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (handle.stderr += d.toString()));
        this.started.push(handle);
        return handle;
    }

    /** Lock files of this stack in its backend (the file backend keeps them under .pulumi/locks). */
    locks(): string[] {
        const dir = path.join(this.backendDir, ".pulumi", "locks");
        if (!fs.existsSync(dir)) return [];
        return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".json")).map((f) => path.join(dir, f));
    }

    /**
     * The types of the pending operations in the checkpoint file as it is on disk now: readable
     * while an update holds the lock, unlike `pulumi stack export`.
     */
    pendingOnDisk(): string[] {
        const file = path.join(this.backendDir, ".pulumi", "stacks", "dind-compose", `${this.name}.json`);
        if (!fs.existsSync(file)) return [];
        try {
            const doc = JSON.parse(fs.readFileSync(file, "utf8")) as {
                checkpoint?: { latest?: { pending_operations?: { resource?: { type?: string } }[] } };
            };
            return (doc.checkpoint?.latest?.pending_operations ?? []).map((o) => o.resource?.type ?? "");
        } catch {
            return []; // caught between two writes
        }
    }

    /**
     * After a SIGKILL of the CLI: the file backend writes the checkpoint in place, so a kill during
     * a write can leave it cut short (`failed to load checkpoint: EOF`). Puts back the copy the
     * backend keeps beside it (`.json.bak`, the checkpoint before that write), as a user would;
     * returns whether it had to.
     */
    restoreCutCheckpoint(): boolean {
        const file = path.join(this.backendDir, ".pulumi", "stacks", "dind-compose", `${this.name}.json`);
        try {
            JSON.parse(fs.readFileSync(file, "utf8"));
            return false;
        } catch {
            fs.copyFileSync(`${file}.bak`, file);
            return true;
        }
    }

    /** The stack's checkpoint (`pulumi stack export`). */
    async exportState(): Promise<{ resources?: { urn: string; type: string; id?: string }[]; pending_operations?: unknown[] }> {
        const r = await this.pulumiOk("stack", "export");
        return (
            JSON.parse(r.stdout) as {
                deployment: { resources?: { urn: string; type: string; id?: string }[]; pending_operations?: unknown[] };
            }
        ).deployment;
    }

    /** Runs pulumi and fails with its output when it exits non-zero. */
    async pulumiOk(...args: string[]): Promise<CliResult> {
        const r = await this.pulumi(...args);
        if (r.code !== 0) {
            // The diagnostics say why; with many projects the outputs after them would push them out of the tail.
            const at = r.stdout.indexOf("Diagnostics:");
            const diagnostics = at >= 0 ? `${r.stdout.slice(at, at + 6000)}\n…\n` : "";
            throw new Error(
                `pulumi ${args.join(" ")} failed (exit ${r.code}):\n${diagnostics}${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
            );
        }
        return r;
    }

    async init(config: StackConfig): Promise<void> {
        const r = await runCommand("pulumi", ["stack", "init", this.name, "--non-interactive"], { cwd: REPO_DIR, env: this.env });
        if (r.code !== 0) throw new Error(`pulumi stack init failed: ${r.stderr}`);
        this.setConfig(config);
    }

    /** Rewrites the stack's config file (keeps the passphrase salt that `stack init` wrote). */
    setConfig(config: StackConfig): void {
        const salt = fs.readFileSync(this.stackFile, "utf8").match(/^encryptionsalt: .*$/m)?.[0] ?? "";
        const values: Record<string, unknown> = { "dind-compose:projects": config.projects };
        if (config.gateway) values["dind-compose:gateway"] = config.gateway;
        if (config.domain) values["dind-compose:domain"] = config.domain;
        if (config.dind) values["dind-compose:dind"] = config.dind;
        if (config.images) values["dind-compose:images"] = config.images;
        if (config.network) values["dind-compose:network"] = config.network;
        if (config.tls) values["dind-compose:tls"] = config.tls;
        if (config.files) values["dind-compose:files"] = config.files;
        if (config.engine) values["dind-compose:engine"] = config.engine;
        fs.writeFileSync(this.stackFile, `${salt}\n${stringify({ config: values })}`);
    }

    /** Runs a command with this stack's backend settings (e.g. the project's scripts), echoing a summary. */
    async run(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
        const r = await runCommand(file, args, { cwd: opts.cwd ?? REPO_DIR, env: { ...this.env, ...opts.env } });
        console.log(`[${this.name}] ${file} ${args.join(" ")} -> exit ${r.code} in ${r.seconds.toFixed(1)} s`);
        return r;
    }

    async outputs(): Promise<Record<string, unknown>> {
        const r = await this.pulumiOk("stack", "output", "--json");
        return JSON.parse(r.stdout) as Record<string, unknown>;
    }

    /** Engine objects that carry this stack's label. */
    async leftovers(): Promise<string[]> {
        const filter = `label=${STACK_LABEL}=${this.label}`;
        const [c, v, n] = await Promise.all([
            this.docker("ps", "-aq", "--filter", filter),
            this.docker("volume", "ls", "-q", "--filter", filter),
            this.docker("network", "ls", "-q", "--filter", filter),
        ]);
        return [
            ...c.split("\n").map((x) => `container ${x}`),
            ...v.split("\n").map((x) => `volume ${x}`),
            ...n.split("\n").map((x) => `network ${x}`),
        ].filter((x) => !/ $/.test(x));
    }

    /** Destroys the stack (if anything is left), removes it, its files, and any labelled object a failed test left. */
    async cleanup(): Promise<void> {
        // A command a failed test left running would hold the lock and keep changing the engine.
        for (const running of this.started) {
            const tree = [running.pid, ...running.descendants()];
            if (alive(tree).length === 0) continue;
            killAll(tree);
            await running.done;
            await this.pulumi("cancel", "--yes");
        }
        await this.pulumi("destroy", "--yes", "--skip-preview");
        await this.pulumi("stack", "rm", "--yes", "--force");
        const filter = `label=${STACK_LABEL}=${this.label}`;
        // An engine that is gone (a remote the test removed) has nothing left to clear.
        const ids = (args: string[]) =>
            this.docker(...args).then(
                (s) => s.split("\n").filter(Boolean),
                () => [],
            );
        for (const id of await ids(["ps", "-aq", "--filter", filter])) await this.docker("rm", "-f", "-v", id);
        for (const id of await ids(["network", "ls", "-q", "--filter", filter])) await this.docker("network", "rm", id);
        for (const id of await ids(["volume", "ls", "-q", "--filter", filter])) await this.docker("volume", "rm", "-f", id);
        fs.rmSync(this.stackFile, { force: true });
        fs.rmSync(this.workDir, { recursive: true, force: true });
        // What the program and the scripts wrote for this stack: the gateway CA of states from before the user CA, exported client certificates.
        fs.rmSync(path.join(REPO_DIR, ".dind-compose", this.name), { recursive: true, force: true });
        fs.rmSync(path.join(REPO_DIR, ".dind-compose", "certs", this.name), { recursive: true, force: true });
    }
}
