// components/providers/engine.ts: the docker command lines DockerCliEngine runs (recorded, no
// docker needed), and what each of docker's failure messages is recognised as.
import { describe, expect, it } from "vitest";
import { composeExecArgs, composeExecContext, composeExecParts, type ComposeTarget } from "../../components/composeCommand";
import {
    DockerCliEngine,
    EngineError,
    isAlreadyExists,
    isInUse,
    isNameInUse,
    isNotFound,
    isNotRunning,
    isUnreachable,
    type Runner,
    succeeded,
} from "../../components/providers/engine";
import type { RunOptions } from "../../components/providers/exec";

/** A DockerCliEngine whose docker is a recorder answering `answer`. */
function recorded(answer: { code?: number; stdout?: string; stderr?: string } = {}) {
    const calls: { args: string[]; opts?: RunOptions }[] = [];
    const runner: Runner = async (file, args, opts) => {
        expect(file).toBe("docker");
        calls.push({ args, opts });
        return { code: answer.code ?? 0, stdout: answer.stdout ?? "[]", stderr: answer.stderr ?? "" };
    };
    return { engine: new DockerCliEngine(runner), calls };
}

describe("DockerCliEngine command lines", () => {
    it("exec of compose is composeExecArgs, byte for byte (with and without the override on stdin)", async () => {
        for (const override of ["", "services: {}\n"]) {
            const t: ComposeTarget = {
                daemon: "t-dev-a-dind",
                project: "a",
                dir: "/srv/a",
                composeFiles: ["/srv/a/compose.yaml"],
                env: { B: "2", A: "1" },
                override,
            };
            const { engine, calls } = recorded();
            const c = composeExecContext(t);
            const p = composeExecParts(t);
            await engine.exec(c.container, ["docker", "compose", ...p.composeFlags, ...p.overrideFlags, "ps"], {
                workdir: c.workdir,
                env: c.env,
                input: override || undefined,
            });
            expect(calls[0].args).toEqual([...composeExecArgs(t), "ps"]);
            expect(calls[0].opts?.input).toBe(override || undefined);
        }
    });

    it("create: flags in the order docker create was always given them", async () => {
        const { engine, calls } = recorded();
        await engine.createContainer({
            name: "c",
            hostname: "h",
            image: "img",
            command: ["run", "x"],
            labels: { b: "2", a: "1" },
            env: { Z: "z", Y: "y" },
            sysctls: { "net.x": "1" },
            mounts: [{ type: "volume", source: "v", target: "/data", readOnly: true }],
            ports: [{ hostIp: "127.0.0.1", hostPort: 0, containerPort: 80 }],
            securityArgs: ["--privileged"],
            resources: { cpus: 1, memory: 64 },
            restart: "unless-stopped",
            network: { name: "n", aliases: ["al"], ip: "10.0.0.2" },
        });
        expect(calls[0].args).toEqual([
            "create",
            "--name",
            "c",
            "--hostname",
            "h",
            "--restart",
            "unless-stopped",
            "--label",
            "a=1",
            "--label",
            "b=2",
            "--privileged",
            "--cpus",
            "1",
            "--memory",
            "64",
            "--memory-swap",
            "64",
            "--env",
            "Y=y",
            "--env",
            "Z=z",
            "--sysctl",
            "net.x=1",
            "--mount",
            "type=volume,source=v,target=/data,readonly",
            "--publish",
            "127.0.0.1::80",
            "--network",
            "n",
            "--network-alias",
            "al",
            "--ip",
            "10.0.0.2",
            "img",
            "run",
            "x",
        ]);
    });

    it("the snapshot's lists and the network, volume and container calls", async () => {
        const { engine, calls } = recorded({ stdout: "" });
        await engine.list("container", "dind-compose.stack");
        await engine.list("volume", "dind-compose.stack");
        await engine.list("network", "dind-compose.stack");
        await engine.createNetwork("n", { l: "1" }, { subnet: "10.1.0.0/24", ipRange: "10.1.0.128/25" });
        await engine.createVolume("v", { l: "1" });
        await engine.connectNetwork("n", "c", { aliases: ["a", "b"], ip: "10.1.0.9" });
        await engine.disconnectNetwork("n", "c", { force: true });
        await engine.removeContainer("c", { volumes: true });
        await engine.exec("g", ["sh", "-c", "x"], { input: Buffer.from("tar") });
        expect(calls.map((c) => c.args.join(" "))).toEqual([
            "container ls --all --quiet --no-trunc --filter label=dind-compose.stack",
            "volume ls --quiet --filter label=dind-compose.stack",
            "network ls --quiet --no-trunc --filter label=dind-compose.stack",
            "network create --driver bridge --subnet 10.1.0.0/24 --ip-range 10.1.0.128/25 --label l=1 n",
            "volume create --label l=1 v",
            "network connect --alias a --alias b --ip 10.1.0.9 n c",
            "network disconnect --force n c",
            "rm --force --volumes c",
            "exec -i g sh -c x",
        ]);
    });

    it("a failure is an EngineError with docker's message, as the providers always reported it", async () => {
        const { engine } = recorded({ code: 1, stderr: "Error response from daemon: network n not found\n" });
        const err = (await engine.removeNetwork("n").catch((e: unknown) => e)) as EngineError;
        expect(err).toBeInstanceOf(EngineError);
        expect(err.message).toBe("docker network rm n failed (exit 1): Error response from daemon: network n not found");
        expect(isNotFound(err)).toBe(true);
        const exec = await engine.exec("g", ["nginx", "-s", "reload"]);
        expect(() => succeeded(exec)).toThrow("docker exec g nginx … failed (exit 1): Error response from daemon: network n not found");
    });
});

describe("what docker's failures are recognised as", () => {
    it.each([
        ["Error response from daemon: No such container: t-dev-a-dind", ["notFound", "containerNotFound"]],
        ["Error response from daemon: get t-dev-a-data: no such volume", ["notFound"]],
        ["Error response from daemon: network t-dev-a not found", ["notFound"]],
        ["Error response from daemon: error while removing network: network t-dev-a id 1f2e has active endpoints", ["inUse"]],
        ["Error response from daemon: network with name t-dev-a already exists", ["alreadyExists"]],
        ['Error response from daemon: Conflict. The container name "/t-dev-a-dind" is already in use by container "9c1d".', ["nameInUse"]],
        ["Error response from daemon: container 9c1d is not running", ["notRunning"]],
        ["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", ["unreachable"]],
        ['error during connect: Get "http://127.0.0.1:2375/v1.47/info": dial tcp: connection refused', ["unreachable"]],
        ["permission denied", []],
    ])("%s", (message, kinds) => {
        const found = Object.entries({
            notFound: isNotFound(message),
            containerNotFound: isNotFound(message, "container"),
            inUse: isInUse(message),
            alreadyExists: isAlreadyExists(message),
            nameInUse: isNameInUse(message),
            notRunning: isNotRunning(message),
            unreachable: isUnreachable(message),
        })
            .filter(([, yes]) => yes)
            .map(([k]) => k);
        expect(found).toEqual(kinds);
        // The same from an EngineError and from an exec's result.
        expect(isNotFound(new EngineError("docker x", 1, message))).toBe(kinds.includes("notFound"));
        expect(isNotRunning({ stderr: message })).toBe(kinds.includes("notRunning"));
    });
});
