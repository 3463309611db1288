// The user CA (components/userCa.ts): the pure rules in tables, and the directory itself with
// the real openssl in a temporary directory (no engine involved): made once, reused, re-issued
// with the same key for a new domain, name-constrained, and every bad directory refused.
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../components/config";
import {
    caFiles,
    childBundle,
    coveringDomains,
    dnsConstraintPermits,
    keyIdOf,
    nameConstraintsValue,
    parseNameConstraints,
    pemBlocks,
    prepareUserCa,
    readUserCa,
    SHARE_BUNDLE,
    SHARE_CA,
} from "../../components/userCa";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-userca-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => path.join(tmp, `ca-${n++}`);

/** A leaf certificate for `name` signed by the CA of `dir` (what someone holding the key could do). */
function signLeaf(dir: string, name: string): string {
    const work = fs.mkdtempSync(path.join(tmp, "leaf-"));
    const f = caFiles(dir);
    execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path.join(work, "k.pem")]);
    execFileSync("openssl", ["req", "-new", "-key", path.join(work, "k.pem"), "-subj", `/CN=${name}`, "-out", path.join(work, "r.csr")]);
    fs.writeFileSync(path.join(work, "e.cnf"), `subjectAltName=DNS:${name}\nbasicConstraints=CA:FALSE\n`);
    execFileSync(
        "openssl",
        [
            "x509",
            "-req",
            "-in",
            path.join(work, "r.csr"),
            "-CA",
            f.cert,
            "-CAkey",
            f.key,
            "-days",
            "30",
            "-extfile",
            path.join(work, "e.cnf"),
            "-out",
            path.join(work, "c.pem"),
        ],
        { stdio: "ignore" },
    );
    return path.join(work, "c.pem");
}
const verify = (dir: string, leaf: string) => spawnSync("openssl", ["verify", "-CAfile", caFiles(dir).cert, leaf], { encoding: "utf8" });

function problemOf(fn: () => unknown): string {
    try {
        fn();
    } catch (e) {
        if (e instanceof ConfigError) return e.problems.join("\n");
        throw e;
    }
    throw new Error("expected a ConfigError");
}

describe("name constraint rules", () => {
    it.each<[string, string, boolean]>([
        ["project.localhost", "project.localhost", true],
        ["project.localhost", "a.project.localhost", true],
        ["project.localhost", "api.shop.project.localhost", true],
        ["project.localhost", "xproject.localhost", false],
        ["project.localhost", "example.com", false],
        [".project.localhost", "a.project.localhost", true],
    ])("constraint %s permits %s: %s", (c, name, expected) => {
        expect(dnsConstraintPermits(c, name)).toBe(expected);
    });

    it("permits each domain once (a subdomain of another adds nothing) and excludes every IP address", () => {
        expect(coveringDomains(["b.test", "a.project.localhost", "project.localhost", "b.test"])).toEqual(["b.test", "project.localhost"]);
        expect(nameConstraintsValue(["project.localhost", "dev.test"])).toBe(
            "critical,permitted;DNS:dev.test,permitted;DNS:project.localhost,excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::",
        );
    });

    it("reads openssl's text of the extension", () => {
        const text =
            "X509v3 Name Constraints: critical\n    Permitted:\n      DNS:project.localhost\n      DNS:dev.test\n    Excluded:\n      IP:0.0.0.0/0.0.0.0\n";
        expect(parseNameConstraints(text)).toEqual({ critical: true, permittedDns: ["project.localhost", "dev.test"] });
        expect(parseNameConstraints("No extensions in certificate\n")).toBeUndefined();
    });
});

describe("the CA directory, with the real openssl", () => {
    const dir = freshDir();

    it("a preview of a directory without a CA makes none and says that up will", () => {
        const r = prepareUserCa(dir, "project.localhost", true);
        expect(r.ca).toBeUndefined();
        expect(r.notes.join()).toMatch(/a new CA will be made in .* for project\.localhost/);
        expect(fs.existsSync(caFiles(dir).key)).toBe(false);
    });

    it("makes one CA: key mode 0600, directory 0700, limited to the domain, and reuses it", () => {
        const made = prepareUserCa(dir, "project.localhost", false);
        expect(made.notes.join()).toMatch(/made a new CA .*permits project\.localhost only.*npm run trust/);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
        expect(fs.statSync(caFiles(dir).key).mode & 0o777).toBe(0o600);
        expect(made.ca?.permitted).toEqual(["project.localhost"]);
        const again = prepareUserCa(dir, "project.localhost", false);
        expect(again.notes).toEqual([]);
        expect(again.ca?.fingerprint).toBe(made.ca?.fingerprint);
        // a domain under the permitted one needs nothing new
        expect(prepareUserCa(dir, "team.project.localhost", false).ca?.fingerprint).toBe(made.ca?.fingerprint);
    });

    it("a certificate for example.com signed with the CA's key fails verification; one under the domain passes", () => {
        const bad = verify(dir, signLeaf(dir, "example.com"));
        expect(bad.status).not.toBe(0);
        expect(bad.stdout + bad.stderr).toMatch(/permitted subtree violation/);
        expect(verify(dir, signLeaf(dir, "b.project.localhost")).status).toBe(0);
    });

    it("the share directory holds the CA and a bundle of the machine's roots plus the CA", () => {
        const ca = readUserCa(dir);
        const share = caFiles(dir).share;
        expect(fs.readFileSync(path.join(share, SHARE_CA), "utf8")).toBe(ca?.cert);
        const bundle = pemBlocks(fs.readFileSync(path.join(share, SHARE_BUNDLE), "utf8"));
        expect(bundle.length).toBeGreaterThan(10);
        expect(bundle[bundle.length - 1]).toBe(ca?.cert.trim());
    });

    it("the bundle for children never holds the CA twice (the machine's bundle holds it once trusted)", () => {
        const ca = readUserCa(dir);
        if (!ca) throw new Error("no CA");
        const bundle = pemBlocks(childBundle([ca.cert.trim(), "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----"], ca.cert));
        expect(bundle.filter((b) => b === ca.cert.trim())).toHaveLength(1);
        expect(bundle).toHaveLength(2);
    });

    it("a new domain re-issues the CA with the same key, says so, and keeps permitting the old one", () => {
        const before = readUserCa(dir);
        const preview = prepareUserCa(dir, "dev.test", true);
        expect(preview.notes.join()).toMatch(/will be re-issued with the same key, to permit dev\.test/);
        expect(readUserCa(dir)?.fingerprint).toBe(before?.fingerprint);
        const r = prepareUserCa(dir, "dev.test", false);
        expect(r.notes.join()).toMatch(
            /re-issued the CA .* same key, to permit dev\.test too \(now dev\.test, project\.localhost\); run `npm run trust` again/,
        );
        expect(r.ca?.keyId).toBe(before?.keyId);
        expect(r.ca?.fingerprint).not.toBe(before?.fingerprint);
        expect(r.ca?.permitted.sort()).toEqual(["dev.test", "project.localhost"]);
        expect(JSON.parse(fs.readFileSync(caFiles(dir).record, "utf8")).domains).toEqual(["dev.test", "project.localhost"]);
        expect(verify(dir, signLeaf(dir, "b.project.localhost")).status).toBe(0);
        expect(verify(dir, signLeaf(dir, "example.com")).status).not.toBe(0);
    });
});

