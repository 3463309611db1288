// Checks on the engine and the host that must pass before any resource is
// created: images that exist (or can be pulled) and free gateway ports (HTTP and HTTPS).
// Each failure is a ConfigError naming the key, the value and the fix.
import * as net from "net";
import { ConfigError, EnvironmentSpec } from "./config";
import constants from "./constants.json";
import { StackNames } from "./names";
import { isUnreachable } from "./providers/engine";
import { run } from "./providers/exec";

/** Whether an image is on the engine, pulling it if not; the pull error otherwise. */
async function imageProblem(image: string): Promise<string | undefined> {
    const inspect = await run("docker", ["image", "inspect", "--format", "{{.Id}}", image]);
    if (inspect.code === 0) return undefined;
    if (isUnreachable(inspect.stderr)) {
        return `the Docker engine does not answer (${inspect.stderr.trim()}); start it (npm run bootstrap does)`;
    }
    const pull = await run("docker", ["pull", "--quiet", image]);
    if (pull.code === 0) return undefined;
    return `not on the engine and not pullable (${pull.stderr.trim().split("\n").slice(-1)[0]})`;
}

/** Whether something other than this stack's own container (the gateway, a project's TCP proxy) listens on the port. */
async function portProblem(bindAddress: string, port: number, ownContainer: string): Promise<string | undefined> {
    const free = await new Promise<boolean>((resolve) => {
        const srv = net.createServer();
        srv.once("error", () => resolve(false));
        srv.listen(port, bindAddress, () => srv.close(() => resolve(true)));
    });
    if (free) return undefined;
    const ours = await run("docker", ["container", "inspect", "--format", "{{json .HostConfig.PortBindings}}", ownContainer]);
    if (ours.code === 0 && ours.stdout.includes(`"HostPort":"${port}"`)) return undefined;
    return `${bindAddress}:${port} is already in use by another program`;
}

export async function preflight(spec: EnvironmentSpec, names: StackNames): Promise<void> {
    const problems: string[] = [];
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
    for (const [key, port] of [
        ["dind-compose:gateway.httpPort", spec.gateway.httpPort],
        ["dind-compose:gateway.httpsPort", spec.gateway.httpsPort],
    ] as const) {
        const problem = await portProblem(spec.gateway.bindAddress, port, names.gateway());
        if (problem) problems.push(`${key} ${port}: ${problem}; choose a free port (ss -ltn shows the ones in use) or stop that program`);
    }
    for (const [i, p] of spec.projects.entries()) {
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
    const info = await run("docker", ["info", "--format", "{{.NCPU}} {{.MemTotal}}"]);
    const [cpus, memory] = info.stdout.trim().split(/\s+/).map(Number);
    if (info.code !== 0 || !(cpus > 0) || !(memory > 0)) return [];
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
