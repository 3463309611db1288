// Reads every project's compose model before any resource is created, so a
// broken compose file stops `pulumi up` and `pulumi preview` with compose's own
// message (file and line) and nothing is touched.
//
// The model comes from `docker compose config` itself (run in a throw-away
// container of the dind image, which carries the compose client; one container
// for all the projects that are not cached), so compose's many rules (merging,
// interpolation, path resolution) are its own; it is the only source of the
// model. What compose cannot tell (the files it reads, the services' file
// order) comes from compose/reads.ts. Its result is cached by the digest of
// everything it read, so a no-op preview does not run it again.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import {
    buildInputs,
    ComposeModel,
    ComposeReads,
    composeReads,
    fileDigests,
    firstPublishedPort,
    hostPaths,
    inFileOrder,
    mountRoots,
    nodeTreeFs,
    normalizeComposeConfigJson,
    summarizeModel,
    TreeFs,
    yamlSyntaxError,
} from "./compose";
import { ConfigError, ProjectSpec } from "./config";
import { LoadedProject } from "./environment";
import { CA_ENV } from "./override";
import { engine } from "./providers/engine";
import { duplicateHostnames, portsToRebind, projectRoutes, PublishedPorts } from "./routes";

export interface LoadOptions {
    /** Image that carries the compose client (the dind image). */
    composeImage: string;
    /** Where canonical models are cached (gitignored). */
    cacheDir: string;
    /** The stack's domain (its bare name is the index page, never a route). */
    domain: string;
    /** The engine cannot see this machine's folders (files: sync): `docker compose config` gets copies of the files it reads. */
    copyFiles: boolean;
}

/** Whether a path is a directory, for mountRoots. */
const isDirectory = (p: string): boolean => {
    try {
        return fs.statSync(p).isDirectory();
    } catch {
        return false;
    }
};

/** The text of a file, undefined when there is none. */
const readText = (file: string): string | undefined => {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
};

/**
 * A digest of what `docker compose config` reads: the compose files, the files they include,
 * extend and take env files from, .env, the env config, and the project name (compose derives the
 * default network's and volumes' names from it, so two projects with the same directory must not
 * share a cached model).
 */
function inputDigest(spec: ProjectSpec, reads: ComposeReads, image: string): string {
    const h = crypto.createHash("sha256");
    h.update(JSON.stringify({ image, project: spec.name, files: spec.composeFiles, env: spec.env, dir: spec.dir }));
    for (const f of [...spec.composeFiles, ...reads.files]) {
        h.update(f);
        h.update(fs.existsSync(f) ? fs.readFileSync(f) : "(none)");
    }
    return h.digest("hex").slice(0, 32);
}

