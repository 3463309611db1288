// Reads every project's compose model before any resource is created, so a
// broken compose file stops `pulumi up` and `pulumi preview` with compose's own
// message (file and line) and nothing is touched.
//
// The canonical model comes from `docker compose config` itself (run in a
// throw-away container of the dind image, which carries the compose client),
// so compose's many rules (merging, interpolation, path resolution) are its
// own. Its result is cached by the digest of everything it read, so a no-op
// preview does not run it again. Without an engine or image the hand-written
// reader (compose.ts) is used, and the program says so.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    buildInputs,
    ComposeModel,
    fileDigests,
    firstPublishedPort,
    hostPaths,
    mountRoots,
    normalizeComposeConfigJson,
    readComposeModel,
    summarizeModel,
    yamlSyntaxError,
} from "./compose";
import { ConfigError, ProjectSpec } from "./config";
import { LoadedProject } from "./environment";
import { run } from "./providers/exec";

export interface LoadOptions {
    /** Image that carries the compose client (the dind image). */
    composeImage: string;
    /** Where canonical models are cached (gitignored). */
    cacheDir: string;
    /** Called with a line for the user (pulumi.log.info in the program). */
    say: (message: string) => void;
}

/** Whether a path is a directory, for mountRoots. */
const isDirectory = (p: string): boolean => {
    try {
        return fs.statSync(p).isDirectory();
    } catch {
        return false;
    }
};

/**
 * A digest of what `docker compose config` reads: the compose files, .env and the env config,
 * and the project name (compose derives the default network's and volumes' names from it, so two
 * projects with the same directory must not share a cached model).
 */
function inputDigest(spec: ProjectSpec, image: string): string {
    const h = crypto.createHash("sha256");
    h.update(JSON.stringify({ image, project: spec.name, files: spec.composeFiles, env: spec.env, dir: spec.dir }));
    for (const f of [...spec.composeFiles, path.join(spec.dir, ".env")]) {
        h.update(f);
        h.update(fs.existsSync(f) ? fs.readFileSync(f) : "(none)");
    }
    return h.digest("hex").slice(0, 32);
}

/** Runs `docker compose config --format json` for a project; undefined when no engine or image can run it. */
async function canonicalModel(spec: ProjectSpec, opts: LoadOptions): Promise<ComposeModel | undefined> {
    const cacheFile = path.join(opts.cacheDir, `compose-config-${inputDigest(spec, opts.composeImage)}.json`);
    if (fs.existsSync(cacheFile)) return normalizeComposeConfigJson(fs.readFileSync(cacheFile, "utf8"));

    const args = [
        "run", "--rm", "--network", "none", "--entrypoint", "docker",
        "--volume", `${spec.dir}:${spec.dir}:ro`,
        ...spec.composeFiles.filter((f) => !f.startsWith(spec.dir + path.sep)).flatMap((f) => ["--volume", `${f}:${f}:ro`]),
        "--workdir", spec.dir,
        ...Object.keys(spec.env).sort().flatMap((k) => ["--env", `${k}=${spec.env[k]}`]),
        opts.composeImage,
        "compose", "--project-name", spec.name, "--project-directory", spec.dir,
        ...spec.composeFiles.flatMap((f) => ["--file", f]),
        "config", "--format", "json",
    ];
    const r = await run("docker", args).catch(() => undefined);
    if (r === undefined) return undefined; // no docker CLI at all
    if (r.code !== 0) {
        if (/Unable to find image|No such image|Cannot connect to the Docker daemon|pull access denied/i.test(r.stderr)) return undefined;
        throw new ConfigError([composeRejected(spec, r.stderr.trim())]);
    }
    fs.mkdirSync(opts.cacheDir, { recursive: true });
    fs.writeFileSync(cacheFile, r.stdout);
    return normalizeComposeConfigJson(r.stdout);
}

/**
 * compose's own message for files it rejects, and the fix. For a YAML syntax error, also the exact
 * place from the yaml parser: compose's "yaml: line N" is often where the enclosing block starts.
 */
