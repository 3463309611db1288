// What a user sees, in a real browser: headless Chromium (Debian's package,
// driven by playwright-core) opens the projects and the index page through the
// gateway over HTTP and HTTPS. Chromium resolves *.localhost to this machine
// by itself. HTTPS is verified: the stack's user CA is in the NSS database of a
// temporary HOME, as `npm run trust` puts it there (trustedHttps.test.ts runs
// that command itself), and no certificate error is ignored. Screenshots are
// kept in test-artifacts/.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyExample, freePort, launchChromium, REPO_DIR, STAND_IN_IMAGES, TestStack } from "./harness";

const ARTIFACTS = path.join(REPO_DIR, "test-artifacts");

describe("in a real browser (headless Chromium)", () => {
    const stack = new TestStack("browser");
    let port = 0;
    let httpsPort = 0;
    let browser: Browser;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-browser-home-"));

    beforeAll(async () => {
        port = await freePort();
        httpsPort = await freePort();
        await stack.init({
            projects: [
                { name: "a", path: copyExample("project-a", stack.workDir), preloadImages: [STAND_IN_IMAGES.busybox] },
                { name: "b", path: copyExample("project-b", stack.workDir), preloadImages: [STAND_IN_IMAGES.busybox] },
                {
                    name: "runner",
                    path: copyExample("code-runner", stack.workDir),
                    preloadImages: [STAND_IN_IMAGES.python, STAND_IN_IMAGES.busybox],
                },
            ],
            gateway: { httpPort: port, httpsPort },
        });
        await stack.pulumiOk("up", "--yes", "--skip-preview");
        const caFile = String((await stack.outputs()).caFile);
        const nssdb = `sql:${path.join(home, ".pki", "nssdb")}`;
        fs.mkdirSync(path.join(home, ".pki", "nssdb"), { recursive: true });
        execFileSync("certutil", ["-d", nssdb, "-N", "--empty-password"]);
        execFileSync("certutil", ["-d", nssdb, "-A", "-t", "C,,", "-n", "dind-compose browser test", "-i", caFile]);
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        browser = await launchChromium(home);
    });
    afterAll(async () => {
        await browser?.close();
        await stack.cleanup();
        fs.rmSync(home, { recursive: true, force: true });
        expect(await stack.leftovers()).toEqual([]);
    });

    it("project a over HTTP shows its page and what its container fetched from project b by name", async () => {
        const page = await browser.newPage();
        await page.goto(`http://a.project.localhost:${port}/`);
        expect(await page.textContent("#title")).toBe("Project A");
        await expect.poll(() => page.textContent("#from-b"), { timeout: 15_000 }).toContain("Hello from project B.");
        await page.screenshot({ path: path.join(ARTIFACTS, "project-a.png") });
        await page.close();
    });

    it("project b over HTTPS, with the certificate the user CA issued, verified", async () => {
        const page = await browser.newPage();
        const response = await page.goto(`https://b.project.localhost:${httpsPort}/`);
        expect(response?.status()).toBe(200);
        expect(await page.textContent("#title")).toBe("Project B");
        await page.screenshot({ path: path.join(ARTIFACTS, "project-b-https.png") });
        await page.close();
    });

    it("the index page lists every project and shows them up", async () => {
        const page = await browser.newPage();
        await page.goto(`http://project.localhost:${port}/`);
        await expect.poll(() => page.locator("td.status.up").count(), { timeout: 15_000 }).toBe(3);
        const text = await page.textContent("table");
        expect(text).toContain(`http://a.project.localhost:${port}/`);
        expect(text).toContain(`http://b.project.localhost:${port}/`);
        await page.screenshot({ path: path.join(ARTIFACTS, "index.png") });
        await page.close();
    });

    it("the code runner: type a python snippet, run it, read its output and exit code (over HTTPS)", async () => {
        const page = await browser.newPage();
        await page.goto(`https://runner.project.localhost:${httpsPort}/`);
        expect(await page.textContent("#title")).toBe("Code runner");
        await page.selectOption("#language", "python");
        await page.fill("#code", "import sys\nprint(6 * 7)\nsys.exit(3)");
        await page.click("#run");
        await expect.poll(() => page.textContent("#exit-code"), { timeout: 20_000 }).toBe("3");
        expect(await page.textContent("#output")).toBe("42\n");
        await page.screenshot({ path: path.join(ARTIFACTS, "code-runner.png") });
        await page.close();
    });
});
