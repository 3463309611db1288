// The user's certificate authority: one per user, outside every stack (dind-compose:tls.caDir),
// kept across stacks, destroys and clones, as mkcert's CAROOT is. It signs the gateway
// certificate of every stack that uses the directory, and nothing else can be signed with it
// usefully: it carries a critical nameConstraints extension that permits the recorded domains
// only (and no IP address), so a certificate for any other name that someone signs with its key
// fails verification in every client that trusts it.
//
// The directory (mode 0700):
//   ca.pem        the CA certificate (what `npm run trust` installs)
//   ca-key.pem    its private key, mode 0600; never in a Pulumi state
//   domains.json  the domains it permits: every stack's `domain` that ever used the directory
//   share/        what containers get, mounted read-only into every dind container:
//                 ca.pem and bundle.pem (the machine's public roots plus the CA)
//
// The program process calls prepareUserCa before it registers anything, so every problem is an
// error naming the key, the value and the fix before anything changes. openssl makes the
// certificates (Node cannot); Node's crypto makes the key and checks what it reads.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { execFileSync } from "child_process";
import { ConfigError } from "./config";
import { sha256 } from "./compose/json";

const KEY = "dind-compose:tls.caDir";
/** Subject of every CA dind-compose makes; a re-issue keeps it, so issued certificates stay valid. */
const CA_SUBJECT = "/O=dind-compose/CN=dind-compose local CA";
const CA_DAYS = 3650;
/** A CA that ends within this many days is re-issued (same key) by the next `up`. */
const RENEW_DAYS = 30;

/** Where the files of a CA directory are. */
export function caFiles(dir: string): { cert: string; key: string; record: string; share: string; lock: string } {
    return {
        cert: path.join(dir, "ca.pem"),
        key: path.join(dir, "ca-key.pem"),
        record: path.join(dir, "domains.json"),
        share: path.join(dir, "share"),
        lock: path.join(dir, ".lock"),
    };
}

/** Paths in the share directory, as mounted into dind containers and children (override.ts). */
export const SHARE_CA = "ca.pem";
export const SHARE_BUNDLE = "bundle.pem";

// ---------------------------------------------------------------- pure
/** openssl's `nameConstraints` value: the domains (and their subdomains) permitted, every IPv4 and IPv6 address excluded. */
export function nameConstraintsValue(domains: string[]): string {
    const permitted = [...new Set(domains)].sort().map((d) => `permitted;DNS:${d}`);
    return ["critical", ...permitted, "excluded;IP:0.0.0.0/0.0.0.0", "excluded;IP:::/::"].join(",");
}

/** Whether a DNS name constraint `c` permits `name` (RFC 5280: the name itself or any name under it). */
export function dnsConstraintPermits(c: string, name: string): boolean {
    const base = c.replace(/^\./, "");
    return name === base || name.endsWith(`.${base}`);
}

/** The permitted DNS subtrees of `openssl x509 -ext nameConstraints` output; undefined: no such extension. */
export function parseNameConstraints(text: string): { critical: boolean; permittedDns: string[] } | undefined {
    if (!/Name Constraints/.test(text)) return undefined;
    const permitted = text.split(/Excluded:/)[0];
    return { critical: /Name Constraints: critical/.test(text), permittedDns: [...permitted.matchAll(/DNS:([^\s,]+)/g)].map((m) => m[1]) };
}

/** The minimal domain set covering `domains`: a domain under another one adds nothing. */
export function coveringDomains(domains: string[]): string[] {
    const all = [...new Set(domains)].sort();
    return all.filter((d) => !all.some((o) => o !== d && dnsConstraintPermits(o, d)));
}

/** The name under which the CA is installed in the trust stores: the same across re-issues (it comes from the key). */
export function trustName(keyId: string): string {
    return `dind-compose-${keyId.slice(0, 16)}`;
}

/** sha256 (hex) of a public key's SubjectPublicKeyInfo: identifies the CA across re-issues. */
export function keyIdOf(key: crypto.KeyObject): string {
    return crypto
        .createHash("sha256")
        .update(key.export({ type: "spki", format: "der" }))
        .digest("hex");
}

/** The PEM certificate blocks of a bundle. */
export function pemBlocks(text: string): string[] {
    return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * The bundle children get: the machine's roots without any certificate of this CA (after
 * `npm run trust` the machine's bundle holds it too, and the bundle must not change because of
 * that), then the CA.
 */
