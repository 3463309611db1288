import { describe, expect, it } from "vitest";
import { GATEWAY_UPSTREAMS_DIR, renderNginxConf, Route, upstreamName, upstreamServerLine } from "../../components/gatewayConfig";
import { upstreamFiles, writtenAddresses } from "../../components/providers/gatewayUpstreams";

const routes: Route[] = [
    { key: "b", project: "b", hostname: "b.project.localhost", upstreamHost: "dc-dev-b-dind", upstreamPort: 80 },
    { key: "a", project: "a", hostname: "a.project.localhost", upstreamHost: "dc-dev-a-dind", upstreamPort: 3000 },
];
const conf = renderNginxConf({ domain: "project.localhost", routes, httpPort: 80, indexRoot: "/srv/index" });

/** The text of the server block that answers for `name`. */
function serverBlock(text: string, name: string): string {
    const start = text.indexOf(`server_name ${name};`);
    expect(start, `no server block for ${name}`).toBeGreaterThan(-1);
    return text.slice(start, text.indexOf("\n    }\n", start));
}

describe("renderNginxConf", () => {
    it.each(routes)(
        "routes $hostname to its project's upstream block, and by name ($upstreamHost:$upstreamPort, resolved at request time) when that fails",
        (r) => {
            const block = serverBlock(conf, r.hostname);
            expect(block).toContain(`proxy_pass http://${upstreamName(r.project)};`);
            expect(block).toContain("error_page 502 504 = @by_name;");
            const byName = block.slice(block.indexOf("location @by_name"));
            expect(byName).toContain(`set $upstream ${r.upstreamHost}:${r.upstreamPort};`);
            expect(byName).toContain("proxy_pass http://$upstream;");
            expect(block).toMatch(
                new RegExp(`return 502 "project ${r.project} \\(${r.hostname.replace(/\./g, "\\.")}\\) is not answering`),
            );
        },
    );

    it("falls back by name only for a request that reached no upstream, so none is sent twice", () => {
        const byName = serverBlock(conf, "a.project.localhost").split("location @by_name")[1];
        expect(byName).toMatch(/if \(\$upstream_connect_time ~ \[0-9\]\) \{ return 502 "project a /);
    });

    it("lets a failed fallback reach the page naming the project (recursive_error_pages where the first error_page is taken)", () => {
        const root = serverBlock(conf, "a.project.localhost").split("location /")[0];
        expect(root).toContain("recursive_error_pages on;");
    });

    it("serves a request that came back to the gateway itself (a stale address that is now its own) by name, not in a loop", () => {
        const root = serverBlock(conf, "a.project.localhost").split("location @by_name")[0];
        expect(root).toContain("if ($remote_addr = $server_addr) { return 418; }");
        expect(root).toContain("error_page 418 = @by_name;");
    });

    it.each(routes)(
        "gives $project an upstream block with a keepalive pool, its address included from its own directory, valid without it",
        (r) => {
            const start = conf.indexOf(`upstream ${upstreamName(r.project)} {`);
            expect(start).toBeGreaterThan(-1);
            const block = conf.slice(start, conf.indexOf("}", start));
            expect(block).toContain(`include ${GATEWAY_UPSTREAMS_DIR}/${r.project}/*.conf;`);
            expect(block).toContain("server 127.0.0.1:9 down;");
            expect(block).toMatch(/keepalive \d+;/);
        },
    );

    it("names no host in an upstream block (nginx would refuse to start while a name does not resolve), and resolves at request time through Docker's DNS", () => {
        for (const m of conf.matchAll(/^\s*server (\S+?)(:\d+)?( down)?;$/gm)) expect(m[1]).toBe("127.0.0.1");
        expect(conf).toContain("resolver 127.0.0.11");
    });

    it("upstream names carry no port, so the by-name proxy_pass (host:port) never picks a block", () => {
        expect(upstreamName("a")).not.toContain(":");
    });

    it("serves the index page at the bare domain and a 404 naming the known hosts elsewhere", () => {
        expect(serverBlock(conf, "project.localhost")).toContain("root /srv/index;");
        expect(conf).toContain("known: a.project.localhost, b.project.localhost");
    });

    it("is deterministic: route order does not change the output", () => {
        const reversed = renderNginxConf({
            domain: "project.localhost",
            routes: [...routes].reverse(),
            httpPort: 80,
            indexRoot: "/srv/index",
        });
        expect(reversed).toBe(conf);
    });

    it("renders a gateway with no routes that still answers", () => {
        const empty = renderNginxConf({ domain: "d", routes: [], httpPort: 80, indexRoot: "/x" });
        expect(empty).toContain("known: (none)");
        expect(empty).not.toContain("set $upstream");
        expect(empty).not.toMatch(/^\s*upstream\s/m);
    });
});

describe("upstream address files", () => {
    it("writes one server line per project with an address, none for a project without", () => {
        const targets = [
            { project: "a", daemonId: "id-a", network: "dc-a", port: 3000 },
            { project: "b", daemonId: "id-b", network: "dc-b", port: 80 },
        ];
        expect(upstreamFiles(targets, { a: "172.20.0.2", b: "" })).toEqual([
            { path: `${GATEWAY_UPSTREAMS_DIR}/a/address.conf`, content: "server 172.20.0.2:3000;\n" },
        ]);
    });

    it("reads back what the gateway has: an address per project, none for a missing file or another port", () => {
        const targets = ["a", "b", "c"].map((project) => ({ project, daemonId: `id-${project}`, network: `dc-${project}`, port: 80 }));
        const listing = "a server 172.20.0.2:80;\nc server 172.22.0.3:3000;\n";
        expect(writtenAddresses(targets, listing)).toEqual({ a: "172.20.0.2", b: "", c: "" });
        expect(writtenAddresses(targets, "")).toEqual({ a: "", b: "", c: "" });
    });

    it.each([
        ["172.20.0.2; include /etc/passwd", 80, /not an IPv4 address/],
        ["dc-a-dind", 80, /not an IPv4 address/],
        ["172.20.0.2", 0, /not a port/],
        ["172.20.0.2", 70000, /not a port/],
    ])("refuses %j port %j: the text goes into nginx's config", (address, port, message) => {
        expect(() => upstreamServerLine(address as string, port as number)).toThrow(message);
    });
});
