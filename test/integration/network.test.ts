// Issue 7, for real: projects call each other by the hostnames users type
// (http://<project>.<domain>/ resolves, inside every child container, to the
// gateway's address on that project's own network: through Docker's DNS, where
// the gateway carries the hostnames as aliases, and through /etc/hosts for a
// service on the inner default bridge), and are otherwise apart: one Docker
// network per project, so a child of one project cannot reach another
// project's dind container (TLS port or inner published ports).
// Then a third project is added: preview says what moves, up makes its
// hostname reachable from the existing projects without recreating their
// children.
import * as fs from "fs";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
    CliResult,
    copyExample,
    docker,
    freePort,
    httpGet,
    REPO_DIR,
    runCommand,
    StackConfig,
    STAND_IN_IMAGES,
    TestStack,
} from "./harness";

const IMAGE = STAND_IN_IMAGES.busybox;
const TITLE = (p: string) => `<h1 id="title">Project ${p}</h1>`;

/**
 * The resources that `pulumi preview --diff` (plain text, --color never) shows as changing:
 * resource name -> operation, and the top-level input fields marked as changed (`~ field`).
 */
function previewChanges(out: string): Record<string, { op: string; changed?: string[] }> {
    const lines = out.split("\n");
    const result: Record<string, { op: string; changed?: string[] }> = {};
    for (let i = 0; i < lines.length; i++) {
        const header = /^(\s*)(\+-|[+~-])\s?[\w:/.$-]+: \(([\w-]+)\)$/.exec(lines[i]);
        if (!header) continue;
        const urn = lines
            .slice(i + 1, i + 3)
            .map((l) => /\[urn=.*::([^:\]]+)\]/.exec(l)?.[1])
            .find(Boolean);
        if (!urn) continue;
        const fieldIndent = header[1].length + 2;
        const changed: string[] = [];
        for (let j = i + 1; j < lines.length; j++) {
            const l = lines[j];
            if (/^\s*(\+-|[+~-])\s?[\w:/.$-]+: \([\w-]+\)$/.test(l) || /^\S/.test(l) || /^\s*--outputs:--/.test(l)) break;
            const field = /^(\s*)[~+-] (\w+)\s*:/.exec(l);
            if (field && field[1].length === fieldIndent) changed.push(field[2]);
        }
        result[urn] = header[3] === "create" ? { op: "create" } : { op: header[3], changed: [...new Set(changed)].sort() };
    }
    return result;
}