export function childBundle(machineRoots: string[], caCert: string): string {
    // A certificate of this CA holds its public key's DER: a byte search, where parsing each of a
    // bundle's ~150 certificates took 40-80 ms of every `up`.
    const spki = new crypto.X509Certificate(caCert).publicKey.export({ type: "spki", format: "der" });
    const ours = (pem: string): boolean => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64").includes(spki);
    return [...machineRoots.filter((pem) => !ours(pem)), caCert.trim()].join("\n") + "\n";
}

// ---------------------------------------------------------------- files and openssl
/** Where Linux distributions and macOS keep the bundle of system roots, most common first. */
const SYSTEM_BUNDLES = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/** The machine's public roots: its system bundle, or Node's own copy of Mozilla's where it has none. */
export function machineRoots(): string[] {
    const file = SYSTEM_BUNDLES.find((f) => fs.existsSync(f));
    return file ? pemBlocks(fs.readFileSync(file, "utf8")) : [...tls.rootCertificates];
}

export interface UserCa {
    dir: string;
    certFile: string;
    keyFile: string;
    /** The CA certificate (PEM). */
    cert: string;
    /** sha256 of its public key (keyIdOf): the same across re-issues with the same key. */
    keyId: string;
    /** sha256 fingerprint of the certificate (changes with a re-issue). */
    fingerprint: string;
    /** The DNS names it permits. */
    permitted: string[];
    /** Its name in the trust stores (trustName). */
    name: string;
    /** The share directory for containers (SHARE_CA, SHARE_BUNDLE). */
    shareDir: string;
}

/** One problem with the CA directory: the key, the value, what is wrong and the fix. */
function problem(dir: string, what: string, fix: string): ConfigError {
    return new ConfigError([`${KEY} ${JSON.stringify(dir)}: ${what}; ${fix}`]);
}

function openssl(args: string[]): string {
    try {
        return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (e) {
        const err = e as { stderr?: string; code?: string };
        if (err.code === "ENOENT") throw new Error("openssl is not installed; install it (Debian: apt-get install openssl)", { cause: e });
        throw new Error(`openssl ${args[0]} failed: ${String(err.stderr ?? e).trim()}`, { cause: e });
    }
}

/** Writes `content` to `file` through a temporary file and a rename, so a reader never sees half of it. */
function writeAtomically(file: string, content: string, mode: number): void {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
}

/** A new CA certificate for `domains` over the key in keyFile. */
function signCa(keyFile: string, domains: string[]): string {
    return openssl([
        "req",
        "-x509",
        "-new",
        "-key",
        keyFile,
        "-sha256",
        "-days",
        String(CA_DAYS),
        "-subj",
        CA_SUBJECT,
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        `nameConstraints=${nameConstraintsValue(coveringDomains(domains))}`,
        "-addext",
        "subjectKeyIdentifier=hash",
    ]);
}

function readRecord(file: string): string[] | undefined {
    if (!fs.existsSync(file)) return undefined;
    try {
        const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { domains?: unknown };
        if (Array.isArray(doc.domains) && doc.domains.every((d) => typeof d === "string")) return doc.domains as string[];
    } catch {
        // reported below
    }
    throw new Error(`${file} is not a domain record ({"domains": [...]}); fix it or remove it`);
}

function writeRecord(file: string, domains: string[]): void {
    const doc = {
        about: "the domains dind-compose's CA in this directory permits (every stack's dind-compose:domain that used it)",
        domains: [...new Set(domains)].sort(),
    };
    writeAtomically(file, JSON.stringify(doc, null, 2) + "\n", 0o644);
}

/**
 * Reads and checks the CA of `dir`: a CA certificate, whose key is the one beside it, limited by
 * name constraints. undefined: the directory holds no CA yet.
 */
export function readUserCa(dir: string): UserCa | undefined {
    const f = caFiles(dir);
    const hasCert = fs.existsSync(f.cert);
    const hasKey = fs.existsSync(f.key);
    const fresh = `or point ${KEY} at an empty directory for a new CA (which must then be trusted again: npm run trust)`;
    if (!hasCert && !hasKey) return undefined;
    if (!hasKey) throw problem(dir, `holds ${f.cert} but not its key ${f.key}`, `put the key back, ${fresh}`);
    if (!hasCert)
        throw problem(dir, `holds the key ${f.key} but no certificate ${f.cert}`, `put the certificate back, or remove the key ${fresh}`);
    const certPem = fs.readFileSync(f.cert, "utf8");
    let cert: crypto.X509Certificate;
    try {
        cert = new crypto.X509Certificate(certPem);
    } catch {
        throw problem(dir, `${f.cert} is not a PEM certificate`, `restore it, ${fresh}`);
    }
    if (!cert.ca)
        throw problem(
            dir,
            `${f.cert} (${cert.subject.replace(/\n/g, ", ")}) is not a CA certificate (basicConstraints CA:FALSE or missing)`,
            `put the CA's certificate there, ${fresh}`,
        );
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey(fs.readFileSync(f.key));
    } catch {
        throw problem(dir, `${f.key} is not a PEM private key (or it is encrypted)`, `put the CA's unencrypted key there, ${fresh}`);
    }
    const keyId = keyIdOf(cert.publicKey);
    if (keyIdOf(crypto.createPublicKey(key)) !== keyId)
        throw problem(dir, `the key ${f.key} does not belong to the certificate ${f.cert}`, `put the matching key there, ${fresh}`);
    const constraints = parseNameConstraints(openssl(["x509", "-in", f.cert, "-noout", "-ext", "nameConstraints"]));
    if (constraints === undefined || !constraints.critical || constraints.permittedDns.length === 0) {
        throw problem(
            dir,
            `the CA ${f.cert} has no critical nameConstraints extension, so a browser that trusts it would accept it for any website`,
            `use a CA limited to your domains, ${fresh}`,
        );
    }
    return {
        dir,
        certFile: f.cert,
        keyFile: f.key,
        cert: certPem,
        keyId,
        fingerprint: cert.fingerprint256,
        permitted: constraints.permittedDns,
        name: trustName(keyId),
        shareDir: f.share,
    };
}

