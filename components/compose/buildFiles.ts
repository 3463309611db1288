// Digests of the files that feed builds (build contexts, Dockerfiles) and of the other files
// compose reads, so that a change in any of them shows in the project's diff.
import { createHash } from "crypto";
import * as nodeFs from "fs";
import * as path from "path";
import { sha256, sortRecord } from "./json";

/** The kinds of file system entry `fileDigests` tells apart. */
export type EntryKind = "file" | "directory" | "symlink" | "other";

/** What `fileDigests` may ask of the file system (injected, so tests need no files). */
export interface TreeFs {
    /** Kind of the entry; undefined when it does not exist. `follow`: report what a symlink points to. */
    kind(p: string, follow: boolean): EntryKind | undefined;
    /** Names of a directory's entries. */
    list(dir: string): string[];
    /** Content of a file. */
    read(p: string): string | Uint8Array;
    /** Target of a symlink. */
    readLink(p: string): string;
    /** `sha256:<hex>` of a file's content, when the file system can tell it without `read` (a cache); undefined: read it. */
    digest?(p: string): string | undefined;
}

/** `TreeFs` over node's fs. */
export const nodeTreeFs: TreeFs = {
    kind(p, follow) {
        const st = follow ? nodeFs.statSync(p, { throwIfNoEntry: false }) : nodeFs.lstatSync(p, { throwIfNoEntry: false });
        if (!st) return undefined;
        return st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
    },
    list: (dir) => nodeFs.readdirSync(dir),
    read: (p) => nodeFs.readFileSync(p),
    readLink: (p) => nodeFs.readlinkSync(p),
};

/** Options of `fileDigests`. */
export interface FileDigestOptions {
    /**
     * A build context with more files than this gets one entry for all of them (`<dir>/`), so the
     * state stays small however big the context; up to it, one entry per file, so a diff names
     * the file. @default 200
     */
    perFileLimit?: number;
    /** @default nodeTreeFs */
    fs?: TreeFs;
}

/**
 * sha256 of every file that feeds a build: each path given (a Dockerfile, or a build context walked
 * recursively, skipping `.git` and what the context's `.dockerignore` excludes), keyed by path
 * relative to `projectDir` (`../x` for paths outside it), keys sorted. A missing path maps to
 * "missing", a symlink inside a context to its target. A context of more than `perFileLimit` files
 * maps, under `<dir>/`, to `tree:sha256:<digest of every path and its content> (<n> files)`:
 * every file counts, none is dropped.
 */
export function fileDigests(paths: string[], projectDir: string, options: FileDigestOptions = {}): Record<string, string> {
    const fs = options.fs ?? nodeTreeFs;
    const perFileLimit = options.perFileLimit ?? 200;
    const out: Record<string, string> = {};
    const key = (p: string): string => path.relative(projectDir, p).split(path.sep).join("/") || ".";
    const entryOf = (p: string, kind: EntryKind): string =>
        kind === "symlink" ? `symlink:${fs.readLink(p)}` : (fs.digest?.(p) ?? `sha256:${sha256(fs.read(p))}`);

    const walk = (
        root: string,
        dir: string,
        ignored: (rel: string) => boolean,
        pruneIgnored: boolean,
        found: [string, EntryKind][],
    ): void => {
        for (const name of fs.list(dir).sort()) {
            const p = path.join(dir, name);
            const rel = path.relative(root, p).split(path.sep).join("/");
            const kind = fs.kind(p, false);
            if (kind === "directory") {
                if (name === ".git" || (pruneIgnored && ignored(rel))) continue;
                walk(root, p, ignored, pruneIgnored, found);
            } else if ((kind === "file" || kind === "symlink") && !ignored(rel)) {
                found.push([p, kind]);
            }
        }
    };

    for (const p of [...new Set(paths.map((x) => path.resolve(x)))].sort()) {
        const kind = fs.kind(p, true);
        if (kind === undefined) out[key(p)] = "missing";
        else if (kind === "file") out[key(p)] = entryOf(p, kind);
        else if (kind === "directory") {
            const ignoreFile = path.join(p, ".dockerignore");
            const rules = fs.kind(ignoreFile, true) === "file" ? dockerignoreRules(String(fs.read(ignoreFile))) : [];
            const found: [string, EntryKind][] = [];
            // with a `!` exception, an ignored directory may still hold files to keep: walk it
            walk(p, p, (rel) => isIgnored(rules, rel), !rules.some((r) => r.negate), found);
            if (found.length <= perFileLimit) {
                for (const [f, k] of found) out[key(f)] = entryOf(f, k);
            } else {
                const h = createHash("sha256");
                for (const [f, k] of found) h.update(`${path.relative(p, f)}\0${entryOf(f, k)}\n`);
                out[`${key(p)}/`] = `tree:sha256:${h.digest("hex")} (${found.length} files)`;
            }
        }
    }
    return sortRecord(out);
}

interface IgnoreRule {
    negate: boolean;
    re: RegExp;
}

/** `.dockerignore` patterns (`*`, `?`, `**`, `[...]`, `!` exceptions, comments), as far as simple. */
function dockerignoreRules(text: string): IgnoreRule[] {
    return text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"))
        .map((l) => {
            const negate = l.startsWith("!");
            const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim().replace(/^\/+/, "")).replace(/\/+$/, "");
            return { negate, re: globToRegExp(pattern) };
        });
}

function isIgnored(rules: IgnoreRule[], rel: string): boolean {
    const parts = rel.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let ignored = false;
    // the last matching rule wins; a pattern matching a directory covers what is inside
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
    return ignored;
}

function globToRegExp(pattern: string): RegExp {
    const esc = (c: string): string => c.replace(/[.+^${}()|\\/]/g, "\\$&");
    let re = "";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "*" && pattern[i + 1] === "*") {
            i++;
            if (pattern[i + 1] === "/") {
                i++;
                re += "(?:.*/)?";
            } else {
                re += ".*";
            }
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else if (c === "[" && pattern.indexOf("]", i + 1) > i + 1) {
            const end = pattern.indexOf("]", i + 1);
            re += `[${pattern
                .slice(i + 1, end)
                .replace(/^!/, "^")
                .replace(/\\/g, "\\\\")}]`;
            i = end;
        } else if (c === "\\" && i + 1 < pattern.length) {
            i++;
            re += esc(pattern[i]);
        } else re += esc(c);
    }
    return new RegExp(`^${re}$`);
}