/** A word for `sh -c`: single-quoted. */
const shellWord = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** What `docker compose config` said of one project: its JSON, or its refusal (compose's stderr). */
type ConfigRun = { json: string } | { rejected: string };

/**
 * Runs `docker compose config --format json` for the projects in ONE throw-away container of the
 * compose image, all at once inside it (a container start per project cost ~0.2 s each and ran
 * 8 at a time on a cold `up` at N = 8). Each project runs in its own directory with its own env,
 * as it would alone; the results come back base64-encoded after a marker line per project.
 * Throws when no engine or image can run it (the preflight checks both first).
 */
async function runComposeConfig(specs: ProjectSpec[], reads: ComposeReads[], opts: LoadOptions): Promise<ConfigRun[]> {
    const read = specs.flatMap((spec, n) => [spec.dir, ...spec.composeFiles, ...reads[n].files]);
    // An engine elsewhere cannot see these folders: the files compose reads go into the container instead.
    const files = opts.copyFiles
        ? { copies: [...new Set(read)].filter((f) => fs.existsSync(f) && fs.statSync(f).isFile()) }
        : { mounts: mountRoots(read, isDirectory) };
    const jobs = specs.map((spec, n) => {
        const env = Object.keys(spec.env)
            .sort()
            .map((k) => shellWord(`${k}=${spec.env[k]}`));
        const command = [
            "docker",
            "compose",
            "--project-name",
            spec.name,
            "--project-directory",
            spec.dir,
            ...spec.composeFiles.flatMap((f) => ["--file", f]),
            "config",
            "--format",
            "json",
        ].map(shellWord);
        return `(mkdir -p ${shellWord(spec.dir)} && cd ${shellWord(spec.dir)} && env ${env.join(" ")} ${command.join(" ")} >/tmp/out${n} 2>/tmp/err${n}; echo $? >/tmp/code${n}) &`;
    });
    const script = [
        ...jobs,
        "wait",
        `for n in ${specs.map((_, n) => n).join(" ")}; do echo "@@dind-compose-config $n $(cat /tmp/code$n)"; base64 /tmp/out$n | tr -d '\\n'; echo; base64 /tmp/err$n | tr -d '\\n'; echo; done`,
    ].join("\n");
    const r = await engine().runScript(opts.composeImage, script, files);
    if (r.code !== 0) {
        throw new Error(`docker run ${opts.composeImage} for 'docker compose config' failed (exit ${r.code}): ${r.stderr.trim()}`);
    }
    const lines = r.stdout.split("\n");
    return specs.map((spec, n) => {
        const at = lines.findIndex((l) => l.startsWith(`@@dind-compose-config ${n} `));
        if (at < 0)
            throw new Error(`'docker compose config' of project ${spec.name} gave no result: ${r.stderr.trim() || r.stdout.slice(-500)}`);
        const code = lines[at].split(" ")[2];
        const decode = (b64: string | undefined): string => Buffer.from(b64 ?? "", "base64").toString("utf8");
        return code === "0" ? { json: decode(lines[at + 1]) } : { rejected: decode(lines[at + 2]).trim() };
    });
}

/**
 * The canonical model of every project, from the cache or from one `docker compose config` run
 * for all that are not cached; per project the model, or the ConfigError of compose's refusal.
 */
async function canonicalModels(specs: ProjectSpec[], reads: ComposeReads[], opts: LoadOptions): Promise<(ComposeModel | ConfigError)[]> {
    const cacheFiles = specs.map((spec, n) =>
        path.join(opts.cacheDir, `compose-config-${inputDigest(spec, reads[n], opts.composeImage)}.json`),
    );
    const missing = specs.filter((_, n) => !fs.existsSync(cacheFiles[n]));
    const runs =
        missing.length > 0
            ? await runComposeConfig(
                  missing,
                  missing.map((spec) => reads[specs.indexOf(spec)]),
                  opts,
              )
            : [];
    return specs.map((spec, n) => {
        const ran = runs[missing.indexOf(spec)];
        if (ran === undefined) return normalizeComposeConfigJson(fs.readFileSync(cacheFiles[n], "utf8"));
        if ("rejected" in ran) return new ConfigError([composeRejected(spec, ran.rejected)]);
        fs.mkdirSync(opts.cacheDir, { recursive: true });
        fs.writeFileSync(cacheFiles[n], ran.json);
        return normalizeComposeConfigJson(ran.json);
    });
}

/**
 * compose's own message for files it rejects, and the fix. For a YAML syntax error, also the exact
 * place from the yaml parser: compose's "yaml: line N" is often where the enclosing block starts.
 */
function composeRejected(spec: ProjectSpec, stderr: string): string {
    const exact = /^yaml: /m.test(stderr)
        ? spec.composeFiles
              .map((f) => (fs.existsSync(f) ? yamlSyntaxError(fs.readFileSync(f, "utf8"), f) : undefined))
              .find((e) => e !== undefined)
        : undefined;
    return [
        `project ${spec.name}: docker compose config rejected ${spec.composeFiles.join(", ")}:`,
        stderr,
        ...(exact
            ? [`exactly: ${exact.message}`, `fix the YAML at ${exact.where}, then run again`]
            : [`fix what compose names in ${spec.composeFiles.join(", ")}, then run again`]),
    ].join("\n");
}

/**
 * A TreeFs whose file digests come from a cache on disk, keyed by path and checked against the
 * file's size, mtime and inode, so a no-op preview of a big build context stats its files and
 * reads none. `save` writes the entries back when a digest was computed, those of files that no
 * longer exist dropped (other stacks of this checkout share the cache); a run that computed none
 * writes nothing and stats no other entry.
 */
function cachedTreeFs(cacheFile: string): TreeFs & { save(): void } {
    type Entry = [size: number, mtimeMs: number, ino: number, digest: string];
    let known: Record<string, Entry> = {};
    try {
        known = JSON.parse(fs.readFileSync(cacheFile, "utf8")) as Record<string, Entry>;
    } catch {
        // no cache yet, or an unreadable one: digests are computed again
    }
    const used: Record<string, Entry> = {};
    let computed = false;
    return {
        ...nodeTreeFs,
        digest(p: string): string {
            const st = fs.statSync(p);
            const hit = known[p];
            if (hit && hit[0] === st.size && hit[1] === st.mtimeMs && hit[2] === st.ino) {
                used[p] = hit;
                return hit[3];
            }
            const digest = `sha256:${crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`;
            used[p] = [st.size, st.mtimeMs, st.ino, digest];
            computed = true;
            return digest;
        },
        save(): void {
            if (!computed) return;
            fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
            const kept = Object.fromEntries(Object.entries(known).filter(([f]) => !(f in used) && fs.existsSync(f)));
            const tmp = `${cacheFile}.${process.pid}.tmp`;
            fs.writeFileSync(tmp, JSON.stringify({ ...kept, ...used }));
            fs.renameSync(tmp, cacheFile);
        },
    };
}

/** The files compose reads that must exist and do not: one problem each, naming where it is named. */
function missingReads(spec: ProjectSpec, reads: ComposeReads): string[] {
    return reads.refs
        .filter((r) => !r.optional && !fs.existsSync(r.file))
        .map(
            (r) =>
                `project ${spec.name}: ${r.via} in ${r.from} names ${path.relative(path.dirname(r.from), r.file) || r.file}, which does not exist (${r.file}); create it or fix the path in ${path.basename(r.from)}`,
        );
}

/** Every file compose reads for the model besides the top-level compose files, that exists: the ones found before the run and those compose resolved. */
function sourceFilesOf(reads: ComposeReads, model: ComposeModel): string[] {
    const resolved = [
        ...Object.values(model.services).flatMap((s) => s.env_file),
        ...[model.configs, model.secrets].flatMap((section) =>
            Object.values(section)
                .map((d) => d.file)
                .filter((f): f is string => typeof f === "string"),
        ),
    ];
    return [...new Set([...reads.files, ...resolved])].filter((f) => {
        try {
            return fs.statSync(f).isFile();
        } catch {
            return false;
        }
    });
}

/** @param canonical compose's own model, or its refusal. */
function loadProject(
    spec: ProjectSpec,
    index: number,
    canonical: ComposeModel | ConfigError,
    reads: ComposeReads,
    tree: TreeFs,
): LoadedProject {
    if (canonical instanceof ConfigError) throw canonical;
    // File order decides "the first published port"; compose's canonical output sorts services by name.
    const model = inFileOrder(canonical, reads.serviceOrder);

    const services = Object.keys(model.services);
    const networkMode = (service: string): string => String(model.services[service].extra.network_mode ?? "");
    if (services.length === 0)
        throw new ConfigError([`project ${spec.name}: ${spec.composeFiles.join(", ")} defines no services; add one`]);

    const key = `dind-compose:projects[${index}]`;
    const port = spec.port ?? firstPublishedPort(model);
    if (port === undefined) {
        throw new ConfigError([
            `project ${spec.name}: no service publishes a port, so the gateway has nothing to route to; publish one in ${path.basename(spec.composeFiles[0])} (ports: ["3000:3000"]) or set ${key}.port`,
        ]);
    }
    const ports: PublishedPorts = services.map((s) => [s, model.services[s].ports]);
    const { routes, problems } = projectRoutes(spec, key, ports, port);
    const publishedTcp = new Set(
        ports.flatMap(([, list]) => list.filter((p) => p.protocol === "tcp" && p.published !== undefined).map((p) => p.published)),
    );
    spec.tcp.forEach((t, j) => {
        if (!publishedTcp.has(t.port)) {
            problems.push(
                `${key}.tcp[${j}].port ${t.port}: no service of project ${spec.name} publishes it; publish it in the compose file (ports: ["${t.port}:${t.port}"]) or fix the port`,
            );
        }
    });
    if (problems.length > 0) throw new ConfigError(problems);
    const sourceFiles = sourceFilesOf(reads, model);
    return {
        // Services that share another container's network namespace (network_mode service:x or
        // container:x) take its /etc/hosts, and Docker refuses extra_hosts on them.
        services: services.filter((name) => !/^(service|container):/.test(networkMode(name))),
        // The inner default bridge has no embedded DNS: project hostnames need /etc/hosts there (override.ts).
        bridgeServices: services.filter((name) => ["bridge", "default"].includes(networkMode(name))),
        caVariables: Object.fromEntries(services.map((s) => [s, Object.keys(model.services[s].environment).filter((k) => k in CA_ENV)])),
        routes,
        rebindPorts: portsToRebind(ports),
        mountRoots: mountRoots([spec.dir, ...spec.composeFiles, ...reads.files, ...hostPaths(model)], isDirectory),
        model: summarizeModel(model, { projectDir: spec.dir }),
        buildFiles: fileDigests(buildInputs(model), spec.dir, { fs: tree }),
        sourceFiles: fileDigests(sourceFiles, spec.dir, { fs: tree }),
    };
}

/** Loads every project (compose's models of all of them in one run); throws one ConfigError listing every broken project. */
export async function loadProjects(projects: ProjectSpec[], opts: LoadOptions): Promise<Record<string, LoadedProject>> {
    const reads = projects.map((p) => composeReads(p.composeFiles, p.dir, readText));
    const missing = projects.flatMap((p, n) => missingReads(p, reads[n]));
    if (missing.length > 0) throw new ConfigError(missing);
    const canonical = await canonicalModels(projects, reads, opts).catch((e: Error) => {
        throw new ConfigError([e.message]);
    });
    const loaded: Record<string, LoadedProject> = {};
    const problems: string[] = [];
    const tree = cachedTreeFs(path.join(opts.cacheDir, "file-digests.json"));
    projects.forEach((p, n) => {
        try {
            loaded[p.name] = loadProject(p, n, canonical[n], reads[n], tree);
        } catch (e) {
            problems.push(...(e instanceof ConfigError ? e.problems : [`project ${p.name}: ${(e as Error).message}`]));
        }
    });
    tree.save();
    problems.push(
        ...duplicateHostnames(
            Object.values(loaded).flatMap((l) => l.routes),
            opts.domain,
        ),
    );
    if (problems.length > 0) throw new ConfigError(problems);
    return loaded;
}
