// Trusted HTTPS (issue 15), for real: the user CA of a temporary caDir signs the gateway's
// certificate; `npm run trust` puts it into the system store and into a fresh NSS database (a
// temporary HOME), after which headless Chromium opens every HTTPS URL of the stack without
// ignoring certificate errors and curl gets 200 with the system store; a child of project a calls
// https://b.project.localhost/ with verification on; the CA signs nothing outside its domain;
// a new route hostname re-signs the certificate in place; destroy and up keep the CA;
// `npm run untrust` leaves no trace. Screenshots are kept in test-artifacts/.
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { type Browser, type Page, type Request, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, docker, freePort, launchChromium, REPO_DIR, StackConfig, TestStack } from "./harness";

const ARTIFACTS = path.join(REPO_DIR, "test-artifacts");
const PYTHON = "dind-compose/python:3-trixie";

/** Project a: a Python service (a client with verification on, and a page of its own). */
function writeProjectA(dir: string): string {
    fs.mkdirSync(path.join(dir, "srv"), { recursive: true });
    fs.writeFileSync(path.join(dir, "srv", "index.html"), '<!doctype html><title>A</title><h1 id="title">Project A (Python)</h1>\n');
    fs.writeFileSync(
        path.join(dir, "compose.yaml"),
        `services:
  web:
    image: ${PYTHON}
    command: ["python3", "-m", "http.server", "8000", "--directory", "/srv"]
    init: true
    ports: ["8000:8000"]
    volumes: ["./srv:/srv:ro"]
`,
    );
    return dir;
}

/** curl with the system store only (no --cacert, no variable pointing elsewhere): the HTTP status, or curl's exit code and error. */
function curlSystemStore(port: number, hostname: string): string {
    const env = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !["CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"].includes(k)),
    );
    const r = spawnSync(
        "curl",
        [
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            "--resolve",
            `${hostname}:${port}:127.0.0.1`,
            `https://${hostname}:${port}/`,
        ],
        { encoding: "utf8", env },
    );
    return r.status === 0 ? r.stdout : `curl exit ${r.status}: ${r.stderr.trim()}`;
}

const fingerprint = (pem: string): string => new crypto.X509Certificate(pem).fingerprint256;

/**
 * page.goto, again when Chromium gave up because the host's interfaces changed (other stacks on
 * the engine create and remove networks meanwhile): ERR_NETWORK_CHANGED says nothing of the page.
 * Chromium reports it on the failed request; goto may say only that the navigation was
 * interrupted by its error page, so the request's own error is read and named in what is thrown.
 */
async function open(page: Page, url: string): Promise<Response | null> {
    for (let attempt = 1; ; attempt++) {
        let netError = "";
        const onFailed = (request: Request): void => {
            if (request.isNavigationRequest()) netError = request.failure()?.errorText ?? "";
        };
        page.on("requestfailed", onFailed);
        try {
            return await page.goto(url);
        } catch (e) {
            if (attempt >= 3 || !/ERR_NETWORK_CHANGED/.test(`${String(e)} ${netError}`))
                throw new Error(`${String(e)}\n(the navigation request failed with: ${netError || "no network error"})`, { cause: e });
        } finally {
            page.off("requestfailed", onFailed);
        }
    }
}

