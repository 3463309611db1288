// `npm run trust` / `npm run untrust` [-- -s STACK | --ca-dir DIR]: installs the user CA
// (dind-compose:tls.caDir) into the system store and the browsers' NSS databases, or removes it
// from all of them. Runs what this user may run; prints the exact command for every store it
// cannot write (not root, macOS, Windows, no certutil). The plan is components/trust.ts.
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { requireProgramModule } = require("./compile-program");

const REPO = path.resolve(__dirname, "..");
const load = (m) => requireProgramModule(REPO, m);

/** The CA directory: --ca-dir, else the stack's dind-compose:tls.caDir, else DIND_COMPOSE_CA_DIR, else the default (as index.ts). */
function caDirOf(args) {
    const { DEFAULTS, resolveCaDir } = load("components/config");
    const at = (flag) => {
        const i = args.indexOf(flag);
        return i >= 0 ? args[i + 1] : undefined;
    };
    const explicit = at("--ca-dir");
    if (explicit) return path.resolve(explicit);
    const stack = at("-s") ?? at("--stack");
    if (stack) {
        const file = path.join(REPO, `Pulumi.${stack}.yaml`);
        if (!fs.existsSync(file)) throw new Error(`-s ${stack}: ${file} does not exist; name a stack of this project`);
        const configured = require("yaml").parse(fs.readFileSync(file, "utf8"))?.config?.["dind-compose:tls"]?.caDir;
        if (configured) return resolveCaDir(configured, REPO, os.homedir());
    }
    return resolveCaDir(process.env.DIND_COMPOSE_CA_DIR || DEFAULTS.tls.caDir, REPO, os.homedir());
}

function onPath(command) {
    return (process.env.PATH ?? "").split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, command)));
}

function firefoxProfiles(home) {
    const roots = [path.join(home, ".mozilla", "firefox"), path.join(home, "snap", "firefox", "common", ".mozilla", "firefox")];
    return roots
        .flatMap((root) => (fs.existsSync(root) ? fs.readdirSync(root).map((d) => path.join(root, d)) : []))
        .filter((d) => fs.existsSync(path.join(d, "cert9.db")));
}

function main() {
    const [action, ...args] = process.argv.slice(2);
    if (action !== "trust" && action !== "untrust") throw new Error("usage: node scripts/trust.js trust|untrust [-s STACK | --ca-dir DIR]");
    const dir = caDirOf(args);
    const ca = load("components/userCa").readUserCa(dir);
    if (!ca) {
        throw new Error(
            `no CA in ${dir} yet: \`npm start\` or \`npm run pulumi -- up\` makes it (dind-compose:tls.caDir or DIND_COMPOSE_CA_DIR choose the directory; -s STACK or --ca-dir DIR here)`,
        );
    }
    const { trustPlan, shellLine } = load("components/trust");
    const home = os.homedir();
    const ctx = { platform: process.platform, isRoot: process.getuid?.() === 0, home, has: onPath, firefoxProfiles: firefoxProfiles(home) };
    const sha1 = new (require("crypto").X509Certificate)(ca.cert).fingerprint;
    const steps = trustPlan(
        action,
        { certFile: ca.certFile, name: ca.name, sha1 },
        ctx,
        fs.existsSync(path.join(home, ".pki", "nssdb", "cert9.db")),
    );
    console.log(
        `${action === "trust" ? "Trusting" : "Removing"} ${ca.name} (${ca.certFile}, SHA-256 ${ca.fingerprint}; permits ${ca.permitted.join(", ")} only)`,
    );
    let manual = 0;
    for (const step of steps) {
        if (step.manual) {
            manual++;
            console.log(`- ${step.store}: not done here (${step.manual}); run:`);
            for (const c of step.commands) console.log(`    ${shellLine(c.argv)}`);
            continue;
        }
        for (const c of step.commands) {
            for (let n = 0; ; n++) {
                const r = spawnSync(c.argv[0], c.argv.slice(1), { encoding: "utf8" });
                if (r.status === 0 && c.untilFails && n < 100) continue;
                if (r.status !== 0 && !c.untilFails)
                    throw new Error(
                        `${step.store}: ${shellLine(c.argv)} failed (exit ${r.status}): ${(r.stderr || r.stdout || String(r.error)).trim()}`,
                    );
                break;
            }
        }
        console.log(`- ${step.store}: ${action === "trust" ? "trusted" : "removed"}`);
    }
    if (action === "trust") console.log("Restart Firefox for it to read its store again; Chromium reads it at its next start.");
    if (manual > 0) process.exitCode = 3;
}

try {
    main();
} catch (e) {
    console.error(`npm run ${process.argv[2] ?? "trust"}: ${e.message}`);
    process.exit(2);
}
