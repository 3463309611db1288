// The host paths a model references, and the directories to bind-mount so that the dind daemon
// (and the container that runs `docker compose config`) sees each at the same absolute path.
import * as path from "path";
import { ComposeModel, isRemoteContext, ServiceModel } from "./model";

/**
 * Every host path the model references: bind-mount sources, build contexts, Dockerfiles, env_files,
 * file-based configs and secrets. Absolute, sorted, without duplicates; remote build contexts and
 * named or anonymous volumes are not paths and are left out.
 */
export function hostPaths(model: ComposeModel): string[] {
    const out = new Set<string>();
    for (const svc of Object.values(model.services)) {
        for (const v of svc.volumes) if (v.type === "bind" && v.source !== undefined) out.add(v.source);
        for (const p of serviceBuildInputs(svc)) out.add(p);
        for (const f of svc.env_file) out.add(f);
    }
    for (const section of [model.configs, model.secrets]) {
        for (const def of Object.values(section)) if (typeof def.file === "string") out.add(def.file);
    }
    return [...out].sort();
}

/** The local build contexts and Dockerfiles of the model (what `fileDigests` should hash), sorted. */
export function buildInputs(model: ComposeModel): string[] {
    return [...new Set(Object.values(model.services).flatMap(serviceBuildInputs))].sort();
}

function serviceBuildInputs(svc: ServiceModel): string[] {
    if (!svc.build || isRemoteContext(svc.build.context)) return [];
    return svc.build.dockerfile === undefined ? [svc.build.context] : [svc.build.context, svc.build.dockerfile];
}

/**
 * The minimal set of directories to bind-mount so that every path is visible at the same absolute
 * path: each directory itself, each file's parent (a missing path counts as a file: its parent is
 * mounted, so that the daemon can create it there), then any directory inside another one dropped.
 * Include the project directory in `paths` to mount it whole.
 * @param isDirectory tells directories from files (injected: pure).
 */
export function mountRoots(paths: string[], isDirectory: (p: string) => boolean): string[] {
    const dirs = [
        ...new Set(
            paths
                .map((p) => path.resolve(p))
                .filter((p) => !isSystemPath(p))
                .map((p) => (isDirectory(p) ? p : path.dirname(p))),
        ),
    ]
        .filter((d) => !isSystemPath(d))
        .sort();
    const roots: string[] = [];
    for (const d of dirs) {
        if (!roots.some((r) => isInside(d, r))) roots.push(d);
    }
    return roots;
}

/**
 * Host system locations that are never mounted into a dind container: a compose file's
 * `/var/run/docker.sock`, `/etc/localtime` or `/dev/fuse` then means the dind container's own
 * (for the socket: the project's own daemon, which is the point), and mounting the host's `/run`
 * or `/etc` over the dind container's would break it and expose the outer engine.
 */
export const SYSTEM_PATHS = [
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/etc",
    "/var/lib/docker",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/boot",
    "/tmp/.X11-unix",
];

/** A system location, its parent chain up to `/` (`/`, `/var`) included: never a mount root. */
export function isSystemPath(p: string): boolean {
    const abs = path.resolve(p);
    return abs === "/" || abs === "/var" || SYSTEM_PATHS.some((s) => isInside(abs, s));
}

function isInside(p: string, dir: string): boolean {
    return p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}
