// What `npm run trust` and `npm run untrust` do to the trust stores, as a plan of commands (pure):
// scripts/trust.js finds the stores, runs the steps it may, and prints the others for the user to
// run. Trust is only ever installed by that explicit command, never by `pulumi up`.
//
// Stores:
//   - the system store: Debian and Ubuntu (update-ca-certificates: a file in
//     /usr/local/share/ca-certificates/), Fedora and RHEL (update-ca-trust: a file in
//     /etc/pki/ca-trust/source/anchors/); curl, OpenSSL, Python and most CLIs read it.
//     macOS (the System keychain) and Windows (the ROOT store) get the command printed.
//   - the NSS databases browsers read on Linux: ~/.pki/nssdb (Chromium, Chrome; made when
//     missing) and each Firefox profile's cert9.db (Firefox keeps its own store).

export interface TrustedCa {
    /** The CA certificate file (PEM). */
    certFile: string;
    /** Its name in every store (userCa.ts trustName): the same across re-issues. */
    name: string;
    /** SHA-1 fingerprint (AA:BB:...), as macOS's `security` names a certificate. */
    sha1: string;
}

/** What the plan may know of the machine (found by scripts/trust.js). */
export interface TrustContext {
    platform: NodeJS.Platform;
    isRoot: boolean;
    home: string;
    /** Whether a command is on PATH. */
    has(command: string): boolean;
    /** Firefox profile directories that hold a cert9.db. */
    firefoxProfiles: string[];
}

export interface TrustCommand {
    argv: string[];
    /** Run until it fails (certutil -D removes one certificate of the name per run); a failure is no error. */
    untilFails?: boolean;
}

export interface TrustStep {
    /** The store, as the user knows it. */
    store: string;
    commands: TrustCommand[];
    /** Why the commands are printed for the user to run instead; undefined: run them. */
    manual?: string;
}

export type TrustAction = "trust" | "untrust";

const DEBIAN_DIR = "/usr/local/share/ca-certificates";
const FEDORA_DIR = "/etc/pki/ca-trust/source/anchors";

/** The system store's step. */
function systemStep(action: TrustAction, ca: TrustedCa, ctx: TrustContext): TrustStep {
    const notRoot = ctx.isRoot ? undefined : "the system store needs root";
    if (ctx.platform === "darwin") {
        const argv =
            action === "trust"
                ? ["sudo", "security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", "/Library/Keychains/System.keychain", ca.certFile]
                : ["sudo", "security", "delete-certificate", "-Z", ca.sha1.replace(/:/g, ""), "/Library/Keychains/System.keychain"];
        return { store: "macOS System keychain", commands: [{ argv }], manual: "macOS asks for confirmation in its own dialog" };
    }
    if (ctx.platform === "win32") {
        const argv =
            action === "trust"
                ? ["certutil", "-addstore", "-f", "ROOT", ca.certFile]
                : ["certutil", "-delstore", "ROOT", ca.sha1.replace(/:/g, "")];
        return { store: "Windows ROOT store", commands: [{ argv }], manual: "run it in an administrator's terminal" };
    }
    const sudo = (argv: string[]): TrustCommand => ({ argv: ctx.isRoot ? argv : ["sudo", ...argv] });
    if (ctx.has("update-ca-certificates")) {
        const file = `${DEBIAN_DIR}/${ca.name}.crt`;
        const place = action === "trust" ? sudo(["install", "-D", "-m", "644", ca.certFile, file]) : sudo(["rm", "-f", file]);
        // A plain run after a removal drops the certificate from the bundle but leaves its links in
        // /etc/ssl/certs (the name and the hash link, dangling): --fresh makes them anew.
        const update = sudo(action === "trust" ? ["update-ca-certificates"] : ["update-ca-certificates", "--fresh"]);
        return { store: `system store (${DEBIAN_DIR}, update-ca-certificates)`, commands: [place, update], manual: notRoot };
    }
    if (ctx.has("update-ca-trust")) {
        const file = `${FEDORA_DIR}/${ca.name}.pem`;
        const place = action === "trust" ? sudo(["install", "-D", "-m", "644", ca.certFile, file]) : sudo(["rm", "-f", file]);
        return {
            store: `system store (${FEDORA_DIR}, update-ca-trust)`,
            commands: [place, sudo(["update-ca-trust", "extract"])],
            manual: notRoot,
        };
    }
    return {
        store: "system store",
        commands: [],
        manual: `neither update-ca-certificates nor update-ca-trust is installed; add ${ca.certFile} to your system's CA store as its documentation says`,
    };
}

/** The steps for one NSS database (`dir` holds cert9.db, or will). */
function nssStep(action: TrustAction, ca: TrustedCa, store: string, dir: string, create: boolean, certutil: boolean): TrustStep {
    const db = `sql:${dir}`;
    // A re-issued CA keeps its name: the old certificate goes first, so the database holds one.
    const remove: TrustCommand = { argv: ["certutil", "-d", db, "-D", "-n", ca.name], untilFails: true };
    const commands: TrustCommand[] =
        action === "trust"
            ? [
                  ...(create
                      ? [{ argv: ["mkdir", "-p", "-m", "700", dir] }, { argv: ["certutil", "-d", db, "-N", "--empty-password"] }]
                      : []),
                  remove,
                  { argv: ["certutil", "-d", db, "-A", "-t", "C,,", "-n", ca.name, "-i", ca.certFile] },
              ]
            : [remove];
    return {
        store,
        commands,
        manual: certutil ? undefined : "certutil is not installed (Debian: apt-get install libnss3-tools; npm run bootstrap installs it)",
    };
}

/**
 * The steps of `npm run trust` (or untrust) for the CA on this machine, in order: the system
 * store, then the NSS databases of Chromium (~/.pki/nssdb, made for trust when it does not exist
 * yet, so a browser started later finds it) and of every Firefox profile.
 * @param nssdbExists whether ~/.pki/nssdb/cert9.db exists.
 */
export function trustPlan(action: TrustAction, ca: TrustedCa, ctx: TrustContext, nssdbExists: boolean): TrustStep[] {
    const steps = [systemStep(action, ca, ctx)];
    if (ctx.platform !== "linux") return steps;
    const certutil = ctx.has("certutil");
    const chromiumDb = `${ctx.home}/.pki/nssdb`;
    if (action === "trust" || nssdbExists)
        steps.push(
            nssStep(action, ca, `NSS database ${chromiumDb} (Chromium, Chrome)`, chromiumDb, action === "trust" && !nssdbExists, certutil),
        );
    for (const profile of ctx.firefoxProfiles) steps.push(nssStep(action, ca, `Firefox profile ${profile}`, profile, false, certutil));
    return steps;
}

/** A command as the user would type it (arguments with spaces or quotes quoted). */
export function shellLine(argv: string[]): string {
    return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}