/** Takes the directory's lock (a directory: mkdir is atomic), so two stacks' `up` do not make two CAs. */
function withLock<T>(dir: string, fn: () => T): T {
    const lock = caFiles(dir).lock;
    const deadline = Date.now() + 30_000;
    for (;;) {
        try {
            fs.mkdirSync(lock);
            break;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            // A lock older than two minutes is a crashed run's.
            const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
            if (age > 120_000) fs.rmSync(lock, { recursive: true, force: true });
            else if (Date.now() > deadline)
                throw problem(
                    dir,
                    `is locked by another run (${lock} exists)`,
                    `wait for it, or remove ${lock} if no dind-compose run is going on`,
                );
            else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        }
    }
    try {
        return fn();
    } finally {
        fs.rmSync(lock, { recursive: true, force: true });
    }
}

/**
 * `mkdir -p` with mode 0700, one level at a time: Node's recursive mkdirSync never returns for a
 * path under /proc (it retries the ENOENT it gets there).
 */
function mkdirs(dir: string): void {
    const missing: string[] = [];
    for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
    for (const d of missing) fs.mkdirSync(d, { mode: 0o700 });
}

/** Makes the directory (0700) and checks that this user can write into it. */
function ensureWritableDir(dir: string): void {
    const user = os.userInfo().username;
    try {
        mkdirs(dir);
    } catch (e) {
        throw problem(
            dir,
            `cannot be made (${(e as NodeJS.ErrnoException).code})`,
            `create it as ${user} (mkdir -p -m 700 ${dir}) or point the key at a writable directory`,
        );
    }
    if (!fs.statSync(dir).isDirectory()) throw problem(dir, "is not a directory", "point the key at a directory");
    const probe = path.join(dir, `.write-test-${process.pid}`);
    try {
        fs.writeFileSync(probe, "");
        fs.rmSync(probe);
    } catch (e) {
        throw problem(
            dir,
            `is not writable by ${user} (${(e as NodeJS.ErrnoException).code})`,
            `make it writable (chmod u+w ${dir}) or point the key at a writable directory`,
        );
    }
}

export interface PreparedCa {
    /** The CA, ready to sign; undefined in a preview that would make it. */
    ca: UserCa | undefined;
    /** What was done (or, in a preview, would be) for the user to know: a new or re-issued CA. */
    notes: string[];
    /** The share directory's files, as the dind containers are given them (placeholder digests without a CA). */
    shareFiles: ShareFile[];
}

/**
 * Makes sure `dir` holds a CA that permits `domain`: reuses the one there, makes one when there is
 * none, or re-issues it with the same key when the domain is new to it (only a CA that
 * dind-compose made, which has a domain record). In a preview (`dryRun`) nothing is made or
 * re-issued: the notes say what `up` will do. Then writes the share directory for containers.
 * @throws ConfigError naming the key, the directory and the fix.
 */
