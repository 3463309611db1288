// The file transport's decisions (files: auto|bind|sync), rsync's arguments and what its output
// and errors say, the engine's endpoint, and the access lines for an engine elsewhere. Pure.
// The transport itself is proven against a real remote engine in test/integration/remoteEngine.test.ts.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { dockerEngineHost } from "../../components/providers/engine";
import { accessLines, remoteEndpoint } from "../../components/transport/access";
import { chooseFiles, isLocalEngineHost } from "../../components/transport/files";
import { treeManifest } from "../../components/transport/manifest";
import { describeSync, parseSyncOutput, receiverLacksRsync, rsyncArgs, someOf, unreadableFiles } from "../../components/transport/rsync";

describe("chooseFiles", () => {
    it("auto: bind for an engine on this machine, sync for one elsewhere, and says why", () => {
        expect(chooseFiles("auto", "unix:///var/run/docker.sock", true)).toEqual({
            mode: "bind",
            reason: "project files: bind-mounted (dind-compose:files auto: the engine (unix:///var/run/docker.sock) runs on this machine)",
        });
        const remote = chooseFiles("auto", "ssh://me@big", false);
        expect(remote.mode).toBe("sync");
        expect(remote.reason).toContain("the engine (ssh://me@big) is on another machine, which cannot see this machine's folders");
        expect(remote.warning).toBeUndefined();
    });
    it("an explicit setting wins; bind with an engine elsewhere warns", () => {
        expect(chooseFiles("sync", "unix:///var/run/docker.sock", true).mode).toBe("sync");
        const bind = chooseFiles("bind", "tcp://big:2376", false);
        expect(bind.mode).toBe("bind");
        expect(bind.warning).toMatch(/looked up on that machine.*Use dind-compose:files sync/);
    });
    it("a unix or npipe socket, or nothing, is this machine's engine", () => {
        expect(["", "unix:///run/user/1000/docker.sock", "npipe:////./pipe/docker_engine"].map(isLocalEngineHost)).toEqual([
            true,
            true,
            true,
        ]);
        expect(["tcp://127.0.0.1:2376", "ssh://me@host"].map(isLocalEngineHost)).toEqual([false, false]);
    });
});

