// A child compose project running on its own inner daemon, as a Pulumi dynamic
// resource: create and update wait for the daemon (bounded retries with
// backoff), preload images, then `docker compose up -d --wait
// --remove-orphans`; delete runs `docker compose down` and succeeds when the
// daemon is already gone. The compose client runs inside the dind container
// (`docker exec`), talking to its daemon over TLS on 2376 with the client
// certificates of the cert volume; the project is mounted there at the same
// absolute path as on the host, so every relative path resolves as with plain
// `docker compose` on the host.
//
// Why not @pulumi/command's local.Command: its plugin cannot be produced on
// these machines (see docker.ts and the README). A dynamic resource also lets
// `pulumi preview --diff` name the changed service fields.
import * as pulumi from "../pulumiSdk";
import { ComposeTarget, composeExecContext, composeExecParts, TLS_ENV } from "../composeCommand";
import { engine, type ExecResult, isNotFound, isNotRunning, isUnreachable, succeeded } from "./engine";
import { type InspectedObject, inspectObject } from "./engineSnapshot";
import { progress, sleep } from "./exec";
import { engineFor, type KubernetesRef } from "./kubectlEngine";
import { ReferencedDynamicResource } from "./providerReference";
import { shellScript } from "./shellScripts";

/** Where and how compose runs (ComposeTarget: the dind container, project, files, env, override), and what it runs. */
export interface ComposeStackInputs extends ComposeTarget {
    /** The dind container's ID: a replaced daemon re-runs `up`. */
    daemonId: string;
    /** Images copied from the outer daemon when the inner one lacks them. */
    preloadImages: string[];
    readyTimeoutSeconds: number;
    /** Readable, flattened compose model: changed keys show in `preview --diff`. */
    model: Record<string, string>;
    /** sha256 of each file that feeds a build, keyed by path. */
    buildFiles: Record<string, string>;
    /**
     * sha256 of each other file compose reads (included, extended, env, secret and config files),
     * keyed by path: a diff names the file. Absent in states written before it existed (read as none).
     */
    sourceFiles?: Record<string, string>;
    /**
     * The restart policy given to every running service that has none of its own, so the inner
     * daemon starts them again after it restarts (an engine restart, a reboot): "unless-stopped".
     * Absent in states written before it existed: the next `up` applies it.
     */
    restartPolicy?: string;
    /** The cluster whose pod holds the daemon (kubectlEngine.ts); absent: the Docker engine (every state from before clusters). */
    engine?: KubernetesRef;
}

export interface ComposeStackOutputs extends ComposeStackInputs {
    /** `docker compose ps` after the last `up` (or the last refresh): service -> state. */
    services: Record<string, string>;
    /**
     * The services that were running after the last `up`. A refresh that finds one of
     * them not running (its dind container was stopped or killed, its containers were
     * removed) makes the next `up` run `docker compose up` again. Absent in states
     * written before this field existed.
     */
    runningAfterUp?: string[];
    /** When the dind container last started, as of the last `up`: a restart since then needs `up` again. */
    daemonStartedAt?: string;
}

/** The dind container as the engine sees it (on a cluster: its pod); undefined when it is not there or the engine cannot say. */
function daemonContainer(i: Pick<ComposeStackInputs, "daemon" | "engine">): Promise<InspectedObject | undefined> {
    const found = i.engine
        ? engineFor(i.engine)
              .inspect("container", [i.daemon])
              .then((c) => c[0])
        : inspectObject("container", i.daemon);
    return found.catch(() => undefined);
}

/** When the dind container last started ("" when it is not there or not running). */
async function daemonStartedAt(i: Pick<ComposeStackInputs, "daemon" | "engine">): Promise<string> {
    const c = await daemonContainer(i);
    return c?.State?.Running ? c.State.StartedAt : "";
}

const PS_ARGS = ["ps", "--all", "--format", "{{.Service}}\t{{.State}}"];

/**
 * scripts/up-then-ps.sh: `docker compose up --detach --wait --remove-orphans --quiet-pull --build`,
 * then `ps` of what it left (PS_ARGS), in one `docker exec` (a second exec cost 0.2-0.5 s
 * at the end of every `up`). $1 is "override" when stdin carries the override: it is read once into
 * a file that both commands are given. $2 is the restart policy for running services whose policy
 * is "no" ("" for none), $3 the services whose compose file sets `restart` itself (kept as they
 * are, `restart: "no"` included). Compose labels its containers by service, and `docker update`
 * changes the policy without touching the container, so compose sees no change of config later.
 * The rest are compose's flags; up's output goes to stderr, so stdout is ps's.
 */