function composeRejected(spec: ProjectSpec, stderr: string): string {
    const exact = /^yaml: /m.test(stderr)
        ? spec.composeFiles.map((f) => (fs.existsSync(f) ? yamlSyntaxError(fs.readFileSync(f, "utf8"), f) : undefined)).find((e) => e !== undefined)
        : undefined;
    return [
        `project ${spec.name}: docker compose config rejected ${spec.composeFiles.join(", ")}:`,
        stderr,
        ...(exact ? [`exactly: ${exact.message}`, `fix the YAML at ${exact.where}, then run again`] : [`fix what compose names in ${spec.composeFiles.join(", ")}, then run again`]),
    ].join("\n");
}

async function loadProject(spec: ProjectSpec, opts: LoadOptions): Promise<LoadedProject> {
    const readOptions = { projectDir: spec.dir, onWarning: (w: string) => opts.say(`project ${spec.name}: ${w}`) };
    let canonical: ComposeModel | undefined;
    let handWritten: ComposeModel | undefined;
    let handError: Error | undefined;
    try {
        canonical = await canonicalModel(spec, opts);
    } catch (e) {
        if (e instanceof ConfigError) throw e;
        throw new ConfigError([`project ${spec.name}: ${(e as Error).message}`]);
    }
    try {
        handWritten = readComposeModel(spec.composeFiles, spec.env, undefined, readOptions);
    } catch (e) {
        handError = e as Error;
    }
    if (canonical === undefined && handWritten === undefined) {
        throw new ConfigError([`project ${spec.name}: ${handError?.message ?? "cannot read the compose files"}`]);
    }
    if (canonical === undefined) {
        opts.say(`project ${spec.name}: image ${opts.composeImage} cannot run 'docker compose config' here; read the compose files with the built-in reader`);
    }
    const model = (canonical ?? handWritten) as ComposeModel;

    const services = Object.keys(model.services);
    const networkMode = (service: string): string => String(model.services[service].extra.network_mode ?? "");
    if (services.length === 0) throw new ConfigError([`project ${spec.name}: ${spec.composeFiles.join(", ")} defines no services; add one`]);

    // File order decides "the first published port"; compose's canonical output sorts services by name.
    const port = spec.port ?? firstPublishedPort(handWritten ?? model);
    if (port === undefined) {
        throw new ConfigError([
            `project ${spec.name}: no service publishes a port, so the gateway has nothing to route to; publish one in ${path.basename(spec.composeFiles[0])} (ports: ["3000:3000"]) or set dind-compose:projects[].port`,
        ]);
    }
    return {
        // Services that share another container's network namespace (network_mode service:x or
        // container:x) take its /etc/hosts, and Docker refuses extra_hosts on them.
        services: services.filter((name) => !/^(service|container):/.test(networkMode(name))),
        // The inner default bridge has no embedded DNS: project hostnames need /etc/hosts there (override.ts).
        bridgeServices: services.filter((name) => ["bridge", "default"].includes(networkMode(name))),
        port,
        mountRoots: mountRoots([spec.dir, ...hostPaths(model)], isDirectory),
        model: summarizeModel(model, { projectDir: spec.dir }),
        buildFiles: fileDigests(buildInputs(model), spec.dir),
    };
}

/** Loads every project in parallel; throws one ConfigError listing every broken project. */
export async function loadProjects(projects: ProjectSpec[], opts: LoadOptions): Promise<Record<string, LoadedProject>> {
    const results = await Promise.allSettled(projects.map((p) => loadProject(p, opts)));
    const problems = results.flatMap((r) => (r.status === "rejected" ? (r.reason instanceof ConfigError ? r.reason.problems : [String(r.reason)]) : []));
    if (problems.length > 0) throw new ConfigError(problems);
    return Object.fromEntries(projects.map((p, i) => [p.name, (results[i] as PromiseFulfilledResult<LoadedProject>).value]));
}