describe("dockerEngineHost", () => {
    it("DOCKER_HOST first, then the context in use (DOCKER_CONTEXT, then the config's currentContext), else the local socket", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
        const meta = path.join(dir, "contexts", "meta", crypto.createHash("sha256").update("big").digest("hex"));
        fs.mkdirSync(meta, { recursive: true });
        fs.writeFileSync(path.join(meta, "meta.json"), JSON.stringify({ Name: "big", Endpoints: { docker: { Host: "ssh://me@big" } } }));
        fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ currentContext: "big" }));
        try {
            expect(dockerEngineHost({ DOCKER_HOST: "tcp://x:2376", DOCKER_CONFIG: dir })).toBe("tcp://x:2376");
            expect(dockerEngineHost({ DOCKER_CONFIG: dir })).toBe("ssh://me@big");
            expect(dockerEngineHost({ DOCKER_CONFIG: dir, DOCKER_CONTEXT: "default" })).toBe("unix:///var/run/docker.sock");
            expect(dockerEngineHost({ DOCKER_CONFIG: path.join(dir, "none") })).toBe("unix:///var/run/docker.sock");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("rsync", () => {
    it("sends the folder's content to the same path in the container, deleting what is gone, over the given exec", () => {
        expect(rsyncArgs("p-a-dind", "/src/a/", ["docker", "exec", "-i"], { dryRun: true })).toEqual([
            "--archive",
            "--hard-links",
            "--numeric-ids",
            "--delete",
            "--itemize-changes",
            "--out-format=%i %n",
            "--stats",
            "--dry-run",
            "--rsh=docker exec -i",
            "/src/a/",
            "p-a-dind:/src/a/",
        ]);
    });
    it("reads the itemized lines: files and symlinks sent, paths deleted, bytes from --stats", () => {
        const out = [
            "*deleting   old.txt",
            "*deleting   olddir/",
            "cL+++++++++ link",
            "cd+++++++++ web/",
            "<f+++++++++ web/index.html",
            "<f.st...... web/app file.js",
            ".d..t...... ./",
            ".f...p..... mode-only.sh",
            "",
            "Total transferred file size: 1,234,567 bytes",
        ].join("\n");
        expect(parseSyncOutput(out)).toEqual({
            sent: ["link", "web/index.html", "web/app file.js"],
            deleted: ["old.txt", "olddir"],
            bytes: 1234567,
        });
    });
    it("names the files it could not read, and knows a receiver without rsync", () => {
        const stderr = [
            'rsync: [sender] send_files failed to open "/src/a/secret.txt": Permission denied (13)',
            'rsync: [sender] opendir "/src/a/private" failed: Permission denied (13)',
            "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338) [sender=3.2.7]",
        ].join("\n");
        expect(unreadableFiles(stderr)).toEqual([
            { path: "/src/a/secret.txt", error: "Permission denied" },
            { path: "/src/a/private", error: "Permission denied" },
        ]);
        expect(
            receiverLacksRsync(
                'OCI runtime exec failed: exec failed: unable to start container process: exec: "rsync": executable file not found in $PATH',
            ),
        ).toBe(true);
        expect(receiverLacksRsync("rsync: connection unexpectedly closed (0 bytes received so far) [sender]")).toBe(false);
    });
    it("says what was done in one line", () => {
        expect(describeSync({ sent: ["a", "b"], deleted: ["c"], bytes: 2048 }, false)).toBe("2 files sent (2.0 KB), 1 file deleted");
        expect(describeSync({ sent: ["a"], deleted: [], bytes: 0 }, true)).toBe("1 file to send");
        expect(describeSync({ sent: [], deleted: [], bytes: 0 }, false)).toBe("in step");
        expect(someOf(["1", "2", "3"], 2)).toBe("1, 2 and 1 more");
    });
});

describe("treeManifest", () => {
    it("changes with a file's content size, mode, time, a new or removed entry or a symlink's target; not otherwise", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "manifest-"));
        try {
            fs.mkdirSync(path.join(dir, "web"));
            fs.writeFileSync(path.join(dir, "web", "a.txt"), "one");
            fs.symlinkSync("web/a.txt", path.join(dir, "link"));
            const first = treeManifest(dir);
            expect(first).toMatchObject({ files: 1, bytes: 3 });
            expect(treeManifest(dir).digest).toBe(first.digest);
            const steps: (() => void)[] = [
                () => fs.writeFileSync(path.join(dir, "web", "a.txt"), "three"),
                () => fs.chmodSync(path.join(dir, "web", "a.txt"), 0o600),
                () => fs.utimesSync(path.join(dir, "web", "a.txt"), new Date(1e12), new Date(1e12)),
                () => fs.writeFileSync(path.join(dir, "b.txt"), ""),
                () => fs.rmSync(path.join(dir, "b.txt")),
                () => {
                    fs.rmSync(path.join(dir, "link"));
                    fs.symlinkSync("elsewhere", path.join(dir, "link"));
                },
            ];
            const digests = [first.digest];
            for (const step of steps) {
                step();
                digests.push(treeManifest(dir).digest);
            }
            // b.txt made and removed again: the tree is what it was after the time change.
            expect(digests[5]).toBe(digests[3]);
            expect(new Set(digests).size).toBe(digests.length - 1);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("access to an engine elsewhere", () => {
    const gateway = { bindAddress: "127.0.0.1", httpPort: 8080, httpsPort: 8443, tls: undefined };
    it("nothing to say for an engine on this machine", () => {
        expect(accessLines("unix:///var/run/docker.sock", true, gateway, [], "project.localhost")).toEqual([]);
    });
    it("ssh: the tunnel to run, with the ssh port and user of DOCKER_HOST, the gateway's and the tcp ports", () => {
        const lines = accessLines("ssh://dev@big.example:2222", false, gateway, [15432], "project.localhost");
        expect(lines[0]).toBe(
            "The engine (ssh://dev@big.example:2222) is on another machine: the gateway listens there, on 127.0.0.1:8080 and :8443, and the tcp ports on 15432.",
        );
        expect(lines[1]).toBe(
            "To open the URLs below from this machine, keep a tunnel open: ssh -N -p 2222 -L 127.0.0.1:8080:127.0.0.1:8080 -L 127.0.0.1:8443:127.0.0.1:8443 -L 127.0.0.1:15432:127.0.0.1:15432 dev@big.example",
        );
    });
    it("tcp: a tunnel or a reachable bind address", () => {
        const lines = accessLines("tcp://10.0.0.5:2376", false, gateway, [], "project.localhost");
        expect(lines[1]).toContain("ssh -N -L 127.0.0.1:8080:127.0.0.1:8080 -L 127.0.0.1:8443:127.0.0.1:8443 <user>@10.0.0.5");
        expect(lines[2]).toContain("set dind-compose:gateway.bindAddress to an address of 10.0.0.5");
        const open = accessLines("tcp://10.0.0.5:2376", false, { ...gateway, bindAddress: "0.0.0.0" }, [], "dev.test");
        expect(open[2]).toContain("any address of 10.0.0.5");
        expect(open[2]).toContain("curl --resolve <project>.dev.test:8080:<that address> http://<project>.dev.test:8080/");
    });
    it("reads the machine of an endpoint", () => {
        expect(remoteEndpoint("ssh://root@127.0.0.1:2200")).toEqual({ scheme: "ssh", host: "127.0.0.1", user: "root", sshPort: 2200 });
        expect(remoteEndpoint("tcp://[::1]:2376")).toEqual({ scheme: "tcp", host: "::1" });
    });
});