const UP_THEN_PS_SCRIPT = "up-then-ps";

/** Runs `docker compose <args>` against the project's inner daemon, with the override on stdin; throws with compose's own output. */
async function compose(i: ComposeStackInputs, args: string[], what: string): Promise<string> {
    return composeRun(i, composeCommand(i, args), what);
}

/** `docker compose <project flags> <args>`, as composeExecArgs puts it after the exec. */
function composeCommand(i: ComposeTarget, args: string[]): string[] {
    const p = composeExecParts(i);
    return ["docker", "compose", ...p.composeFlags, ...p.overrideFlags, ...args];
}

/** Runs `command` in the dind container as compose runs there (composeCommand.ts), the override on stdin. */
function inComposeContext(i: ComposeTarget & Pick<ComposeStackInputs, "engine">, command: string[]): Promise<ExecResult> {
    const c = composeExecContext(i);
    return engineFor(i.engine).exec(c.container, command, {
        workdir: c.workdir,
        env: c.env,
        input: i.override !== "" ? i.override : undefined,
    });
}

async function composeRun(i: ComposeStackInputs, command: string[], what: string): Promise<string> {
    const r = await inComposeContext(i, command);
    if (r.code !== 0) {
        const out = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-40).join("\n");
        throw new Error(`project ${i.project}: ${what} failed (exit ${r.code}):\n${out}`);
    }
    return r.stdout;
}

/**
 * scripts/poll-daemon.sh: waits for the inner daemon inside the dind container, where a poll costs a docker CLI start and
 * not a `docker exec` through the outer engine (0.3-0.7 s each on a loaded machine). Asking the
 * daemon every 0.1 s would take the CPU that eight starting daemons need, so it asks at once, then
 * every second until the daemon's socket exists (a shell test, every 0.1 s), then with backoff from
 * 0.1 s to 1 s (a request to a daemon that is still starting waits for it). Gives up after $1
 * seconds. Prints "waiting <attempts> <last error>" after the first failure and every 5 s; when the
 * daemon answers, "ready <attempts> <version>" and "image <ID or -> <image>" for each image named
 * after $1 (what preload compares); exits 3 with "gave up <attempts> <last error>" at the deadline.
 */
const POLL_DAEMON_SCRIPT = "poll-daemon";

/**
 * Waits for the inner daemon to answer over TLS, up to the timeout: polls inside the dind container
 * (POLL_DAEMON_SCRIPT), and retries that with backoff while the container itself cannot run it
 * (starting, or restarting after its daemon died). Returns the inner daemon's image IDs of
 * preloadImages ("-": not there).
 */
