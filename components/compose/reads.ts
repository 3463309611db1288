// The files compose reads for a project besides the ones named on its command line, found before
// compose runs: the container that runs `docker compose config` and the dind container must see
// each of them at the same absolute path, and a change in any of them must show in that project's
// diff. Pure: files are read through the injected `readText`.
//
// `docker compose config` prints the merged model with env_file, secret, config and build paths
// resolved, and that is what the program trusts for those (see loadProjects.ts); what it cannot
// say is which files it merged in through `include` and `extends`, and in what order the files
// declare the services (it prints them sorted by name), and it needs the env files before it can run. So this walks only those keys, as compose resolves them: a relative path
// against the directory of the file that names it (an included file's own project directory, an
// extended file's directory), `include` and `extends` followed to any depth.
import * as path from "path";
import { parse } from "yaml";
import { ComposeModel } from "./model";

/** One file that a compose file names. */
export interface ComposeRead {
    /** Absolute path. */
    file: string;
    /** The compose file that names it (absolute); for a `.env`, the project directory's first compose file. */
    from: string;
    /** The key that names it: `include`, `services.web.extends.file`, `services.web.env_file`, `secrets.x.file`, `.env`... */
    via: string;
    /** Compose goes on without it (a `.env`, an env_file with `required: false`). */
    optional: boolean;
}

/** What `composeReads` found. */
export interface ComposeReads {
    /** Absolute paths of the files compose reads besides the top-level compose files, sorted: included and extended files, env files, `.env` files, secret and config files. */
    files: string[];
    /** Each file and where it is named (a file named twice is listed twice). */
    refs: ComposeRead[];
    /**
     * Service names in the order the files declare them: the top-level files first, then the
     * included ones (extended files add no services). `docker compose config` sorts them by name,
     * and the first published port in file order is the project's default port.
     */
    serviceOrder: string[];
    /** Paths written with a variable (`${X}`) or `~`: compose resolves them, this walk does not. */
    interpolated: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** A path as written, without what only compose resolves (a variable, `~`). */
const literal = (p: unknown): p is string => typeof p === "string" && p !== "" && !p.includes("$") && !p.startsWith("~");
const asList = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);

/**
 * @param composeFiles the project's compose files (absolute), in merge order.
 * @param projectDir the project directory: its `.env` is read for interpolation.
 * @param readText a file's text, or undefined when it does not exist (compose will say so).
 */
export function composeReads(composeFiles: string[], projectDir: string, readText: (file: string) => string | undefined): ComposeReads {
    const refs: ComposeRead[] = [{ file: path.join(projectDir, ".env"), from: composeFiles[0] ?? projectDir, via: ".env", optional: true }];
    const interpolated = new Set<string>();
    const visited = new Set<string>(composeFiles);
    const serviceOrder = new Set<string>();
    const extended = new Set<string>();
    // Relative paths of the top-level files resolve against the project directory, as with
    // --project-directory; those of an included or extended file against its own directory.
    const queue = composeFiles.map((f) => ({ file: f, dir: projectDir }));

    /** A path as written in `dir`: resolved and kept, or set aside when compose must interpolate it. */
    const take = (raw: unknown, dir: string, from: string, via: string, optional = false): string | undefined => {
        if (typeof raw !== "string" || raw === "") return undefined;
        if (!literal(raw)) {
            interpolated.add(raw);
            return undefined;
        }
        const resolved = path.resolve(dir, raw);
        refs.push({ file: resolved, from, via, optional });
        return resolved;
    };
    const follow = (raw: unknown, dir: string, projectDirOfFile: string, from: string, via: string): void => {
        const file = take(raw, dir, from, via);
        if (file !== undefined && via !== "include") extended.add(file);
        if (file !== undefined && !visited.has(file)) {
            visited.add(file);
            queue.push({ file, dir: projectDirOfFile === "" ? path.dirname(file) : projectDirOfFile });
        }
    };

    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const text = readText(next.file);
        if (text === undefined) continue;
        let doc: unknown;
        try {
            doc = parse(text);
        } catch {
            continue; // compose reports the syntax error with its own message
        }
        if (!isRecord(doc)) continue;
        const { dir, file } = next;
        for (const item of asList(doc.include)) {
            const entry = typeof item === "string" ? { path: item } : item;
            if (!isRecord(entry)) continue;
            const paths = asList(entry.path);
            const written = typeof entry.project_directory === "string" ? entry.project_directory : paths[0];
            const includedDir = literal(written)
                ? path.resolve(dir, typeof entry.project_directory === "string" ? written : path.dirname(written))
                : undefined;
            for (const p of paths) follow(p, dir, includedDir ?? "", file, "include");
            const envFiles = asList(entry.env_file);
            if (envFiles.length === 0 && includedDir !== undefined)
                refs.push({ file: path.join(includedDir, ".env"), from: file, via: "include (its .env)", optional: true });
            for (const e of envFiles) take(e, dir, file, "include.env_file");
        }
        for (const [name, svc] of Object.entries(isRecord(doc.services) ? doc.services : {})) {
            if (!extended.has(file)) serviceOrder.add(name);
            if (!isRecord(svc)) continue;
            if (isRecord(svc.extends) && svc.extends.file !== undefined)
                follow(svc.extends.file, dir, "", file, `services.${name}.extends.file`);
            for (const e of asList(svc.env_file)) {
                const optional = isRecord(e) && (e.required === false || e.required === "false");
                take(isRecord(e) ? e.path : e, dir, file, `services.${name}.env_file`, optional);
            }
        }
        for (const [sectionName, section] of [
            ["secrets", doc.secrets],
            ["configs", doc.configs],
        ] as const) {
            for (const [name, def] of Object.entries(isRecord(section) ? section : {}))
                if (isRecord(def)) take(def.file, dir, file, `${sectionName}.${name}.file`);
        }
    }
    const topLevel = new Set(composeFiles);
    return {
        files: [...new Set(refs.map((r) => r.file))].filter((f) => !topLevel.has(f)).sort(),
        refs,
        serviceOrder: [...serviceOrder],
        interpolated: [...interpolated].sort(),
    };
}

/** The model's services in file order (`serviceOrder`), those the order does not know after them by name. */
export function inFileOrder(model: ComposeModel, order: string[]): ComposeModel {
    const names = [
        ...order.filter((s) => s in model.services),
        ...Object.keys(model.services)
            .filter((s) => !order.includes(s))
            .sort(),
    ];
    return { ...model, services: Object.fromEntries(names.map((s) => [s, model.services[s]])) };
}