describe("trusted HTTPS with the user CA (issue 15)", () => {
    const stack = new TestStack("https");
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-home-"));
    const nssdb = path.join(home, ".pki", "nssdb");
    let config: StackConfig;
    let port = 0;
    let httpsPort = 0;
    let caPem = "";
    let trustName = "";

    /** npm run trust / untrust for this stack's CA, into the temporary HOME's NSS database and the system store. */
    const trustScript = async (action: "trust" | "untrust") => {
        const r = await stack.run("node", ["scripts/trust.js", action], { env: { HOME: home } });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        return r.stdout;
    };
    const launch = (extraArgs: string[] = []): Promise<Browser> =>
        // Chromium reads the NSS database of the temporary home. No --ignore-certificate-errors*.
        launchChromium(home, extraArgs);
    const nssNames = (): string =>
        fs.existsSync(path.join(nssdb, "cert9.db")) ? execFileSync("certutil", ["-L", "-d", `sql:${nssdb}`], { encoding: "utf8" }) : "";

    beforeAll(async () => {
        port = await freePort();
        httpsPort = await freePort();
        config = {
            projects: [
                { name: "a", path: writeProjectA(path.join(stack.workDir, "project-a")), preloadImages: [PYTHON] },
                {
                    name: "b",
                    path: copyExample("project-b", stack.workDir),
                    preloadImages: ["dind-compose/busybox:trixie"],
                    trustCa: false,
                },
            ],
            gateway: { httpPort: port, httpsPort },
        };
        await stack.init(config);
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).toMatch(/made a new CA in .*permits project\.localhost only.*npm run trust/);
        caPem = fs.readFileSync(path.join(stack.caDir, "ca.pem"), "utf8");
        fs.mkdirSync(ARTIFACTS, { recursive: true });
    });
    afterAll(async () => {
        // Whatever a failed test left: untrust is idempotent.
        await stack.run("node", ["scripts/trust.js", "untrust"], { env: { HOME: home } });
        await stack.cleanup();
        fs.rmSync(home, { recursive: true, force: true });
        expect(await stack.leftovers()).toEqual([]);
    });

    it("the CA is outside the stack: key 0600 in a 0700 directory, not in the state", async () => {
        expect(fs.statSync(stack.caDir).mode & 0o777).toBe(0o700);
        expect(fs.statSync(path.join(stack.caDir, "ca-key.pem")).mode & 0o777).toBe(0o600);
        const outputs = await stack.outputs();
        expect(outputs.caCertificate).toBe(caPem);
        expect(outputs.caFile).toBe(path.join(stack.caDir, "ca.pem"));
        const key = fs.readFileSync(path.join(stack.caDir, "ca-key.pem"), "utf8").split("\n")[1];
        const state = (await stack.pulumiOk("stack", "export", "--show-secrets")).stdout;
        expect(state).not.toContain(key);
        expect(state).not.toMatch(/"caKey"/);
    });

    it("before npm run trust, Chromium and curl refuse the certificate (nothing was trusted silently)", async () => {
        expect(curlSystemStore(httpsPort, "b.project.localhost")).toMatch(/^curl exit 60/);
        const browser = await launch();
        try {
            const page = await browser.newPage();
            await expect(open(page, `https://b.project.localhost:${httpsPort}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
        } finally {
            await browser.close();
        }
    });

    it("after npm run trust into a fresh NSS database, Chromium opens every HTTPS URL and curl gets 200 with the system store", async () => {
        expect(fs.existsSync(nssdb)).toBe(false);
        const out = await trustScript("trust");
        trustName = /Trusting (dind-compose-[0-9a-f]+)/.exec(out)?.[1] ?? "";
        expect(out).toMatch(/system store .*: trusted/);
        expect(out).toMatch(/NSS database .*\.pki\/nssdb .*: trusted/);
        expect(nssNames()).toContain(trustName);
        expect(fs.readFileSync(`/usr/local/share/ca-certificates/${trustName}.crt`, "utf8")).toBe(caPem);

        const outputs = await stack.outputs();
        const urls = [...Object.values(outputs.httpsUrls as Record<string, string>), `https://project.localhost:${httpsPort}/`];
        expect(urls).toHaveLength(3);
        const browser = await launch();
        try {
            for (const url of urls) {
                const page = await browser.newPage();
                const response = await open(page, url);
                expect(response?.status(), url).toBe(200);
                expect(await page.locator("h1").first().textContent(), url).toBeTruthy();
                await page.screenshot({ path: path.join(ARTIFACTS, `trusted-${new URL(url).hostname}.png`) });
                await page.close();
            }
        } finally {
            await browser.close();
        }
        expect(curlSystemStore(httpsPort, "a.project.localhost")).toBe("200");
        expect(curlSystemStore(httpsPort, "b.project.localhost")).toBe("200");
    });

    it("a child of project a calls https://b.project.localhost/ with verification on; without the CA it fails; b opted out", async () => {
        const daemons = (await stack.outputs()).daemons as Record<string, string>;
        const fetch = "import urllib.request; print(urllib.request.urlopen('https://b.project.localhost/', timeout=10).read().decode())";
        const child = await stack.run("docker", ["exec", daemons.a, "docker", "exec", "a-web-1", "python3", "-c", fetch]);
        expect(child.code, child.stderr).toBe(0);
        expect(child.stdout).toContain("Project B");
        // The same call without the bundle: Python verifies, and knows no CA that signed the gateway.
        const without = await stack.run("docker", [
            "exec",
            daemons.a,
            "docker",
            "exec",
            "a-web-1",
            "env",
            "-u",
            "SSL_CERT_FILE",
            "python3",
            "-c",
            fetch,
        ]);
        expect(without.code).not.toBe(0);
        expect(without.stderr).toMatch(/CERTIFICATE_VERIFY_FAILED/);
        const envA = await stack.run("docker", ["exec", daemons.a, "docker", "exec", "a-web-1", "env"]);
        expect(envA.stdout).toContain("SSL_CERT_FILE=/etc/dind-compose/ca/bundle.pem");
        expect(envA.stdout).toContain("NODE_EXTRA_CA_CERTS=/etc/dind-compose/ca/ca.pem");
        // The bundle keeps the machine's public roots besides the CA.
        const bundle = await stack.run("docker", [
            "exec",
            daemons.a,
            "docker",
            "exec",
            "a-web-1",
            "cat",
            "/etc/dind-compose/ca/bundle.pem",
        ]);
        expect((bundle.stdout.match(/BEGIN CERTIFICATE/g) ?? []).length).toBeGreaterThan(10);
        expect(bundle.stdout).toContain(caPem.trim());
        const envB = await stack.run("docker", ["exec", daemons.b, "docker", "exec", "b-web-1", "env"]);
        expect(envB.code).toBe(0);
        expect(envB.stdout).not.toContain("SSL_CERT_FILE");
    });

    it("a certificate for example.com signed with the CA's key fails openssl verify, and Chromium, which trusts the CA, refuses it", async () => {
        const work = fs.mkdtempSync(path.join(stack.workDir, "leaf-"));
        const at = (f: string) => path.join(work, f);
        execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", at("k.pem")]);
        execFileSync("openssl", ["req", "-new", "-key", at("k.pem"), "-subj", "/CN=example.com", "-out", at("r.csr")]);
        fs.writeFileSync(at("e.cnf"), "subjectAltName=DNS:example.com\nbasicConstraints=CA:FALSE\n");
        execFileSync(
            "openssl",
            [
                "x509",
                "-req",
                "-in",
                at("r.csr"),
                "-CA",
                path.join(stack.caDir, "ca.pem"),
                "-CAkey",
                path.join(stack.caDir, "ca-key.pem"),
                "-days",
                "30",
                "-extfile",
                at("e.cnf"),
                "-out",
                at("c.pem"),
            ],
            { stdio: "ignore" },
        );
        const verify = spawnSync("openssl", ["verify", "-CAfile", path.join(stack.caDir, "ca.pem"), at("c.pem")], { encoding: "utf8" });
        expect(verify.status).not.toBe(0);
        expect(verify.stdout + verify.stderr).toMatch(/permitted subtree violation/);
        // Trusted system-wide, it still fails there.
        const system = spawnSync("openssl", ["verify", "-CApath", "/etc/ssl/certs", at("c.pem")], { encoding: "utf8" });
        expect(system.status).not.toBe(0);
        // The same certificate served to Chromium for example.com (mapped to this machine).
        const server = https.createServer({ key: fs.readFileSync(at("k.pem")), cert: fs.readFileSync(at("c.pem")) }, (_req, res) =>
            res.end("<h1>not yours</h1>"),
        );
        const serverPort = await freePort();
        await new Promise<void>((resolve) => server.listen(serverPort, "127.0.0.1", resolve));
        const browser = await launch(["--host-resolver-rules=MAP example.com 127.0.0.1"]);
        try {
            const page = await browser.newPage();
            await expect(open(page, `https://example.com:${serverPort}/`)).rejects.toThrow(/ERR_CERT_INVALID/);
        } finally {
            await browser.close();
            server.close();
        }
    });

    it("a new route hostname re-signs the gateway's certificate in place (same container), and it is trusted at once", async () => {
        const gateway = String((await stack.outputs()).gateway);
        const before = await docker("inspect", "--format", "{{.Id}}", gateway);
        config = {
            ...config,
            projects: [
                { ...config.projects[0], routes: [{ service: "web", port: 8000, hostname: "files.a.project.localhost" }] },
                config.projects[1],
            ],
        };
        stack.setConfig(config);
        const preview = await stack.pulumiOk("preview", "--diff");
        expect(preview.stdout).toMatch(/env-certificate/);
        expect(preview.stdout).not.toMatch(/\+- .*env-gateway-nginx/);
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(await docker("inspect", "--format", "{{.Id}}", gateway)).toBe(before);
        expect(curlSystemStore(httpsPort, "files.a.project.localhost")).toBe("200");
        const browser = await launch();
        try {
            const page = await browser.newPage();
            expect((await open(page, `https://files.a.project.localhost:${httpsPort}/`))?.status()).toBe(200);
            await page.screenshot({ path: path.join(ARTIFACTS, "trusted-files.a.project.localhost.png") });
        } finally {
            await browser.close();
        }
    });

    it("destroy and a new up keep the same CA: same fingerprint, still trusted", async () => {
        await stack.pulumiOk("destroy", "--yes", "--skip-preview");
        expect(await stack.leftovers()).toEqual([]);
        expect(fingerprint(fs.readFileSync(path.join(stack.caDir, "ca.pem"), "utf8"))).toBe(fingerprint(caPem));
        const up = await stack.pulumiOk("up", "--yes", "--skip-preview");
        expect(up.stdout).not.toMatch(/made a new CA|re-issued/);
        expect(fingerprint(String((await stack.outputs()).caCertificate))).toBe(fingerprint(caPem));
        expect(curlSystemStore(httpsPort, "b.project.localhost")).toBe("200");
    });

    it("npm run untrust leaves no trace in the system store or the NSS database", async () => {
        const out = await trustScript("untrust");
        expect(out).toMatch(/system store .*: removed/);
        expect(nssNames()).not.toContain(trustName);
        expect(fs.existsSync(`/usr/local/share/ca-certificates/${trustName}.crt`)).toBe(false);
        const links = fs.readdirSync("/etc/ssl/certs").filter((f) => {
            const full = path.join("/etc/ssl/certs", f);
            return f.includes(trustName) || (fs.lstatSync(full).isSymbolicLink() && fs.readlinkSync(full).includes(trustName));
        });
        expect(links).toEqual([]);
        const body = caPem.split("\n").slice(1, -2).join("\n");
        expect(fs.readFileSync("/etc/ssl/certs/ca-certificates.crt", "utf8")).not.toContain(body);
        expect(curlSystemStore(httpsPort, "b.project.localhost")).toMatch(/^curl exit 60/);
    });
});
