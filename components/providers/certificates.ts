// The gateway's TLS material as a dynamic resource: a server certificate for the domain, every
// name under it and every route hostname, signed by the user CA (userCa.ts: one per user, outside
// the stack, read from its directory when signing) and re-signed in place when the hostnames
// change (the gateway reloads nginx). The CA's key is never part of the state: stacks written
// before the user CA kept their own CA there (caCert and caKey outputs), which the first update
// drops. openssl does the cryptography.
import * as pulumi from "../pulumiSdk";
import { caFiles } from "../userCa";
import { run } from "./exec";
import { ReferencedDynamicResource } from "./providerReference";

export interface CertificateInputs {
    domain: string;
    /** Route hostnames (those outside *.domain get their own SAN entry). */
    hostnames: string[];
    /** The user CA's directory (dind-compose:tls.caDir). */
    caDir: string;
    /** sha256 of the CA's public key: another CA re-signs, a re-issue of the same one does not. */
    caKeyId: string;
}

export interface CertificateOutputs extends CertificateInputs {
    cert: string;
    key: string;
    /** Only in states written before the user CA: the per-stack CA's certificate file, removed by delete. */
    caFile?: string;
}

/** subjectAltName entries: the bare domain, *.domain, and each hostname not covered by the wildcard. */
export function subjectAltNames(domain: string, hostnames: string[]): string[] {
    const covered = (h: string): boolean => h === domain || (h.endsWith(`.${domain}`) && !h.slice(0, -domain.length - 1).includes("."));
    return [domain, `*.${domain}`, ...[...new Set(hostnames)].filter((h) => !covered(h)).sort()].map((n) => `DNS:${n}`);
}

async function openssl(dir: string, args: string[]): Promise<void> {
    const r = await run("openssl", args, { cwd: dir });
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

async function issue(i: CertificateInputs): Promise<CertificateOutputs> {
    const fs: typeof import("fs") = require("fs");
    const os: typeof import("os") = require("os");
    const path: typeof import("path") = require("path");
    const ca = caFiles(i.caDir);
    for (const f of [ca.cert, ca.key]) {
        if (!fs.existsSync(f))
            throw new Error(
                `the user CA's ${path.basename(f)} is missing from ${i.caDir} (dind-compose:tls.caDir); run 'pulumi up' again, which makes or checks it first`,
            );
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-tls-"));
    try {
        await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"]);
        await openssl(dir, ["req", "-new", "-key", "key.pem", "-subj", `/CN=${i.domain}`, "-out", "server.csr"]);
        fs.writeFileSync(
            path.join(dir, "ext.cnf"),
            `subjectAltName=${subjectAltNames(i.domain, i.hostnames).join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`,
        );
        // No serial file: OpenSSL 3 picks a random serial, and nothing is written into the CA's directory.
        await openssl(dir, [
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            ca.cert,
            "-CAkey",
            ca.key,
            "-days",
            "825",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ]);
        const read = (f: string): string => fs.readFileSync(path.join(dir, f), "utf8");
        return {
            domain: i.domain,
            hostnames: i.hostnames,
            caDir: i.caDir,
            caKeyId: i.caKeyId,
            cert: read("cert.pem"),
            key: read("key.pem"),
        };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

export const certificateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CertificateInputs) {
        return { id: `ca-${inputs.domain}`, outs: await issue(inputs) };
    },
    async diff(_id: string, olds: CertificateOutputs, news: CertificateInputs) {
        // A state from before the user CA has no caDir and caKeyId: an update, signed by the user CA.
        const changed = (["domain", "hostnames", "caDir", "caKeyId"] as const).filter(
            (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
        );
        return {
            changes: changed.length > 0,
            detailedDiff: Object.fromEntries(changed.map((k) => [k, { kind: "update", inputDiff: true }])),
        } as pulumi.dynamic.DiffResult;
    },
    async update(_id: string, olds: CertificateOutputs, news: CertificateInputs) {
        // The per-stack CA of an older state goes with its file; the outputs no longer hold its key.
        if (olds.caFile) require("fs").rmSync(olds.caFile, { force: true });
        return { outs: await issue(news) };
    },
    async delete(_id: string, props: CertificateOutputs) {
        // Never the user CA: other stacks use it, and the user trusts it.
        if (props.caFile) require("fs").rmSync(props.caFile, { force: true });
    },
};

/** Where the provider process finds the provider (see providerReference.ts). */
const certificateReference = { moduleFile: __filename, exportName: "certificateProvider" };

export class GatewayCertificate extends ReferencedDynamicResource {
    declare public readonly cert: pulumi.Output<string>;
    declare public readonly key: pulumi.Output<string>;
    constructor(
        name: string,
        args: { [K in keyof CertificateInputs]: pulumi.Input<CertificateInputs[K]> },
        opts?: pulumi.CustomResourceOptions,
    ) {
        super(
            certificateReference,
            name,
            { ...args, cert: undefined, key: undefined },
            { ...opts, additionalSecretOutputs: ["key"] },
            "tls",
            "GatewayCertificate",
        );
    }
}
