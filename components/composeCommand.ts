// How compose runs against a project's inner daemon: `docker exec` into the dind
// container, its own compose client over TLS to its own daemon, the project's
// files at the same paths, and the stack's override on stdin. Used by the
// compose-stack provider (providers/composeStack.ts) and by `npm run compose`
// (scripts/compose.js), so both run compose the same way. Pure.

/** Environment for the compose client inside the dind container: TLS to its own daemon. */
export const TLS_ENV = ["DOCKER_HOST=tcp://localhost:2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/certs/client"];

export interface ComposeTarget {
    /** Name of the dind container whose daemon runs the stack. */
    daemon: string;
    /** Project name (also the compose project name). */
    project: string;
    /** Absolute project directory (the same path inside the dind container). */
    dir: string;
    /** Absolute compose file paths, in merge order. */
    composeFiles: string[];
    /** Extra variables for compose's interpolation. */
    env: Record<string, string>;
    /** The generated override (see override.ts), passed as `--file -` on stdin; "" for none. */
    override: string;
}

/** The parts of a compose invocation: `docker exec` up to the dind container, compose's flags, and the override's. */
export interface ComposeExecParts {
    /** `exec`, its flags and the dind container's name. */
    exec: string[];
    /** compose's project flags and the project's own files. */
    composeFlags: string[];
    /** `--file -` when the override comes on stdin; empty without one. */
    overrideFlags: string[];
}

/** How composeExecParts runs: a terminal for the command, and the override in a file inside the dind container instead of on stdin. */
export interface ComposeExecOptions {
    tty?: boolean;
    /**
     * A path in the dind container that holds the override already (see OVERRIDE_TO_FILE_SCRIPT):
     * stdin is then free, so a command that needs a terminal (exec -it) gets one.
     */
    overrideFile?: string;
}

/**
 * Writes stdin into a new file in the dind container and prints its path: the override of an
 * interactive `npm run compose` (every project that is given the user CA has one).
 */
export const OVERRIDE_TO_FILE_SCRIPT = 'f=$(mktemp /tmp/dind-compose-override-XXXXXX.yaml) && cat > "$f" && echo "$f"';

/** Where compose runs: the dind container, the working directory and the environment of the exec. */
export function composeExecContext(t: ComposeTarget): { container: string; workdir: string; env: string[] } {
    return {
        container: t.daemon,
        workdir: t.dir,
        env: [
            ...TLS_ENV,
            ...Object.keys(t.env)
                .sort()
                .map((k) => `${k}=${t.env[k]}`),
        ],
    };
}

/** See composeExecArgs. */
export function composeExecParts(t: ComposeTarget, opts: ComposeExecOptions = {}): ComposeExecParts {
    const c = composeExecContext(t);
    const onStdin = t.override !== "" && opts.overrideFile === undefined;
    const stdin = onStdin ? ["-i"] : opts.tty ? ["-it"] : [];
    return {
        exec: ["exec", ...stdin, "--workdir", c.workdir, ...c.env.flatMap((e) => ["--env", e]), c.container],
        composeFlags: ["--project-name", t.project, "--project-directory", t.dir, ...t.composeFiles.flatMap((f) => ["--file", f])],
        overrideFlags: t.override === "" ? [] : ["--file", opts.overrideFile ?? "-"],
    };
}

/**
 * `docker` arguments up to and including the compose file flags; the compose command follows.
 * With an override, stdin carries it (`-i`) unless it is in `overrideFile`; otherwise `tty` asks for a terminal (`-it`).
 */
export function composeExecArgs(t: ComposeTarget, opts: ComposeExecOptions = {}): string[] {
    const p = composeExecParts(t, opts);
    return [...p.exec, "docker", "compose", ...p.composeFlags, ...p.overrideFlags];
}