export function prepareUserCa(dir: string, domain: string, dryRun: boolean): PreparedCa {
    ensureWritableDir(dir);
    const f = caFiles(dir);
    const again = "run `npm run trust` to have the system, curl and the browsers trust it";
    const decide = (): Omit<PreparedCa, "shareFiles"> => {
        const existing = readUserCa(dir);
        let record: string[] | undefined;
        try {
            record = readRecord(f.record);
        } catch (e) {
            throw problem(dir, (e as Error).message, `or point ${KEY} elsewhere`);
        }
        if (existing === undefined) {
            if (dryRun) return { ca: undefined, notes: [`a new CA will be made in ${dir} for ${domain}; afterwards ${again}`] };
            const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
            writeAtomically(f.key, privateKey.export({ type: "pkcs8", format: "pem" }) as string, 0o600);
            writeAtomically(f.cert, signCa(f.key, [domain]), 0o644);
            writeRecord(f.record, [domain]);
            fs.chmodSync(dir, 0o700);
            const made = readUserCa(dir) as UserCa;
            return { ca: made, notes: [`made a new CA in ${dir} (${made.name}, permits ${domain} only); ${again}`] };
        }
        const permitted = existing.permitted.some((c) => dnsConstraintPermits(c, domain));
        const endsSoon = new Date(new crypto.X509Certificate(existing.cert).validTo).getTime() < Date.now() + RENEW_DAYS * 86_400_000;
        if (permitted && !endsSoon) return { ca: existing, notes: [] };
        if (record === undefined) {
            throw problem(
                dir,
                permitted
                    ? `the CA ${f.cert} ends within ${RENEW_DAYS} days (${new crypto.X509Certificate(existing.cert).validTo}) and was not made by dind-compose (no ${f.record})`
                    : `the CA ${f.cert} permits only ${existing.permitted.join(", ")}, not dind-compose:domain ${JSON.stringify(domain)}, and was not made by dind-compose (no ${f.record}), so it is not re-issued`,
                `have its maker re-issue it for ${domain}, use a domain it permits, or point ${KEY} at an empty directory for a new CA`,
            );
        }
        const domains = [...new Set([...record, ...existing.permitted, domain])].sort();
        const why = permitted
            ? `it ends within ${RENEW_DAYS} days`
            : `to permit ${domain} too (now ${coveringDomains(domains).join(", ")})`;
        if (dryRun)
            return {
                ca: existing,
                notes: [`the CA in ${dir} will be re-issued with the same key, ${why}; afterwards run \`npm run trust\` again`],
            };
        writeAtomically(f.cert, signCa(f.key, domains), 0o644);
        writeRecord(f.record, domains);
        const reissued = readUserCa(dir) as UserCa;
        return {
            ca: reissued,
            notes: [
                `re-issued the CA in ${dir} with the same key, ${why}; run \`npm run trust\` again so that the stores hold the new certificate (the one they hold does not permit ${domain})`,
            ],
        };
    };
    const prepared = dryRun ? decide() : withLock(dir, decide);
    // Once per run: the bundle is the machine's ~150 roots searched for the CA's key.
    const contents = prepared.ca && shareContents(prepared.ca.cert);
    if (prepared.ca && contents) {
        // Readable by the user alone, whatever an editor or a copy did to the modes.
        fs.chmodSync(f.key, 0o600);
        if (!dryRun) writeShare(f.share, contents);
    }
    return { ...prepared, shareFiles: shareFiles(f.share, contents) };
}

/** What the share directory holds for a CA certificate: file name -> content (the CA alone, and the bundle for children). */
export function shareContents(caCert: string): Record<string, string> {
    return { [SHARE_CA]: caCert, [SHARE_BUNDLE]: childBundle(machineRoots(), caCert) };
}

/** One file of the share directory as the dind containers are given it: its name, where it is, the sha256 of its content. */
export interface ShareFile {
    name: string;
    source: string;
    sha256: string;
}

/** The share directory's files for its `contents`; undefined (a preview that makes the CA) gives placeholders for digests. */
function shareFiles(shareDir: string, contents: Record<string, string> | undefined): ShareFile[] {
    return [SHARE_CA, SHARE_BUNDLE].map((name) => ({
        name,
        source: path.join(shareDir, name),
        sha256: contents ? sha256(contents[name]) : "(a new CA)",
    }));
}

/** The share directory: the CA and the bundle for containers (copied into each dind container), rewritten only when they changed. */
function writeShare(shareDir: string, contents: Record<string, string>): void {
    fs.mkdirSync(shareDir, { recursive: true, mode: 0o755 });
    for (const [name, content] of Object.entries(contents)) {
        const file = path.join(shareDir, name);
        if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== content) writeAtomically(file, content, 0o644);
    }
}
