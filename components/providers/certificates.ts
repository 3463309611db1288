// The gateway's TLS material as a dynamic resource: a local certificate
// authority (made once, kept in the state as a secret) and a server
// certificate for the domain, every name under it and every project
// hostname, re-signed in place when the hostnames change. openssl does the
// cryptography; the CA certificate is also written to a file for the user
// to trust.
import * as pulumi from "../pulumiSdk";
import { run } from "./exec";
import { ReferencedDynamicResource } from "./providerReference";

export interface CertificateInputs {
    domain: string;
    /** Project hostnames (those outside *.domain get their own SAN entry). */
    hostnames: string[];
    /** Where the CA certificate is written for the user (absolute path). */
    caFile: string;
}

export interface CertificateOutputs extends CertificateInputs {
    caCert: string;
    caKey: string;
    cert: string;
    key: string;
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

async function issue(i: CertificateInputs, ca?: { caCert: string; caKey: string }): Promise<CertificateOutputs> {
    const fs: typeof import("fs") = require("fs");
    const os: typeof import("os") = require("os");
    const path: typeof import("path") = require("path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dind-compose-tls-"));
    try {
        if (ca) {
            fs.writeFileSync(path.join(dir, "ca.pem"), ca.caCert);
            fs.writeFileSync(path.join(dir, "ca-key.pem"), ca.caKey, { mode: 0o600 });
        } else {
            await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca-key.pem"]);
            await openssl(dir, ["req", "-x509", "-new", "-key", "ca-key.pem", "-sha256", "-days", "3650", "-subj", `/CN=dind-compose local CA (${i.domain})`,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem"]);
        }
        await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem"]);
        await openssl(dir, ["req", "-new", "-key", "key.pem", "-subj", `/CN=${i.domain}`, "-out", "server.csr"]);
        fs.writeFileSync(
            path.join(dir, "ext.cnf"),
            `subjectAltName=${subjectAltNames(i.domain, i.hostnames).join(",")}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n`,
        );
        await openssl(dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "825", "-sha256", "-extfile", "ext.cnf", "-out", "cert.pem"]);
        const read = (f: string): string => fs.readFileSync(path.join(dir, f), "utf8");
        const out = { ...i, caCert: read("ca.pem"), caKey: read("ca-key.pem"), cert: read("cert.pem"), key: read("key.pem") };
        fs.mkdirSync(path.dirname(i.caFile), { recursive: true });
        fs.writeFileSync(i.caFile, out.caCert);
        return out;
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

export const certificateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CertificateInputs) {
        return { id: `ca-${inputs.domain}`, outs: await issue(inputs) };
    },
    async diff(_id: string, olds: CertificateOutputs, news: CertificateInputs) {
        const changed = (["domain", "hostnames", "caFile"] as const).filter((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, detailedDiff: Object.fromEntries(changed.map((k) => [k, { kind: "update", inputDiff: true }])) } as pulumi.dynamic.DiffResult;
    },
    async update(_id: string, olds: CertificateOutputs, news: CertificateInputs) {
        // Same CA (users keep trusting it), new server certificate.
        return { outs: await issue(news, { caCert: olds.caCert, caKey: olds.caKey }) };
    },
    async delete(_id: string, props: CertificateOutputs) {
        require("fs").rmSync(props.caFile, { force: true });
    },
};

/** Where the provider process finds the provider (see providerReference.ts). */
const certificateReference = { moduleFile: __filename, exportName: "certificateProvider" };

export class GatewayCertificate extends ReferencedDynamicResource {
    declare public readonly caCert: pulumi.Output<string>;
    declare public readonly cert: pulumi.Output<string>;
    declare public readonly key: pulumi.Output<string>;
    constructor(name: string, args: { [K in keyof CertificateInputs]: pulumi.Input<CertificateInputs[K]> }, opts?: pulumi.CustomResourceOptions) {
        super(
            certificateReference,
            name,
            { ...args, caCert: undefined, caKey: undefined, cert: undefined, key: undefined },
            { ...opts, additionalSecretOutputs: ["caKey", "key"] },
            "tls",
            "GatewayCertificate",
        );
    }
}