async function waitForDaemon(i: ComposeStackInputs): Promise<Record<string, string>> {
    const started = Date.now();
    const deadline = started + i.readyTimeoutSeconds * 1000;
    let delay = 100;
    let attempts = 0;
    let last: string;
    const report = (attempt: number, error: string): Promise<void> =>
        progress(`[${i.project}] waiting for the inner daemon (attempt ${attempt}): ${error}`);
    for (;;) {
        const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
        const lines: string[] = [];
        let partial = "";
        const r = await engineFor(i.engine).exec(
            i.daemon,
            ["sh", "-c", shellScript(POLL_DAEMON_SCRIPT), "poll-daemon", String(seconds), ...i.preloadImages],
            {
                env: TLS_ENV,
                onOutput: (chunk) => {
                    const parts = (partial + chunk).split("\n");
                    partial = parts.pop() ?? "";
                    for (const line of parts) {
                        const waiting = /^waiting (\d+) (.*)$/.exec(line);
                        if (waiting) void report(attempts + Number(waiting[1]), waiting[2]);
                        lines.push(line);
                    }
                },
            },
        );
        const all = [...lines, partial].filter(Boolean);
        const final = all.map((l) => /^(ready|gave up) (\d+) (.*)$/.exec(l)).find((m) => m !== null);
        if (r.code === 0 && final?.[1] === "ready") {
            attempts += Number(final[2]);
            await progress(
                `[${i.project}] inner daemon ${final[3]} ready after ${((Date.now() - started) / 1000).toFixed(1)} s (${attempts} attempt${attempts > 1 ? "s" : ""})`,
            );
            const images = all.map((l) => /^image (\S+) (\S+)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
            return Object.fromEntries(images.map((m) => [m[2], m[1]]));
        }
        if (final) {
            attempts += Number(final[2]);
            last = final[3];
            break; // polled until the deadline
        }
        // The exec itself failed: the container is not running (yet, or again).
        attempts++;
        last = (r.stderr || r.stdout).trim().split("\n").slice(-1)[0] ?? "";
        if (isNotFound(last, "container")) {
            throw new Error(`project ${i.project}: dind container ${i.daemon} does not exist; run 'pulumi up --refresh' to recreate it`);
        }
        if (Date.now() + delay > deadline) break;
        if (attempts === 1 || attempts % 5 === 0) await report(attempts, last);
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
    }
    const logs = await engineFor(i.engine).logs(i.daemon, 25);
    throw new Error(
        `project ${i.project}: inner daemon in ${i.daemon} did not answer within ${i.readyTimeoutSeconds} s (${attempts} attempts; last error: ${last}).\n` +
            `Last lines of its log:\n${logs.trim()}\n` +
            `Raise dind-compose:dind.readyTimeoutSeconds if the machine is just slow.`,
    );
}

/** The outer engine's image IDs of preloadImages; throws for one it lacks. */
async function outerImageIds(i: ComposeStackInputs): Promise<Record<string, string>> {
    const ids = await Promise.all(
        i.preloadImages.map(async (image) => {
            const outer = await engineFor(i.engine).imageId(image);
            if (outer === undefined) {
                throw new Error(
                    `project ${i.project}: preloadImages entry ${image} is not on the outer engine; build or pull it there first (docker image ls ${image})`,
                );
            }
            return [image, outer];
        }),
    );
    return Object.fromEntries(ids);
}

/**
 * Where `docker save` archives of preloaded images are kept: the program's cache, next to the
 * compose models (<root>/.dind-compose/cache/images; this module runs from
 * <root>/.dind-compose/build/components/providers).
 */
const IMAGE_ARCHIVE_DIR = require("path").join(__dirname, "..", "..", "..", "cache", "images");
/** Archives not used for this long are removed when a new one is written. */
const IMAGE_ARCHIVE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

/**
 * The `docker save` archive of `image` (whose ID is `id`), made once and kept by ID: the projects
 * of one `pulumi up` that load the same image share it (eight engine-side exports of the same
 * layers at N = 8 before), and later runs find it. An ID names the content, so a kept archive
 * is never stale; it carries the name it is loaded under, so that is in its file name too.
 */
function imageArchive(image: string, id: string): Promise<string> {
    const fs = require("fs");
    const path = require("path");
    const file = path.join(IMAGE_ARCHIVE_DIR, `${id.replace(/^sha256:/, "").slice(0, 32)}-${image.replace(/[^\w.-]+/g, "_")}.tar`);
    const g = globalThis as { __dindComposeImageArchives?: Map<string, Promise<string>> };
    const pending = (g.__dindComposeImageArchives ??= new Map());
    const making = pending.get(file);
    if (making) return making;
    if (fs.existsSync(file)) {
        const now = new Date();
        fs.utimesSync(file, now, now); // used: kept from pruning
        return Promise.resolve(file);
    }
    const made = (async () => {
        fs.mkdirSync(IMAGE_ARCHIVE_DIR, { recursive: true });
        const partial = `${file}.${process.pid}.partial`;
        try {
            await engine().saveImage(image, partial);
            fs.renameSync(partial, file);
        } finally {
            fs.rmSync(partial, { force: true });
            pending.delete(file);
        }
        for (const f of fs.readdirSync(IMAGE_ARCHIVE_DIR) as string[]) {
            const p = path.join(IMAGE_ARCHIVE_DIR, f);
            if (Date.now() - fs.statSync(p).mtimeMs > IMAGE_ARCHIVE_MAX_AGE_MS) fs.rmSync(p, { force: true });
        }
        return file;
    })();
    pending.set(file, made);
    return made;
}

/** Copies images from the outer daemon into the inner one, skipping those it already has (same ID). */
async function preload(i: ComposeStackInputs, outer: Record<string, string>, inner: Record<string, string>): Promise<void> {
    for (const image of i.preloadImages) {
        if (inner[image] === outer[image]) continue;
        await progress(`[${i.project}] loading image ${image} into the inner daemon`);
        const archive = await imageArchive(image, outer[image]);
        succeeded(
            await engineFor(i.engine).exec(i.daemon, ["docker", "load", "--quiet"], { input: require("fs").createReadStream(archive) }),
        );
    }
}

async function up(i: ComposeStackInputs): Promise<ComposeStackOutputs> {
    const outer = outerImageIds(i);
    outer.catch(() => undefined); // awaited below; not an unhandled rejection while the daemon is awaited
    const inner = await waitForDaemon(i);
    await preload(i, await outer, inner);
    await progress(`[${i.project}] docker compose up -d --wait --remove-orphans --build`);
    const started = Date.now();
    // --build: a changed Dockerfile or build context (buildFiles) must give a new image;
    // unchanged ones come from the inner daemon's build cache in a moment.
    const p = composeExecParts(i);
    const ownPolicy = explicitRestartServices(i.model).join(" ");
    const script = [
        shellScript(UP_THEN_PS_SCRIPT),
        "up-then-ps",
        i.override !== "" ? "override" : "none",
        i.restartPolicy ?? "",
        ownPolicy,
    ];
    const out = await composeRun(i, ["sh", "-c", ...script, ...p.composeFlags], "docker compose up");
    const services = parseServices(out);
    await progress(
        `[${i.project}] up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.entries(services)
            .map(([s, st]) => `${s} ${st}`)
            .join(", ")}`,
    );
    const runningAfterUp = Object.keys(services)
        .filter((s) => services[s] === "running")
        .sort();
    return { ...i, services, runningAfterUp, daemonStartedAt: await daemonStartedAt(i) };
}

/**
 * `up` for an update. When it fails, the stack on the daemon is neither the old one nor the new
 * one, so the error carries the new inputs as the resource's state: a partial failure (the dynamic
 * provider reports an error with an id as ErrorResourceInitFailed). Without it Pulumi would keep
 * the last good inputs, and a config changed back to them would show no diff while the broken
 * stack runs on. A resource with such errors is updated again by the next `up`, changed or not.
 */
async function upOrPartialFailure(id: string, news: ComposeStackInputs): Promise<ComposeStackOutputs> {
    try {
        return await up(news);
    } catch (e) {
        const err = e as Error & { id?: string; properties?: ComposeStackOutputs; reasons?: string[] };
        const services = await servicesOf(news).catch(() => ({}) as Record<string, string>);
        err.id = id;
        err.properties = { ...news, services, runningAfterUp: [] };
        err.reasons = [err.message];
        throw err;
    }
}

/** Services whose compose file sets `restart` (the flattened model has `services.<name>.restart`). */
export function explicitRestartServices(model: Record<string, string>): string[] {
    return Object.keys(model)
        .map((k) => /^services\.(.+)\.restart$/.exec(k)?.[1])
        .filter((s): s is string => s !== undefined)
        .sort();
}

/** Whether every service that ran after the last `up` runs in `services`. */
const runningAgain = (o: ComposeStackOutputs, services: Record<string, string>): boolean =>
    (o.runningAfterUp ?? []).every((s) => services[s] === "running");

/** Whether the inner daemon answers and runs again every service that ran after the last `up`. */
async function allBack(o: ComposeStackOutputs): Promise<boolean> {
    const services = await servicesOf(o).catch(() => undefined);
    return services !== undefined && runningAgain(o, services);
}

async function servicesOf(i: ComposeStackInputs): Promise<Record<string, string>> {
    return parseServices(await compose(i, PS_ARGS, "docker compose ps"));
}

/** `compose ps --format "{{.Service}}\t{{.State}}"` output: service -> state. */
function parseServices(out: string): Record<string, string> {
    const services: Record<string, string> = {};
    for (const line of out.trim().split("\n").filter(Boolean)) {
        const [svc, state] = line.split("\t");
        services[svc] = state ?? "";
    }
    return services;
}

const DIFF_KEYS: (keyof ComposeStackInputs)[] = [
    "daemon",
    "daemonId",
    "dir",
    "composeFiles",
    "override",
    "env",
    "preloadImages",
    "model",
    "buildFiles",
    "sourceFiles",
    "restartPolicy",
];

/** Flattens record-valued inputs so the diff names the exact key, e.g. model["services.web.image"]. */
function detailedDiff(olds: ComposeStackInputs, news: ComposeStackInputs): Record<string, { kind: "update"; inputDiff: boolean }> {
    const d: Record<string, { kind: "update"; inputDiff: boolean }> = {};
    for (const k of DIFF_KEYS) {
        const o = olds[k] as unknown;
        const n = news[k] as unknown;
        if (k === "model" || k === "buildFiles" || k === "sourceFiles" || k === "env") {
            const or = (o ?? {}) as Record<string, string>;
            const nr = (n ?? {}) as Record<string, string>;
            for (const key of new Set([...Object.keys(or), ...Object.keys(nr)])) {
                if (or[key] !== nr[key]) d[`${k}["${key}"]`] = { kind: "update", inputDiff: true };
            }
        } else if (JSON.stringify(o ?? null) !== JSON.stringify(n ?? null)) {
            d[k] = { kind: "update", inputDiff: true };
        }
    }
    return d;
}

export const composeStackProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ComposeStackInputs) {
        const outs = await up(inputs);
        return { id: `${inputs.daemon}/${inputs.project}`, outs };
    },

    async diff(_id: string, olds: ComposeStackOutputs, news: ComposeStackInputs) {
        const d = detailedDiff(olds, news);
        // After a refresh: services that ran after the last `up` but do not run now
        // (a stopped dind container restarts with its children exited) need `up` again.
        const down = (olds.runningAfterUp ?? []).filter((s) => (olds.services ?? {})[s] !== "running");
        for (const s of down) d[`services["${s}"]`] = { kind: "update", inputDiff: false };
        // Without a refresh: the dind container restarted since the last `up` (read from the engine
        // snapshot, engineSnapshot.ts, so a no-op `up` runs no command). Its children come back by
        // their restart policy (restartPolicy; not in states from before it): only when they have
        // not (yet) does the stack need `up`, which waits for the daemon. That check costs one exec.
        if (olds.daemonStartedAt && !d.daemonId) {
            const now = await daemonStartedAt(news);
            if (now !== "" && now !== olds.daemonStartedAt && !(olds.restartPolicy && (await allBack(olds)))) {
                d.daemonStartedAt = { kind: "update", inputDiff: false };
            }
        }
        // The project name decides the compose project: a new one is a new stack.
        const replaces = olds.project !== news.project ? ["project"] : [];
        return { changes: Object.keys(d).length > 0 || replaces.length > 0, replaces, detailedDiff: d } as pulumi.dynamic.DiffResult;
    },

    async update(id: string, _olds: ComposeStackOutputs, news: ComposeStackInputs) {
        // `up` in place: compose recreates only the services whose config changed; child volumes stay.
        return { outs: await upOrPartialFailure(id, news) };
    },

    async read(id: string, props: ComposeStackOutputs) {
        // A missing daemon container means the stack is gone with it; refresh then recreates both.
        const c = await daemonContainer(props);
        if (!c?.Id) return { id: "", props: {} };
        if (!c.State?.Running) return { id, props: { ...props, daemonId: c.Id, services: {} } };
        const services = await servicesOf(props).catch(() => ({}) as Record<string, string>);
        // Everything that ran after the last `up` runs again (after a restart, by its restart
        // policy): this start of the daemon is the one the stack is up on.
        const back = runningAgain(props, services);
        return {
            id,
            props: { ...props, daemonId: c.Id, services, ...(back && props.daemonStartedAt ? { daemonStartedAt: c.State.StartedAt } : {}) },
        };
    },

    async delete(_id: string, props: ComposeStackOutputs) {
        if (!(await daemonContainer(props))?.State?.Running) return; // the daemon and its containers are gone already
        const r = await inComposeContext(props, composeCommand(props, ["down", "--remove-orphans", "--timeout", "5"]));
        if (r.code !== 0 && !(isNotFound(r, "container") || isNotRunning(r) || isUnreachable(r))) {
            throw new Error(`project ${props.project}: docker compose down failed (exit ${r.code}): ${r.stderr.trim()}`);
        }
    },
};

export type ComposeStackArgs = { [K in keyof ComposeStackInputs]: pulumi.Input<ComposeStackInputs[K]> };

/** Where the provider process finds the provider (see providerReference.ts). */
const composeStackReference = { moduleFile: __filename, exportName: "composeStackProvider" };

export class ComposeStack extends ReferencedDynamicResource {
    declare public readonly services: pulumi.Output<Record<string, string>>;
    constructor(name: string, args: ComposeStackArgs, opts?: pulumi.CustomResourceOptions) {
        super(composeStackReference, name, { ...args, services: undefined }, opts, "compose", "Stack");
    }
}
