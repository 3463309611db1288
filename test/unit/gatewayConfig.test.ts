import { describe, expect, it } from "vitest";
import { renderNginxConf, Route } from "../../components/gatewayConfig";

const routes: Route[] = [
    { project: "b", hostname: "b.project.localhost", upstreamHost: "dc-dev-b-dind", upstreamPort: 80 },
    { project: "a", hostname: "a.project.localhost", upstreamHost: "dc-dev-a-dind", upstreamPort: 3000 },
];
const conf = renderNginxConf({ domain: "project.localhost", routes, httpPort: 80, indexRoot: "/srv/index" });

/** The text of the server block that answers for `name`. */
function serverBlock(text: string, name: string): string {
    const start = text.indexOf(`server_name ${name};`);
    expect(start, `no server block for ${name}`).toBeGreaterThan(-1);
    return text.slice(start, text.indexOf("\n    }\n", start));
}

describe("renderNginxConf", () => {
    it.each(routes)("routes $hostname to $upstreamHost:$upstreamPort, resolved at request time", (r) => {
        const block = serverBlock(conf, r.hostname);
        expect(block).toContain(`set $upstream ${r.upstreamHost}:${r.upstreamPort};`);
        expect(block).toContain("proxy_pass http://$upstream;");
        expect(block).toMatch(new RegExp(`return 502 "project ${r.project} \\(${r.hostname.replace(/\./g, "\\.")}\\) is not answering`));
    });

    it("resolves names through Docker's embedded DNS so a missing upstream cannot stop nginx", () => {
        expect(conf).toContain("resolver 127.0.0.11");
        expect(conf).not.toMatch(/^\s*upstream\s/m);
    });

    it("serves the index page at the bare domain and a 404 naming the known hosts elsewhere", () => {
        expect(serverBlock(conf, "project.localhost")).toContain("root /srv/index;");
        expect(conf).toContain("known: a.project.localhost, b.project.localhost");
    });

    it("is deterministic: route order does not change the output", () => {
        const reversed = renderNginxConf({ domain: "project.localhost", routes: [...routes].reverse(), httpPort: 80, indexRoot: "/srv/index" });
        expect(reversed).toBe(conf);
    });

    it("renders a gateway with no routes that still answers", () => {
        const empty = renderNginxConf({ domain: "d", routes: [], httpPort: 80, indexRoot: "/x" });
        expect(empty).toContain("known: (none)");
        expect(empty).not.toContain("set $upstream");
    });
});
