// A Docker engine on "another machine" for the tests: a dind container with its own filesystem,
// reached over TLS (its 2376 published on 127.0.0.1) and over ssh (sshd inside, Debian's
// openssh-server of the dind stand-in image). Bind sources are looked up in ITS filesystem, not
// this machine's, so it behaves as a remote engine in every way the file transport cares about;
// all traffic stays on loopback.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import constants from "../../components/constants.json";
import { docker, dockerWith, freePort, runCommand } from "./harness";

export const REMOTE_LABEL = "dind-compose.test-remote";

export class RemoteEngine {
    private constructor(
        readonly name: string,
        readonly dir: string,
        /** Port inside the remote -> the port on this machine's 127.0.0.1 that reaches it. */
        readonly ports: Record<number, number>,
    ) {}

    /** Environment for docker, pulumi and the scripts: the remote over TLS. */
    get tlsEnv(): Record<string, string> {
        return {
            DOCKER_HOST: `tcp://127.0.0.1:${this.ports[2376]}`,
            DOCKER_TLS_VERIFY: "1",
            DOCKER_CERT_PATH: path.join(this.dir, "client"),
        };
    }

    /**
     * The remote over ssh: DOCKER_HOST=ssh://root@127.0.0.1:<port>; `ssh` on PATH is a wrapper with
     * the test's key and no host-key prompt (the docker CLI and rsync run plain `ssh`).
     */
    get sshEnv(): Record<string, string> {
        return { DOCKER_HOST: `ssh://root@127.0.0.1:${this.ports[22]}`, PATH: `${path.join(this.dir, "bin")}:${process.env.PATH}` };
    }

    /** Starts the remote with `published` inner ports reachable from 127.0.0.1, and loads `images` into it. */
    static async start(images: string[], published: number[]): Promise<RemoteEngine> {
        const name = `dind-compose-it-remote-${crypto.randomBytes(3).toString("hex")}`;
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-remote-"));
        const ports: Record<number, number> = {};
        for (const p of [2376, 22, ...published]) ports[p] = await freePort();
        await docker(
            "run",
            "--detach",
            "--name",
            name,
            "--hostname",
            "remote",
            "--label",
            `${REMOTE_LABEL}=1`,
            ...constants.dindCapabilityFlags,
            "--env",
            "DOCKER_TLS_CERTDIR=/certs",
            "--env",
            "DOCKER_TLS_SAN=DNS:localhost,IP:127.0.0.1",
            "--mount",
            "type=volume,target=/var/lib/docker",
            ...Object.entries(ports).flatMap(([inner, outer]) => ["--publish", `127.0.0.1:${outer}:${inner}`]),
            constants.images.standIns.dind,
        );
        const remote = new RemoteEngine(name, dir, ports);
        await remote.waitForTls();
        await remote.startSshd();
        await remote.load(images);
        return remote;
    }

    private async waitForTls(): Promise<void> {
        const deadline = Date.now() + 60_000;
        for (;;) {
            const r = await runCommand("docker", ["cp", `${this.name}:/certs/client`, this.dir]);
            if (r.code === 0) {
                const v = await runCommand("docker", ["version", "--format", "{{.Server.Version}}"], {
                    env: { ...process.env, ...this.tlsEnv },
                });
                if (v.code === 0) return;
            }
            if (Date.now() > deadline) throw new Error(`remote engine ${this.name} did not answer over TLS within 60 s: ${r.stderr}`);
            fs.rmSync(path.join(this.dir, "client"), { recursive: true, force: true });
            await new Promise((res) => setTimeout(res, 500));
        }
    }

    private async startSshd(): Promise<void> {
        const key = path.join(this.dir, "id_ed25519");
        const made = await runCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
        if (made.code !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
        const pub = fs.readFileSync(`${key}.pub`, "utf8").trim();
        await docker(
            "exec",
            this.name,
            "sh",
            "-c",
            `ssh-keygen -A >/dev/null && mkdir -p /run/sshd /root/.ssh && echo '${pub}' >/root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys && /usr/sbin/sshd`,
        );
        fs.mkdirSync(path.join(this.dir, "bin"));
        const wrapper = path.join(this.dir, "bin", "ssh");
        fs.writeFileSync(
            wrapper,
            `#!/bin/sh\n# The test remote's key, no host-key prompt, one connection shared by the docker CLI's many calls.\n` +
                `exec /usr/bin/ssh -F /dev/null -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR ` +
                `-o ControlMaster=auto -o ControlPath=${this.dir}/cm-%C -o ControlPersist=120 "$@"\n`,
        );
        fs.chmodSync(wrapper, 0o755);
    }

    /** Copies images from this machine's engine into the remote's (no registry: docker save | docker load). */
    async load(images: string[]): Promise<void> {
        if (images.length === 0) return;
        const save = `docker save ${images.join(" ")} | DOCKER_HOST=${this.tlsEnv.DOCKER_HOST} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${this.tlsEnv.DOCKER_CERT_PATH} docker load -q`;
        const r = await runCommand("sh", ["-c", save]);
        if (r.code !== 0) throw new Error(`loading ${images.join(", ")} into the remote failed: ${r.stderr}`);
    }

    /** docker against the remote. */
    docker(...args: string[]): Promise<string> {
        return dockerWith({ ...process.env, ...this.tlsEnv }, ...args);
    }

    /** Stops sshd's shared connections and removes the remote with everything in it (its /var/lib/docker volume too). */
    async remove(): Promise<void> {
        await runCommand("docker", ["rm", "--force", "--volumes", this.name]);
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