describe("a CA directory that cannot be used is refused, naming the key, the directory and the fix", () => {
    /** A directory holding a CA made with `extensions`, without a domain record (not dind-compose's). */
    function foreignCa(extensions: string[]): string {
        const dir = freshDir();
        fs.mkdirSync(dir, { mode: 0o700 });
        const f = caFiles(dir);
        const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
        fs.writeFileSync(f.key, privateKey.export({ type: "pkcs8", format: "pem" }) as string, { mode: 0o600 });
        execFileSync("openssl", [
            "req",
            "-x509",
            "-new",
            "-key",
            f.key,
            "-days",
            "365",
            "-subj",
            "/CN=someone's CA",
            ...extensions.flatMap((e) => ["-addext", e]),
            "-out",
            f.cert,
        ]);
        return dir;
    }

    it("not writable", () => {
        expect(problemOf(() => prepareUserCa("/proc/dind-compose-ca", "project.localhost", true))).toMatch(
            /^dind-compose:tls\.caDir "\/proc\/dind-compose-ca": cannot be made \(\w+\); create it as \S+ \(mkdir -p -m 700 \/proc\/dind-compose-ca\) or point the key at a writable directory/,
        );
    });

    it("a certificate that is not a CA", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:FALSE"]);
        expect(problemOf(() => prepareUserCa(dir, "project.localhost", true))).toMatch(
            /dind-compose:tls\.caDir ".*": .*ca\.pem \(CN=someone's CA\) is not a CA certificate .*; put the CA's certificate there, or point dind-compose:tls\.caDir at an empty directory/,
        );
    });

    it("a key that does not belong to the certificate", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:TRUE", "nameConstraints=critical,permitted;DNS:project.localhost"]);
        const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
        fs.writeFileSync(caFiles(dir).key, privateKey.export({ type: "pkcs8", format: "pem" }) as string);
        expect(problemOf(() => prepareUserCa(dir, "project.localhost", true))).toMatch(
            /the key .*ca-key\.pem does not belong to the certificate .*ca\.pem; put the matching key there/,
        );
    });

    it("a certificate without its key", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:TRUE"]);
        fs.rmSync(caFiles(dir).key);
        expect(problemOf(() => prepareUserCa(dir, "project.localhost", true))).toMatch(
            /holds .*ca\.pem but not its key .*ca-key\.pem; put the key back/,
        );
    });

    it("a CA without name constraints (it could sign for any website)", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:TRUE"]);
        expect(problemOf(() => prepareUserCa(dir, "project.localhost", true))).toMatch(
            /has no critical nameConstraints extension, so a browser that trusts it would accept it for any website; use a CA limited to your domains/,
        );
    });

    it("a domain outside the constraints of a CA that dind-compose did not make", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:TRUE", "nameConstraints=critical,permitted;DNS:other.localhost"]);
        const before = fs.readFileSync(caFiles(dir).cert, "utf8");
        expect(problemOf(() => prepareUserCa(dir, "project.localhost", false))).toMatch(
            /permits only other\.localhost, not dind-compose:domain "project\.localhost", and was not made by dind-compose \(no .*domains\.json\), so it is not re-issued; have its maker re-issue it for project\.localhost, use a domain it permits/,
        );
        expect(fs.readFileSync(caFiles(dir).cert, "utf8")).toBe(before);
    });

    it("takes a CA of its own maker when it permits the domain", () => {
        const dir = foreignCa(["basicConstraints=critical,CA:TRUE", "nameConstraints=critical,permitted;DNS:project.localhost"]);
        const r = prepareUserCa(dir, "a.project.localhost", false);
        expect(r.notes).toEqual([]);
        expect(r.ca?.keyId).toBe(keyIdOf(new crypto.X509Certificate(fs.readFileSync(caFiles(dir).cert)).publicKey));
    });
});
