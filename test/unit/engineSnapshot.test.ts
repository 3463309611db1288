// components/providers/engineSnapshot.ts against a fake `docker` on PATH that
// serves a fixed set of objects and logs every call: how many docker commands
// the providers' reads cost, and that no stale answer survives a mutation.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { inspectObject, mutating } from "../../components/providers/engineSnapshot";

const FAKE_DOCKER = `#!/usr/bin/env node
const fs = require("fs");
const path = require("path");
const dir = process.env.FAKE_DOCKER_DIR;
const args = process.argv.slice(2);
fs.appendFileSync(path.join(dir, "calls.log"), args.join(" ") + "\\n");
const objects = JSON.parse(fs.readFileSync(path.join(dir, "objects.json"), "utf8"));
const [kind, verb, ...rest] = args;
if (verb === "ls") {
    for (const o of objects[kind]) process.stdout.write((kind === "volume" ? o.Name : o.Id) + "\\n");
    process.exit(0);
}
if (verb === "inspect") {
    const found = [];
    let missing = "";
    for (const name of rest) {
        const o = objects[kind].find((x) => x.Id === name || x.Name === name || x.Name === "/" + name);
        if (o) found.push(o);
        else missing = name;
    }
    process.stdout.write(JSON.stringify(found));
    if (missing) {
        process.stderr.write("Error: No such " + kind + ": " + missing + "\\n");
        process.exit(1);
    }
    process.exit(0);
}
process.stderr.write("fake docker: unexpected " + args.join(" ") + "\\n");
process.exit(2);
`;

interface Objects {
    container: { Id: string; Name: string; State: { Running: boolean; Status: string; StartedAt: string } }[];
    volume: { Name: string }[];
    network: { Id: string; Name: string }[];
}

describe("engine snapshot: the providers' reads of the engine", () => {
    let dir = "";
    const savedPath = process.env.PATH;
    const objects: Objects = {
        container: [1, 2, 3].map((i) => ({
            Id: `c${i}id`,
            Name: `/p${i}-dind`,
            State: { Running: true, Status: "running", StartedAt: `2026-11-23T10:0${i}:00Z` },
        })),
        volume: [1, 2, 3].flatMap((i) => [{ Name: `p${i}-data` }, { Name: `p${i}-certs` }]),
        network: [1, 2, 3].map((i) => ({ Id: `n${i}id`, Name: `p${i}` })),
    };
    const setObjects = (o: Objects) => fs.writeFileSync(path.join(dir, "objects.json"), JSON.stringify(o));
    const calls = (): string[] => {
        const file = path.join(dir, "calls.log");
        return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-docker-"));
        fs.writeFileSync(path.join(dir, "docker"), FAKE_DOCKER, { mode: 0o755 });
        setObjects(objects);
        process.env.FAKE_DOCKER_DIR = dir;
        process.env.PATH = `${dir}:${savedPath}`;
        delete (globalThis as { __dindComposeSnapshot?: unknown }).__dindComposeSnapshot;
    });
    afterEach(() => {
        process.env.PATH = savedPath;
        vi.restoreAllMocks();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("answers every read of a no-op from one snapshot: 3 lists and 3 inspects, whatever the number of objects", async () => {
        const reads = [
            ...objects.network.map((n) => inspectObject("network", n.Name)),
            ...objects.volume.map((v) => inspectObject("volume", v.Name)),
            ...objects.container.map((c) => inspectObject("container", c.Id)),
            ...objects.container.map((c) => inspectObject("container", c.Name.slice(1))),
        ];
        const found = await Promise.all(reads);
        expect(found.every((o) => o !== undefined)).toBe(true);
        expect((await inspectObject("container", "p2-dind"))?.State?.StartedAt).toBe("2026-11-23T10:02:00Z");
        expect(
            calls()
                .map((c) => c.split(" ").slice(0, 2).join(" "))
                .sort(),
        ).toEqual(["container inspect", "container ls", "network inspect", "network ls", "volume inspect", "volume ls"]);
        expect(calls().find((c) => c.startsWith("container ls"))).toContain("--filter label=dind-compose.stack");
    });

    it("an object the snapshot lacks is asked for directly: gone means undefined", async () => {
        await inspectObject("volume", "p1-data");
        const before = calls().length;
        expect(await inspectObject("volume", "removed-by-hand")).toBeUndefined();
        expect(calls().slice(before)).toEqual(["volume inspect removed-by-hand"]);
    });

    it("reads during a create, update or delete go to the engine; after it, a new snapshot is taken", async () => {
        await inspectObject("network", "p1");
        const afterFirst = calls().length;
        await mutating(async () => {
            setObjects({ ...objects, network: objects.network.filter((n) => n.Name !== "p1") });
            expect(await inspectObject("network", "p1")).toBeUndefined();
        });
        expect(calls().slice(afterFirst)).toEqual(["network inspect p1"]);
        expect(await inspectObject("network", "p1")).toBeUndefined(); // not the old snapshot's answer
        expect(
            calls()
                .slice(afterFirst + 1)
                .filter((c) => c.includes(" ls ")).length,
        ).toBe(3);
    });

    it("a snapshot older than 5 s is taken again", async () => {
        await inspectObject("network", "p1");
        const start = Date.now();
        vi.spyOn(Date, "now").mockReturnValue(start + 6000);
        const before = calls().length;
        await inspectObject("network", "p1");
        expect(
            calls()
                .slice(before)
                .filter((c) => c.includes(" ls ")).length,
        ).toBe(3);
    });

    it("a snapshot that failed (an object vanished between list and inspect) is not kept; reads still answer", async () => {
        // volume ls lists a name that volume inspect does not know
        fs.writeFileSync(
            path.join(dir, "docker"),
            FAKE_DOCKER.replace(
                "for (const o of objects[kind]) process.stdout.write",
                'if (kind === "volume") process.stdout.write("vanished\\\\n");\n    for (const o of objects[kind]) process.stdout.write',
            ),
            { mode: 0o755 },
        );
        expect(await inspectObject("volume", "p1-data")).toEqual({ Name: "p1-data" });
        expect(calls()).toContain("volume inspect p1-data"); // asked directly
        await inspectObject("volume", "p2-data");
        expect(calls().filter((c) => c.startsWith("volume ls")).length).toBe(2); // no snapshot was kept
    });
});
