// Checks on the engine and the host that must pass before any resource is
// created: images that exist (or can be pulled) and free gateway ports (HTTP and HTTPS).
// Each failure is a ConfigError naming the key, the value and the fix.
import * as fs from "fs";
import * as net from "net";
import { ConfigError, EnvironmentSpec } from "./config";
import constants from "./constants.json";
import { StackNames } from "./names";
import { engine, EngineError, engineIsLocal, isUnreachable } from "./providers/engine";
import type { FilesMode } from "./transport/files";

/** Whether an image is on the engine, pulling it if not; the pull error otherwise. */
async function imageProblem(image: string): Promise<string | undefined> {
    const e = engine();
    try {
        if ((await e.imageId(image)) !== undefined) return undefined;
    } catch (err) {
        if (isUnreachable(err)) throw unreachable(err);
        throw err;
    }
    try {
        await e.pullImage(image);
        return undefined;
    } catch (err) {
        return `not on the engine and not pullable (${detailOf(err).split("\n").slice(-1)[0]})`;
    }
}

const detailOf = (err: unknown): string => (err instanceof EngineError ? err.detail : String(err));

/** Whether something other than this stack's own container (the gateway, a project's TCP proxy) listens on the port. */
async function portProblem(bindAddress: string, port: number, ownContainer: string): Promise<string | undefined> {
    const free = await new Promise<boolean>((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, bindAddress, () => srv.close(() => resolve(true)));
    });
    if (free) return undefined;
    const ours = await engine().requestedHostPorts(ownContainer);
    if (Object.values(ours ?? {}).some((ports) => ports.includes(String(port)))) return undefined;
    return `${bindAddress}:${port} is already in use by another program`;
}

/** The engine does not answer: one problem, whatever else would be checked. */
function unreachable(err: unknown): ConfigError {
    const host = engine().host();
    const fix = engineIsLocal()
        ? "start it (npm run bootstrap does)"
        : "check that the machine is up and reachable from here (docker version shows the same error), or point DOCKER_HOST or the docker context at another engine";
    return new ConfigError([`the Docker engine at ${host} does not answer (${detailOf(err).split("\n").slice(-1)[0]}); ${fix}`]);
}

/** Whether `program` is on this machine's PATH. */
const onPath = (program: string): boolean =>
    (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && fs.existsSync(`${dir}/${program}`));

/** `files` is how the project files reach the daemons (transport/files.ts). */
export async function preflight(spec: EnvironmentSpec, names: StackNames, files: FilesMode = "bind"): Promise<void> {
    const problems: string[] = [];
    if (files === "sync" && !onPath("rsync")) {
        problems.push(
            "dind-compose:files sync (or auto with an engine on another machine) needs rsync on this machine to send the project files; install it (apt-get install rsync; npm run bootstrap does)",
        );
    }
    const images: [string, string][] = [
        ["dind-compose:images.dind", spec.images.dind],
        ["dind-compose:images.nginx", spec.images.nginx],
        ...spec.projects.flatMap((p, i) =>
            p.preloadImages.map((img, j): [string, string] => [`dind-compose:projects[${i}].preloadImages[${j}]`, img]),
        ),
    ];
    const unique = [...new Set(images.map(([, img]) => img))];
    const results = new Map(await Promise.all(unique.map(async (img) => [img, await imageProblem(img)] as const)));
    for (const [key, img] of images) {
        const problem = results.get(img);
        if (problem) {
            problems.push(
                `${key} "${img}" is ${problem}; build or load it (npm run bootstrap builds offline stand-ins such as ${constants.images.standIns.dind}), or point ${key} at an image the engine has (docker image ls)`,
            );
        }
    }
    // The ports of an engine elsewhere are on its machine, not this one: its own refusal names them.
    const localPorts = engineIsLocal();
    for (const [key, port] of localPorts
        ? ([
              ["dind-compose:gateway.httpPort", spec.gateway.httpPort],
              ["dind-compose:gateway.httpsPort", spec.gateway.httpsPort],
          ] as const)
        : []) {
        const problem = await portProblem(spec.gateway.bindAddress, port, names.gateway());
        if (problem) problems.push(`${key} ${port}: ${problem}; choose a free port (ss -ltn shows the ones in use) or stop that program`);
    }
    for (const [i, p] of localPorts ? spec.projects.entries() : []) {
        for (const [j, t] of p.tcp.entries()) {
            const problem = await portProblem(spec.gateway.bindAddress, t.hostPort, names.tcpProxy(p.name));
            if (problem)
                problems.push(
                    `dind-compose:projects[${i}].tcp[${j}].hostPort ${t.hostPort}: ${problem}; choose a free port (ss -ltn shows the ones in use) or stop that program`,
                );
        }
    }
    problems.push(...(await resourceProblems(spec)));
    if (problems.length > 0) throw new ConfigError(problems);
}

/** Caps the engine cannot give (docker refuses --cpus above its CPU count at create time, after other objects exist). */
async function resourceProblems(spec: EnvironmentSpec): Promise<string[]> {
    const capped = spec.projects
        .map((p, i) => ({ p, i }))
        .filter(({ p }) => p.resources.cpus !== undefined || p.resources.memory !== undefined);
    if (capped.length === 0) return [];
    const { cpus, memory } = await engine()
        .capacity()
        .catch(() => ({ cpus: 0, memory: 0 })); // an engine that does not say: its own refusal at create time names the cap
    if (!(cpus > 0) || !(memory > 0)) return [];
    const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
    return capped.flatMap(({ p, i }) => {
        const key = `dind-compose:projects[${i}].resources`;
        const out: string[] = [];
        if (p.resources.cpus !== undefined && p.resources.cpus > cpus)
            out.push(`${key}.cpus ${p.resources.cpus}: the engine has ${cpus} CPUs; use at most ${cpus}`);
        if (p.resources.memory !== undefined && p.resources.memory > memory)
            out.push(`${key}.memory ${gib(p.resources.memory)}: the engine has ${gib(memory)} of memory; use less`);
        return out;
    });
}