describe("projects call each other by hostname through the gateway, and are otherwise isolated (issue 7)", () => {
    const stack = new TestStack("net");
    let config: StackConfig;
    let port = 0;
    let daemons: Record<string, string> = {};
    let gateway = "";

    /** Runs `sh -c script` in the child container `<project>-<service>-1`, inside the project's daemon; never throws. */
    const inChild = (project: string, script: string, service = "web"): Promise<CliResult> =>
        runCommand("docker", ["exec", daemons[project], "docker", "exec", `${project}-${service}-1`, "sh", "-c", script]);
    /** The address `name` resolves to in a child (libc resolver: /etc/hosts, then DNS), or "-". */
    const resolveIn = async (project: string, name: string, service = "web"): Promise<string> => {
        const r = await inChild(project, `ping -c 1 -W 1 ${name} 2>&1 | head -n 1`, service);
        return /^PING [^ ]+ \(([^)]*)\)/.exec(r.stdout)?.[1] ?? "-";
    };

    /** Network name -> the container's IPv4 address on it. */
    const ipsOf = async (container: string): Promise<Record<string, string>> => {
        const nets = JSON.parse(await docker("inspect", container, "--format", "{{json .NetworkSettings.Networks}}")) as Record<
            string,
            { IPAddress: string }
        >;
        return Object.fromEntries(Object.entries(nets).map(([n, s]) => [n, s.IPAddress]));
    };
    /** The project's network: the only one its dind container joined. */
    const networkOf = async (project: string): Promise<{ name: string; daemonIp: string }> => {
        const ips = await ipsOf(daemons[project]);
        const names = Object.keys(ips);
        expect(names, `${daemons[project]} should be on exactly one network`).toHaveLength(1);
        return { name: names[0], daemonIp: ips[names[0]] };
    };
    const containerId = (name: string) => docker("inspect", name, "--format", "{{.Id}}");
    const innerId = (project: string, service = "web") =>
        docker("exec", daemons[project], "docker", "inspect", `${project}-${service}-1`, "--format", "{{.Id}}");
    /** b has one more service, on its inner daemon's default bridge, where Docker's embedded DNS does not answer. */
    const BRIDGE_SERVICE = [
        "services:",
        "  legacy:",
        `    image: ${IMAGE}`,
        "    network_mode: bridge",
        "    init: true",
        '    command: ["sleep", "86400"]',
        "",
    ].join("\n");

    beforeAll(async () => {
        port = await freePort();
        const bDir = copyExample("project-b", stack.workDir);
        fs.writeFileSync(path.join(bDir, "compose.bridge.yaml"), BRIDGE_SERVICE);
        // trustCa: false: this file is about names (DNS, extra_hosts); with the user CA every service
        // gets an override entry too (trustedHttps.test.ts), which the override assertions here leave out.
        config = {
            projects: [
                { name: "a", path: copyExample("project-a", stack.workDir), preloadImages: [IMAGE], trustCa: false },
                { name: "b", path: bDir, composeFiles: ["compose.yaml", "compose.bridge.yaml"], preloadImages: [IMAGE], trustCa: false },
            ],
            gateway: { httpPort: port, httpsPort: await freePort() },
            dind: { security: "capabilities" },
        };
        await stack.init(config);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        const outputs = await stack.outputs();
        daemons = outputs.daemons as Record<string, string>;
        gateway = outputs.gateway as string;
    });
    afterAll(async () => {
        await stack.cleanup();
        expect(await stack.leftovers()).toEqual([]);
    });

    it("each project is on its own network, joined by its dind container and the gateway only", async () => {
        const a = await networkOf("a");
        const b = await networkOf("b");
        expect(a.name).not.toBe(b.name);
        const gw = await ipsOf(gateway);
        // The gateway's own network (its first: project networks are joined and left in place) and every project's.
        expect(Object.keys(gw).sort()).toEqual([a.name, b.name, `${a.name.slice(0, -2)}-gateway-net`].sort());
        for (const net of [a.name, b.name]) {
            const members = JSON.parse(await docker("network", "inspect", net, "--format", "{{json .Containers}}")) as Record<
                string,
                { Name: string }
            >;
            const project = net === a.name ? "a" : "b";
            expect(
                Object.values(members)
                    .map((m) => m.Name)
                    .sort(),
            ).toEqual([daemons[project], gateway].sort());
        }
    });

    it("a child of a gets b's page at http://b.project.localhost/, and a child of b gets a's page at http://a.project.localhost/", async () => {
        const aToB = await inChild("a", "wget -qO- -T 5 http://b.project.localhost/");
        expect(aToB.code, aToB.stderr).toBe(0);
        expect(aToB.stdout).toContain(TITLE("B"));
        const bToA = await inChild("b", "wget -qO- -T 5 http://a.project.localhost/");
        expect(bToA.code, bToA.stderr).toBe(0);
        expect(bToA.stdout).toContain(TITLE("A"));
        // The names point at the gateway's address on the caller's own network, through DNS: /etc/hosts
        // does not have them (a's compose files get no override at all).
        const gw = await ipsOf(gateway);
        for (const project of ["a", "b"]) {
            const gwIp = gw[(await networkOf(project)).name];
            for (const h of ["a.project.localhost", "b.project.localhost", "project.localhost"])
                expect(await resolveIn(project, h), `${h} in ${project}-web-1`).toBe(gwIp);
            expect((await inChild(project, "cat /etc/hosts")).stdout).not.toContain("project.localhost");
        }
        expect((await stack.outputs()).compose).toMatchObject({ a: { override: "" } });
    });

    it("a service on the inner default bridge (network_mode: bridge, no embedded DNS) gets the hostnames in /etc/hosts, and reaches a", async () => {
        const gwOnB = (await ipsOf(gateway))[(await networkOf("b")).name];
        const hosts = (await inChild("b", "cat /etc/hosts", "legacy")).stdout;
        for (const h of ["a", "b"])
            expect(hosts).toMatch(new RegExp(`^${gwOnB.replace(/\./g, "\\.")}\\s+${h}\\.project\\.localhost$`, "m"));
        const r = await inChild("b", "wget -qO- -T 5 http://a.project.localhost/", "legacy");
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(TITLE("A"));
        // The override names that service only: b's web resolves through DNS.
        const override = String(((await stack.outputs()).compose as Record<string, { override: string }>).b.override);
        expect(override).toContain("legacy:");
        expect(override).not.toContain("web:");
    });

    it("a's page shows b's content, fetched by a's container by name: GET a.project.localhost/cgi-bin/from-b through the gateway", async () => {
        const r = await httpGet(port, "a.project.localhost", "/cgi-bin/from-b");
        expect(r.status).toBe(200);
        expect(r.body).toContain(TITLE("B"));
    });

    it("a child of a cannot reach b's dind container by IP (TLS port 2376, inner published port 80); the same tools reach the gateway and a's own daemon", async () => {
        const a = await networkOf("a");
        const b = await networkOf("b");
        const gw = await ipsOf(gateway);
        const gwOnA = gw[a.name];
        const gwOnB = gw[b.name];

        // Positive controls: the tools work, and what is on a's network answers.
        const ncGateway = await inChild("a", `nc -w 3 ${gwOnA} 80 </dev/null`);
        expect(ncGateway.code, `nc to the gateway on a's network: ${ncGateway.stderr}`).toBe(0);
        const wgetGateway = await inChild("a", `wget -qO- -T 3 --header 'Host: b.project.localhost' http://${gwOnA}/`);
        expect(wgetGateway.code, wgetGateway.stderr).toBe(0);
        expect(wgetGateway.stdout).toContain(TITLE("B"));
        const ncOwnDaemon = await inChild("a", `nc -w 3 ${a.daemonIp} 2376 </dev/null`);
        expect(ncOwnDaemon.code, `nc to a's own daemon TLS port: ${ncOwnDaemon.stderr}`).toBe(0);
        const wgetOwnPort = await inChild("a", `wget -qO- -T 3 http://${a.daemonIp}:3000/`);
        expect(wgetOwnPort.code, wgetOwnPort.stderr).toBe(0);
        expect(wgetOwnPort.stdout).toContain(TITLE("A"));

        // b's dind container, by IP: neither its TLS port nor its inner published port.
        const tls = await inChild("a", `nc -w 3 ${b.daemonIp} 2376 </dev/null`);
        expect(tls.code, `nc ${b.daemonIp} 2376 from a child of a should fail`).not.toBe(0);
        const published = await inChild("a", `wget -qO- -T 3 http://${b.daemonIp}:80/`);
        expect(published.code, `wget http://${b.daemonIp}:80/ from a child of a should fail`).not.toBe(0);
        expect(published.stdout).not.toContain(TITLE("B"));
        const publishedNc = await inChild("a", `nc -w 3 ${b.daemonIp} 80 </dev/null`);
        expect(publishedNc.code).not.toBe(0);
        // Nor the gateway through its address on b's network: b's network is b's.
        const gwOtherSide = await inChild("a", `nc -w 3 ${gwOnB} 80 </dev/null`);
        expect(gwOtherSide.code, `nc ${gwOnB} 80 (the gateway on b's network) from a child of a should fail`).not.toBe(0);
        console.log(`isolation: a child of a -> b dind ${b.daemonIp}:2376 [${tls.stderr.trim()}], :80 [${published.stderr.trim()}]`);
    });

    it("names resolve in a's service as in any container started through a's daemon on its network: project hostnames to the gateway, outer names not at all", async () => {
        // Resolution through the libc resolver (/etc/hosts, then DNS): busybox ping prints the address or "bad address".
        const names = [
            "web", // a's compose service, on a's inner network
            "a-web-1",
            "localhost",
            daemons.a, // outer names: never visible from inside an inner daemon
            "a",
            daemons.b,
            "b",
            gateway,
            "no-such-name.invalid",
        ];
        const hostnames = ["a.project.localhost", "b.project.localhost", "project.localhost"];
        const script = [...names, ...hostnames]
            .map(
                (n) =>
                    `r=$(ping -c 1 -W 1 ${n} 2>&1 | head -n 1); case "$r" in PING*) echo "${n} $(echo "$r" | sed -E 's/^PING [^ ]+ \\(([^)]*)\\).*/\\1/')";; *) echo "${n} -";; esac`,
            )
            .join("; ");
        const parse = (out: string) =>
            Object.fromEntries(
                out
                    .trim()
                    .split("\n")
                    .map((l) => l.split(" ") as [string, string]),
            );

        const inService = await inChild("a", script);
        expect(inService.code, inService.stderr).toBe(0);
        // A plain container on the same inner network, started through the daemon's API, not by compose.
        const network = (
            await docker(
                "exec",
                daemons.a,
                "docker",
                "inspect",
                "a-web-1",
                "--format",
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
            )
        ).trim();
        const plain = await runCommand("docker", [
            "exec",
            daemons.a,
            "docker",
            "run",
            "--rm",
            "--network",
            network,
            IMAGE,
            "sh",
            "-c",
            script,
        ]);
        expect(plain.code, plain.stderr).toBe(0);

        const got = parse(inService.stdout);
        const plainGot = parse(plain.stdout);
        console.log(`resolution in a-web-1: ${JSON.stringify(got)}\nin a plain container on ${network}: ${JSON.stringify(plainGot)}`);
        for (const n of [...names, ...hostnames]) expect(got[n], n).toBe(plainGot[n]);
        expect(got.web).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        expect(got.web).toBe(got["a-web-1"]);
        expect(got.localhost).toBe("127.0.0.1");
        // Docker's DNS does not forward single-label names out of an inner daemon: the outer container
        // names and aliases stay invisible, a's own included.
        for (const n of [daemons.a, "a", daemons.b, "b", gateway, "no-such-name.invalid"]) expect(got[n], n).toBe("-");
        // The project hostnames (with a dot) are forwarded to Docker's DNS on a's network: the gateway.
        const gwOnA = (await ipsOf(gateway))[(await networkOf("a")).name];
        for (const h of hostnames) expect(got[h], h).toBe(gwOnA);
    });

    it("adding project c: preview --diff names what changes, up makes c.project.localhost reachable from a and b", async () => {
        const cDir = path.join(stack.workDir, "project-c");
        fs.cpSync(path.join(REPO_DIR, "examples", "project-b"), cDir, { recursive: true });
        fs.writeFileSync(
            path.join(cDir, "html", "index.html"),
            `<!doctype html>\n<html><body>${TITLE("C")}<p>Hello from project C.</p></body></html>\n`,
        );

        const snapshot = async () => ({
            gateway: await containerId(gateway),
            dindA: await containerId(daemons.a),
            dindB: await containerId(daemons.b),
            webA: await innerId("a"),
            webB: await innerId("b"),
            legacyB: await innerId("b", "legacy"),
        });
        const before = await snapshot();

        config = { ...config, projects: [...config.projects, { name: "c", path: cDir, preloadImages: [IMAGE], trustCa: false }] };
        stack.setConfig(config);

        // ---- preview --diff: exactly which resources change, and how.
        const preview = await stack.pulumiOk("preview", "--diff");
        const changes = previewChanges(preview.stdout);
        console.log(`preview --diff (adding c): ${JSON.stringify(changes)}`);
        // c's resources are created.
        for (const r of ["env-c", "env-c-network", "env-c-certs", "env-c-data", "env-c-dind", "env-c-stack"])
            expect(changes[r]?.op, r).toBe("create");
        // The existing projects: a does not move at all (DNS gives its children c's name). b's stack moves
        // through its override only: its service on the default bridge gets c.project.localhost in /etc/hosts.
        // Their daemons, volumes and networks stay.
        expect(changes["env-b-stack"]).toEqual({ op: "update", changed: ["override"] });
        expect(
            Object.keys(changes)
                .filter((r) => /^env-[ab]-/.test(r))
                .sort(),
        ).toEqual(["env-b-stack"]);
        // The gateway gets c's route (files: nginx.conf, index page), joins c's network, and carries
        // c.project.localhost as an alias on a's and b's networks (networks).
        // In place: new nginx.conf + reload, `docker network connect` to c's network, and a leave and
        // join of a's and b's networks with the new aliases (the gateway's first network is its own, so
        // project networks come and go without a new container).
        // (secretFiles: the key of the certificate re-issued for c's hostname.)
        expect(changes["env-gateway-nginx"]).toEqual({ op: "update", changed: ["files", "networks", "secretFiles"] });
        // The gateway's upstream addresses get c's route (written once c's dind container exists).
        expect(changes["env-gateway-upstreams"]).toEqual({ op: "update", changed: ["targets"] });
        // Anything else may only be the gateway's TLS certificate, re-issued in place for the new hostname.
        const others = Object.keys(changes).filter((r) => !/^env-c(-|$)|^env-[ab]-stack$|^env-gateway-(nginx|upstreams)$/.test(r));
        for (const r of others) expect({ [r]: changes[r] }).toEqual({ [r]: { op: "update", changed: ["hostnames"] } });
        expect(preview.stdout).not.toMatch(/to replace/);
        expect(preview.stdout).not.toMatch(/to delete/);

        // ---- up, while a.project.localhost is polled from the host through the gateway (logged, not asserted:
        // the gateway leaves a's network for a moment, to join it again with c's name as an alias).
        let upDone = false;
        const started = Date.now();
        const poller = (async () => {
            const results: { at: number; ok: boolean }[] = [];
            while (!upDone) {
                const at = Date.now() - started;
                const ok = await httpGet(port, "a.project.localhost", "/", 2000).then(
                    (r) => r.status === 200 && r.body.includes(TITLE("A")),
                    () => false,
                );
                results.push({ at, ok });
                await new Promise((r) => setTimeout(r, 200));
            }
            return results;
        })();
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview").finally(() => (upDone = true));
        const polled = await poller;
        const outages: string[] = [];
        for (let i = 0; i < polled.length; i++) {
            if (polled[i].ok || (i > 0 && !polled[i - 1].ok)) continue;
            let j = i;
            while (j + 1 < polled.length && !polled[j + 1].ok) j++;
            const until = j + 1 < polled.length ? polled[j + 1].at : Date.now() - started;
            outages.push(`${((until - polled[i].at) / 1000).toFixed(1)} s from +${(polled[i].at / 1000).toFixed(1)} s`);
        }
        console.log(
            `up with c took ${up.seconds.toFixed(1)} s; a.project.localhost polled ${polled.length} times, unavailable: ${outages.join(", ") || "never"}`,
        );
        expect(up.stdout).not.toMatch(/env-a-stack/);
        expect(up.stdout).toMatch(/env-b-stack updated .*\[diff: ~override\]/);
        daemons = (await stack.outputs()).daemons as Record<string, string>;
        const after = await snapshot();

        // ---- c answers, by name, from the children of the existing projects (and c reaches them).
        for (const project of ["a", "b"]) {
            const r = await inChild(project, "wget -qO- -T 5 http://c.project.localhost/");
            expect(r.code, `${project} -> c: ${r.stderr}`).toBe(0);
            expect(r.stdout).toContain(TITLE("C"));
        }
        const cToA = await inChild("c", "wget -qO- -T 5 http://a.project.localhost/");
        expect(cToA.code, cToA.stderr).toBe(0);
        expect(cToA.stdout).toContain(TITLE("A"));
        expect((await httpGet(port, "c.project.localhost")).body).toContain(TITLE("C"));
        expect((await httpGet(port, "a.project.localhost", "/cgi-bin/from-b")).body).toContain(TITLE("B"));

        // Every child's hostnames point at the gateway's current address on its own network.
        const gw = await ipsOf(gateway);
        for (const project of ["a", "b", "c"]) {
            const gwIp = gw[(await networkOf(project)).name];
            expect(gwIp, `gateway on ${project}'s network`).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
            for (const h of ["a", "b", "c"])
                expect(await resolveIn(project, `${h}.project.localhost`), `${h}.project.localhost in ${project}-web-1`).toBe(gwIp);
        }
        const legacyHosts = (await inChild("b", "cat /etc/hosts", "legacy")).stdout;
        for (const h of ["a", "b", "c"])
            expect(legacyHosts).toMatch(
                new RegExp(`^${gw[(await networkOf("b")).name].replace(/\./g, "\\.")}\\s+${h}\\.project\\.localhost$`, "m"),
            );
        // c is as isolated as the others: a child of c cannot reach a's dind container.
        const cToDindA = await inChild("c", `nc -w 3 ${(await networkOf("a")).daemonIp} 2376 </dev/null`);
        expect(cToDindA.code).not.toBe(0);

        // What moved on the existing projects: their dind containers stay (inner daemons not restarted,
        // images and volumes untouched), and so do their web containers: they resolve c's name through
        // DNS. Only b's service on the default bridge is recreated: extra_hosts is fixed when a
        // container is created.
        expect(after.dindA).toBe(before.dindA);
        expect(after.dindB).toBe(before.dindB);
        expect(after.webA).toBe(before.webA);
        expect(after.webB).toBe(before.webB);
        expect(after.legacyB).not.toBe(before.legacyB);
        // And the gateway container is the same one: no dropped connections, no new address.
        expect(after.gateway).toBe(before.gateway);
    });

    it("a second preview after adding c shows no changes (the override is stable)", async () => {
        const preview = await stack.pulumiOk("preview", "--diff");
        expect(previewChanges(preview.stdout)).toEqual({});
        expect(preview.stdout).toMatch(/\d+ unchanged/);
    });
});
