// Parses and validates the raw `dind-compose:*` configuration. Pure: the only
// outside world it sees is the `FileChecks` passed in, so every rule is a
// table-driven unit test. Every problem is reported at once, each naming the
// key, the bad value and the fix, before any resource is created.
import * as os from "os";
import * as path from "path";
import { capacity, Cidr, formatCidr, isNetworkAddress, parseCidr } from "./subnets";
import constants from "./constants.json";

export const CONFIG_NAMESPACE = "dind-compose";

export const SECURITY_MODES = ["privileged", "capabilities", "sysbox"] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];

/** The compose file names `docker compose` looks for, in its order of preference. */
export const DEFAULT_COMPOSE_FILES = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

export const DEFAULTS = {
    domain: "project.localhost",
    gateway: { bindAddress: "127.0.0.1", httpPort: 80, httpsPort: 443 },
    images: constants.images.defaults,
    dind: { security: "privileged" as SecurityMode, readyTimeoutSeconds: 60 },
    // 10.250/16: outside Docker's default pools (172.17-31/16, 192.168/16) and the ranges home
    // routers and most VPNs hand out (10.0-10.10, 192.168); /28 leaves 13 addresses per network,
    // of which a project uses three (its daemon, the gateway, its TCP proxy).
    network: { pool: "10.250.0.0/16", subnetSize: 28 },
    /** One CA per user, kept across stacks, destroys and clones (DIND_COMPOSE_CA_DIR moves it, see index.ts). */
    tls: { caDir: "~/.local/share/dind-compose/ca" },
} as const;

/** One compose project, validated, with every default applied. */
export interface ProjectSpec {
    /** DNS label, unique in the stack. */
    name: string;
    /** Absolute path of the project directory. */
    dir: string;
    /** Absolute paths of the compose files, in merge order. */
    composeFiles: string[];
    /** Hostname routed to this project by the gateway. */
    hostname: string;
    /** Inner published port to route to; undefined: the first published port of the compose model. */
    port: number | undefined;
    /** Extra interpolation variables for compose. */
    env: Record<string, string>;
    /** Images copied from the outer daemon into the inner one before `up`. */
    preloadImages: string[];
    /** Publish the inner daemon's TLS endpoint on 127.0.0.1 (0: an ephemeral port; undefined: not published). */
    daemonPort: number | undefined;
    /**
     * Routes to the project's services besides its main one (`port` at `hostname`), as configured;
     * undefined: the default, every other service that publishes a port at `<service>.<hostname>`
     * (decided once the compose model is known, see routes.ts).
     */
    routes: RouteSpec[] | undefined;
    /** Inner published ports opened on the host's gateway bind address. */
    tcp: TcpSpec[];
    /** Caps of the project's dind container (so its daemon and every child); {} for none. */
    resources: ResourcesSpec;
    /**
     * Whether the project's services get the user CA (a bundle with the machine's roots and the
     * environment variables common runtimes read, see override.ts), so that they can call the
     * other projects over HTTPS with verification on.
     * @default true
     */
    trustCa: boolean;
}

/** CPU and memory caps of one dind container. */
export interface ResourcesSpec {
    /** CPUs (docker --cpus), e.g. 1.5. */
    cpus?: number;
    /** Bytes (docker --memory; no swap beyond it). */
    memory?: number;
}

/** One configured route: a service's inner published port at a hostname. */
export interface RouteSpec {
    service: string;
    /** undefined: the service's first published port. */
    port: number | undefined;
    /** undefined: `<service>.<project hostname>`. */
    hostname: string | undefined;
}

/** One inner published port of a project, opened on the host. */
export interface TcpSpec {
    port: number;
    hostPort: number;
}

export interface GatewaySpec {
    bindAddress: string;
    httpPort: number;
    httpsPort: number;
    /** A user-supplied certificate and key (absolute paths); undefined: the user CA (tls.caDir) issues one. */
    tls: { certFile: string; keyFile: string } | undefined;
}

/** Where the stack's networks get their addresses (subnets.ts). */
export interface NetworkSpec {
    pool: Cidr;
    /** Prefix length of each network carved from the pool. */
    subnetSize: number;
}

export interface EnvironmentSpec {
    domain: string;
    network: NetworkSpec;
    /** The user CA that signs the gateway's certificate (unless gateway.tls brings one). */
    tls: { caDir: string };
    gateway: GatewaySpec;
    images: { dind: string; nginx: string };
    dind: { security: SecurityMode; readyTimeoutSeconds: number };
    /** dind-compose:files: how the project files reach the daemons (transport/files.ts resolves auto). */
    files: FilesSetting;
    /** dind-compose:engine: where the daemons run. */
    engine: EngineSpec;
    projects: ProjectSpec[];
}

/** dind-compose:engine. */
export type EngineSpec = { kind: "docker" } | KubernetesEngineSpec;
export interface KubernetesEngineSpec {
    kind: "kubernetes";
    /** The kubeconfig context; undefined: the kubeconfig's current context. */
    context: string | undefined;
    /** The namespace everything goes into (made, and owned by the stack, when it does not exist). */
    namespace: string;
    /** The storage class of the daemons' volume claims; undefined: the cluster's default. */
    storageClass: string | undefined;
    /** How the gateway is reached from outside the cluster: a NodePort Service, and an Ingress with `ingressClass`. */
    gatewayService: "NodePort" | "ClusterIP" | "LoadBalancer";
    ingressClass: string | undefined;
}
export const ENGINE_KINDS = ["docker", "kubernetes"] as const;

/** dind-compose:files: bind-mount the host's folders, sync them into a volume, or pick by where the engine runs. */
export const FILES_SETTINGS = ["auto", "bind", "sync"] as const;
export type FilesSetting = (typeof FILES_SETTINGS)[number];

/** What the validator may ask of the file system (injected, so tests need no files). */
export interface FileChecks {
    isDirectory(p: string): boolean;
    isFile(p: string): boolean;
    /** What `~` stands for in paths; default: the user's home directory. */
    homeDir?: string;
}

/** The raw config values as Pulumi hands them over (already JSON-parsed where they are objects). */
export interface RawConfig {
    /** Every key set under the `dind-compose:` namespace (without it): unknown ones are refused. */
    keys?: string[];
    projects?: unknown;
    domain?: unknown;
    gateway?: unknown;
    images?: unknown;
    dind?: unknown;
    network?: unknown;
    tls?: unknown;
    files?: unknown;
    engine?: unknown;
}

export class ConfigError extends Error {
    constructor(public readonly problems: string[]) {
        super(
            `invalid dind-compose configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}); nothing was created or changed:\n` +
                // A problem of several lines (compose's own message, a YAML excerpt) stays under its dash.
                problems.map((p) => `  - ${p.replace(/\n/g, "\n    ")}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// name[:tag][@digest], loosely: what `docker image inspect` accepts as a reference.
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Collects problems; each reader returns a usable value (the default) even when the input is bad. */
class Problems {
    readonly list: string[] = [];
    add(msg: string): void {
        this.list.push(msg);
    }

    unknownKeys(key: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
        for (const k of Object.keys(obj)) {
            if (!allowed.includes(k)) {
                this.add(`${key}.${k} is not a known key (allowed: ${allowed.join(", ")}); remove it or fix its spelling`);
            }
        }
    }

    object(key: string, v: unknown): Record<string, unknown> {
        if (v === undefined) return {};
        if (isObject(v)) return v;
        this.add(`${key} must be an object, got ${show(v)}`);
        return {};
    }

    string(key: string, v: unknown, fallback: string, rule?: { re: RegExp; what: string; fix: string }): string {
        if (v === undefined) return fallback;
        if (typeof v !== "string" || v === "") {
            this.add(`${key} must be a non-empty string, got ${show(v)}`);
            return fallback;
        }
        if (rule && !rule.re.test(v)) {
            this.add(`${key} ${show(v)} is not ${rule.what}; ${rule.fix}`);
        }
        return v;
    }

    port(key: string, v: unknown, fallback: number | undefined, allowZero = false): number | undefined {
        if (v === undefined) return fallback;
        const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
        const min = allowZero ? 0 : 1;
        if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > 65535) {
            this.add(`${key} ${show(v)} is not a port number; use an integer from ${min} to 65535`);
            return fallback;
        }
        return n;
    }

    boolean(key: string, v: unknown, fallback: boolean): boolean {
        if (v === undefined) return fallback;
        if (typeof v === "boolean") return v;
        // Pulumi's YAML config hands over `false` as a boolean, `pulumi config set` as a string.
        if (v === "true" || v === "false") return v === "true";
        this.add(`${key} ${show(v)} is not a boolean; use true or false`);
        return fallback;
    }

    stringList(key: string, v: unknown): string[] {
        if (v === undefined) return [];
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "")) {
            this.add(`${key} must be a list of non-empty strings, got ${show(v)}`);
            return [];
        }
        return v as string[];
    }
}

/**
 * Validates the raw configuration and applies every default.
 * @param projectDir the Pulumi project directory: relative project paths are resolved against it.
 * @throws ConfigError listing every problem found.
 */
/** `stack`: the stack's name (the default Kubernetes namespace is named after it). */
export function parseConfig(raw: RawConfig, projectDir: string, files: FileChecks, stack = "dev"): EnvironmentSpec {
    const p = new Problems();
    const defaultNamespace = `dind-compose-${stack.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`.slice(0, 63).replace(/-+$/, "");
    const ns = CONFIG_NAMESPACE;
    for (const k of raw.keys ?? []) {
        if (!NAMESPACE_KEYS.includes(k)) {
            p.add(
                `${ns}:${k} is not a known key (allowed: ${NAMESPACE_KEYS.map((n) => `${ns}:${n}`).join(", ")}); remove it or fix its spelling`,
            );
        }
    }

    const domain = p.string(`${ns}:domain`, raw.domain, DEFAULTS.domain, {
        re: HOSTNAME,
        what: "a DNS name",
        fix: "use lowercase letters, digits, '-' and dots, e.g. project.localhost",
    });

    const gatewayRaw = p.object(`${ns}:gateway`, raw.gateway);
    p.unknownKeys(`${ns}:gateway`, gatewayRaw, ["bindAddress", "httpPort", "httpsPort", "certFile", "keyFile"]);
    const gateway: GatewaySpec = {
        bindAddress: p.string(`${ns}:gateway.bindAddress`, gatewayRaw.bindAddress, DEFAULTS.gateway.bindAddress, {
            re: IPV4,
            what: "an IPv4 address",
            fix: "use 127.0.0.1 (this machine only) or the address of one of its interfaces",
        }),
        httpPort: p.port(`${ns}:gateway.httpPort`, gatewayRaw.httpPort, DEFAULTS.gateway.httpPort) ?? DEFAULTS.gateway.httpPort,
        httpsPort: p.port(`${ns}:gateway.httpsPort`, gatewayRaw.httpsPort, DEFAULTS.gateway.httpsPort) ?? DEFAULTS.gateway.httpsPort,
        tls: parseGatewayTls(p, gatewayRaw, projectDir, files),
    };
    if (gateway.httpPort === gateway.httpsPort) {
        p.add(`${ns}:gateway.httpPort and ${ns}:gateway.httpsPort are both ${gateway.httpPort}; give them different ports`);
    }

    const imagesRaw = p.object(`${ns}:images`, raw.images);
    p.unknownKeys(`${ns}:images`, imagesRaw, ["dind", "nginx"]);
    const imageRule = { re: IMAGE_REF, what: "an image reference", fix: `use name:tag, e.g. ${constants.images.defaults.dind}` };
    const images = {
        dind: p.string(`${ns}:images.dind`, imagesRaw.dind, DEFAULTS.images.dind, imageRule),
        nginx: p.string(`${ns}:images.nginx`, imagesRaw.nginx, DEFAULTS.images.nginx, imageRule),
    };

    const dindRaw = p.object(`${ns}:dind`, raw.dind);
    p.unknownKeys(`${ns}:dind`, dindRaw, ["security", "readyTimeoutSeconds", "resources"]);
    let security: SecurityMode = DEFAULTS.dind.security;
    if (dindRaw.security !== undefined) {
        if (SECURITY_MODES.includes(dindRaw.security as SecurityMode)) {
            security = dindRaw.security as SecurityMode;
        } else {
            p.add(`${ns}:dind.security ${show(dindRaw.security)} is not a security mode; use one of ${SECURITY_MODES.join(", ")}`);
        }
    }
    let readyTimeoutSeconds: number = DEFAULTS.dind.readyTimeoutSeconds;
    if (dindRaw.readyTimeoutSeconds !== undefined) {
        const t = dindRaw.readyTimeoutSeconds;
        if (typeof t === "number" && Number.isInteger(t) && t >= 1 && t <= 3600) {
            readyTimeoutSeconds = t;
        } else {
            p.add(`${ns}:dind.readyTimeoutSeconds ${show(t)} is not a timeout; use whole seconds from 1 to 3600`);
        }
    }

    const defaultResources = parseResources(p, `${ns}:dind.resources`, dindRaw.resources, {});
    const network = parseNetwork(p, raw.network);
    const tlsRaw = p.object(`${ns}:tls`, raw.tls);
    p.unknownKeys(`${ns}:tls`, tlsRaw, ["caDir"]);
    const caDirRaw = p.string(`${ns}:tls.caDir`, tlsRaw.caDir, DEFAULTS.tls.caDir);
    const home = files.homeDir ?? os.homedir();
    const caDir = resolveCaDir(caDirRaw, projectDir, home);
    if (files.isFile(caDir))
        p.add(
            `${ns}:tls.caDir ${show(caDirRaw)}: ${caDir} is a file, not a directory; point it at a directory (made if missing), e.g. ${DEFAULTS.tls.caDir}`,
        );

    let filesSetting: FilesSetting = "auto";
    if (raw.files !== undefined) {
        if (FILES_SETTINGS.includes(raw.files as FilesSetting)) filesSetting = raw.files as FilesSetting;
        else
            p.add(
                `${ns}:files ${show(raw.files)} is not a way to bring the project files; use auto (the default), bind (the engine sees this machine's folders) or sync (copied into a volume, for an engine on another machine)`,
            );
    }

    const engine = parseEngine(p, raw.engine, defaultNamespace);
    const projects = parseProjects(p, raw.projects, domain, projectDir, files, defaultResources);
    projects.forEach((proj, i) =>
        proj.tcp.forEach((t, j) => {
            const gatewayKey = t.hostPort === gateway.httpPort ? "httpPort" : t.hostPort === gateway.httpsPort ? "httpsPort" : undefined;
            if (gatewayKey)
                p.add(`${ns}:projects[${i}].tcp[${j}].hostPort ${t.hostPort} is ${ns}:gateway.${gatewayKey} too; choose another host port`);
        }),
    );

    if (p.list.length > 0) throw new ConfigError(p.list);
    return {
        domain,
        network,
        tls: { caDir },
        gateway,
        images,
        dind: { security, readyTimeoutSeconds },
        files: filesSetting,
        engine,
        projects,
    };
}

/**
 * dind-compose:engine: { kind: docker } (the default: DOCKER_HOST or the docker context), or
 * { kind: kubernetes, context, namespace, storageClass, gatewayService, ingressClass }.
 * Whether the context, namespace and storage class exist is for the preflight to ask the cluster.
 */
function parseEngine(p: Problems, raw: unknown, defaultNamespace: string): EngineSpec {
    const ns = CONFIG_NAMESPACE;
    if (raw === undefined) return { kind: "docker" };
    const e = p.object(`${ns}:engine`, raw);
    const kind = e.kind ?? "docker";
    if (!ENGINE_KINDS.includes(kind as (typeof ENGINE_KINDS)[number])) {
        p.add(`${ns}:engine.kind ${show(kind)} is not an engine; use docker (the default) or kubernetes`);
        return { kind: "docker" };
    }
    if (kind === "docker") {
        p.unknownKeys(`${ns}:engine`, e, ["kind"]);
        return { kind: "docker" };
    }
    p.unknownKeys(`${ns}:engine`, e, ["kind", "context", "namespace", "storageClass", "gatewayService", "ingressClass"]);
    const optional = (key: string): string | undefined => {
        const v = e[key];
        if (v === undefined) return undefined;
        if (typeof v === "string" && v !== "") return v;
        p.add(`${ns}:engine.${key} ${show(v)} is not a name; give a non-empty string or leave it out`);
        return undefined;
    };
    const namespace = p.string(`${ns}:engine.namespace`, e.namespace, defaultNamespace, {
        re: DNS_LABEL,
        what: "a Kubernetes namespace name",
        fix: "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
    });
    const services = ["NodePort", "ClusterIP", "LoadBalancer"] as const;
    let gatewayService: KubernetesEngineSpec["gatewayService"] = "NodePort";
    if (e.gatewayService !== undefined) {
        if (services.includes(e.gatewayService as (typeof services)[number])) gatewayService = e.gatewayService as typeof gatewayService;
        else
            p.add(
                `${ns}:engine.gatewayService ${show(e.gatewayService)} is not a Service type; use NodePort (the default), ClusterIP or LoadBalancer`,
            );
    }
    return {
        kind: "kubernetes",
        context: optional("context"),
        namespace,
        storageClass: optional("storageClass"),
        gatewayService,
        ingressClass: optional("ingressClass"),
    };
}

function parseNetwork(p: Problems, raw: unknown): NetworkSpec {
    const key = `${CONFIG_NAMESPACE}:network`;
    const obj = p.object(key, raw);
    p.unknownKeys(key, obj, ["pool", "subnetSize"]);
    const fallback = parseCidr(DEFAULTS.network.pool) as Cidr;
    const poolText = p.string(`${key}.pool`, obj.pool, DEFAULTS.network.pool);
    let pool = parseCidr(poolText);
    if (pool === undefined || pool.prefix < 8 || pool.prefix > 29) {
        p.add(`${key}.pool ${show(poolText)} is not an IPv4 range from /8 to /29; use one such as ${DEFAULTS.network.pool}`);
        pool = fallback;
    } else if (!isNetworkAddress(poolText)) {
        p.add(`${key}.pool ${show(poolText)} has host bits set; use the network address, ${show(formatCidr(pool))}`);
    }
    let subnetSize: number = DEFAULTS.network.subnetSize;
    if (obj.subnetSize !== undefined) {
        const n = obj.subnetSize;
        if (typeof n === "number" && Number.isInteger(n) && n >= 16 && n <= 29) subnetSize = n;
        else
            p.add(
                `${key}.subnetSize ${show(n)} is not a prefix length from 16 to 29; use 28 (13 addresses per network, the default) or 29 (5)`,
            );
    }
    if (capacity(pool, subnetSize) === 0) {
        p.add(
            `${key}.subnetSize ${subnetSize} is wider than ${key}.pool /${pool.prefix}; use a subnetSize of at least ${pool.prefix}, or a wider pool`,
        );
    }
    return { pool, subnetSize };
}

const MEMORY = /^(\d+(?:\.\d+)?)\s*([bkmg]?)i?b?$/i;
const MEMORY_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** The daemon and containerd alone take 60-150 MiB: less than this cannot run a project. */
const MIN_MEMORY = 64 * 1024 ** 2;

/** `resources: { cpus, memory }`; each unset field falls back to `fallback` (the stack-wide dind.resources). */
function parseResources(p: Problems, key: string, raw: unknown, fallback: ResourcesSpec): ResourcesSpec {
    if (raw === undefined) return fallback;
    const obj = p.object(key, raw);
    p.unknownKeys(key, obj, ["cpus", "memory"]);
    const out: ResourcesSpec = { ...fallback };
    if (obj.cpus !== undefined) {
        const n = typeof obj.cpus === "string" && /^\d+(\.\d+)?$/.test(obj.cpus) ? Number(obj.cpus) : obj.cpus;
        if (typeof n === "number" && n >= 0.01 && n <= 1024) out.cpus = Math.round(n * 100) / 100;
        else p.add(`${key}.cpus ${show(obj.cpus)} is not a number of CPUs; use a number such as 0.5, 1 or 2`);
    }
    if (obj.memory !== undefined) {
        const m =
            typeof obj.memory === "number"
                ? [String(obj.memory), String(obj.memory), ""]
                : typeof obj.memory === "string"
                  ? MEMORY.exec(obj.memory.trim())
                  : null;
        const bytes = m ? Math.floor(Number(m[1]) * MEMORY_UNITS[(m[2] ?? "").toLowerCase()]) : NaN;
        if (!m || !Number.isFinite(bytes))
            p.add(
                `${key}.memory ${show(obj.memory)} is not an amount of memory; use a number of bytes or one with a unit, such as 512m or 2g`,
            );
        else if (bytes < MIN_MEMORY)
            p.add(
                `${key}.memory ${show(obj.memory)} is less than 64m, too little for the project's own daemon (60-150 MiB); give it at least 256m`,
            );
        else out.memory = bytes;
    }
    return out;
}

/** tls.caDir as configured -> an absolute path: `~` is the home directory, relative paths start at the project. */
export function resolveCaDir(value: string, projectDir: string, home: string): string {
    return value === "~" || value.startsWith("~/") ? path.join(home, value.slice(1)) : path.resolve(projectDir, value);
}

function parseGatewayTls(p: Problems, raw: Record<string, unknown>, projectDir: string, files: FileChecks): GatewaySpec["tls"] {
    const key = `${CONFIG_NAMESPACE}:gateway`;
    const certFile = p.string(`${key}.certFile`, raw.certFile, "");
    const keyFile = p.string(`${key}.keyFile`, raw.keyFile, "");
    if (certFile === "" && keyFile === "") return undefined;
    if (certFile === "" || keyFile === "") {
        p.add(
            `${key}: certFile and keyFile go together (got only ${certFile ? "certFile" : "keyFile"}); set both, or neither for a locally generated certificate`,
        );
        return undefined;
    }
    const resolved = { certFile: path.resolve(projectDir, certFile), keyFile: path.resolve(projectDir, keyFile) };
    for (const k of ["certFile", "keyFile"] as const) {
        if (!files.isFile(resolved[k]))
            p.add(
                `${key}.${k} ${show(k === "certFile" ? certFile : keyFile)}: file ${resolved[k]} does not exist; fix the path (PEM file)`,
            );
    }
    return resolved;
}

/** The keys under the `dind-compose:` namespace that the program reads. */
export const NAMESPACE_KEYS = ["projects", "domain", "gateway", "images", "dind", "network", "tls", "files", "engine"];

const PROJECT_KEYS = [
    "name",
    "path",
    "composeFiles",
    "hostname",
    "port",
    "env",
    "preloadImages",
    "daemonPort",
    "routes",
    "tcp",
    "resources",
    "trustCa",
];

function parseProjects(
    p: Problems,
    raw: unknown,
    domain: string,
    projectDir: string,
    files: FileChecks,
    defaultResources: ResourcesSpec,
): ProjectSpec[] {
    const key = `${CONFIG_NAMESPACE}:projects`;
    const example = `e.g. [{ name: a, path: examples/project-a }]`;
    if (raw === undefined) {
        p.add(`${key} is missing; set it to a non-empty list of projects, ${example}`);
        return [];
    }
    if (!Array.isArray(raw) || raw.length === 0) {
        p.add(`${key} must be a non-empty list of projects, got ${show(raw)}; ${example}`);
        return [];
    }

    const projects: ProjectSpec[] = [];
    raw.forEach((entry, i) => {
        const k = `${key}[${i}]`;
        if (!isObject(entry)) {
            p.add(`${k} must be an object with at least name and path, got ${show(entry)}`);
            return;
        }
        p.unknownKeys(k, entry, PROJECT_KEYS);
        const name = p.string(`${k}.name`, entry.name, "", {
            re: DNS_LABEL,
            what: "a DNS label",
            fix: "use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
        });
        if (entry.name === undefined) p.add(`${k}.name is missing; give the project a DNS label, e.g. "a"`);

        const rawPath = p.string(`${k}.path`, entry.path, "");
        let dir = "";
        if (entry.path === undefined) {
            p.add(`${k}.path is missing; set it to the project's directory, relative to ${projectDir} or absolute`);
        } else if (rawPath !== "") {
            dir = path.resolve(projectDir, rawPath);
            if (!files.isDirectory(dir)) {
                p.add(`${k}.path ${show(rawPath)}: directory ${dir} does not exist; fix the path (relative paths start at ${projectDir})`);
                dir = "";
            }
        }

        let composeFiles: string[] = [];
        const listed = p.stringList(`${k}.composeFiles`, entry.composeFiles);
        if (dir !== "") {
            if (entry.composeFiles !== undefined && listed.length > 0) {
                composeFiles = listed.map((f) => path.resolve(dir, f));
                composeFiles.forEach((f, j) => {
                    if (!files.isFile(f))
                        p.add(
                            `${k}.composeFiles[${j}] ${show(listed[j])}: file ${f} does not exist; fix the name or remove the key to use the default`,
                        );
                });
            } else if (entry.composeFiles !== undefined && Array.isArray(entry.composeFiles) && entry.composeFiles.length === 0) {
                p.add(`${k}.composeFiles is an empty list; list at least one file or remove the key to use the default`);
            } else {
                const found = DEFAULT_COMPOSE_FILES.map((f) => path.join(dir, f)).find((f) => files.isFile(f));
                if (found) composeFiles = [found];
                else
                    p.add(
                        `${k}: no compose file in ${dir} (looked for ${DEFAULT_COMPOSE_FILES.join(", ")}); add one or set ${k}.composeFiles`,
                    );
            }
        }

        const hostname = p.string(`${k}.hostname`, entry.hostname, name === "" ? "" : `${name}.${domain}`, {
            re: HOSTNAME,
            what: "a DNS name",
            fix: `use lowercase letters, digits, '-' and dots, e.g. ${name || "a"}.${domain}`,
        });

        const env: Record<string, string> = {};
        const envRaw = p.object(`${k}.env`, entry.env);
        for (const [n, v] of Object.entries(envRaw)) {
            if (!ENV_NAME.test(n))
                p.add(`${k}.env key ${show(n)} is not a variable name; use letters, digits and '_', not starting with a digit`);
            else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") env[n] = String(v);
            else p.add(`${k}.env.${n} must be a string, number or boolean, got ${show(v)}`);
        }

        const preloadImages = p.stringList(`${k}.preloadImages`, entry.preloadImages);
        preloadImages.forEach((img, j) => {
            if (!IMAGE_REF.test(img)) p.add(`${k}.preloadImages[${j}] ${show(img)} is not an image reference; use name:tag`);
        });

        projects.push({
            name,
            dir,
            composeFiles,
            hostname,
            port: p.port(`${k}.port`, entry.port, undefined),
            env,
            preloadImages,
            daemonPort: p.port(`${k}.daemonPort`, entry.daemonPort, undefined, true),
            routes: parseRoutes(p, `${k}.routes`, entry.routes),
            tcp: parseTcp(p, `${k}.tcp`, entry.tcp),
            resources: parseResources(p, `${k}.resources`, entry.resources, defaultResources),
            trustCa: p.boolean(`${k}.trustCa`, entry.trustCa, true),
        });
    });

    reportDuplicates(p, projects, "name", key);
    reportDuplicates(p, projects, "hostname", key);
    reportTakenTwice(
        p,
        projects.flatMap((proj, i) => proj.tcp.map((t, j) => ({ value: t.hostPort, key: `${key}[${i}].tcp[${j}].hostPort` }))),
        "host port",
        "give each its own hostPort",
    );
    const bare = projects.find((proj) => proj.hostname === domain);
    if (bare)
        p.add(
            `${key}: hostname ${show(domain)} of project ${show(bare.name)} is the bare domain, which the gateway keeps for its index page; use a subdomain`,
        );
    return projects;
}

function parseRoutes(p: Problems, key: string, raw: unknown): RouteSpec[] | undefined {
    if (raw === undefined) return undefined;
    if (!Array.isArray(raw)) {
        p.add(`${key} must be a list of routes, got ${show(raw)}; e.g. [{ service: api, port: 8000, hostname: api.a.project.localhost }]`);
        return undefined;
    }
    const routes: RouteSpec[] = [];
    raw.forEach((entry, i) => {
        const k = `${key}[${i}]`;
        if (!isObject(entry)) {
            p.add(`${k} must be an object with at least service, got ${show(entry)}`);
            return;
        }
        p.unknownKeys(k, entry, ["service", "port", "hostname"]);
        if (entry.service === undefined) p.add(`${k}.service is missing; name the compose service the route goes to`);
        const hostname =
            entry.hostname === undefined
                ? undefined
                : p.string(`${k}.hostname`, entry.hostname, "", {
                      re: HOSTNAME,
                      what: "a DNS name",
                      fix: "use lowercase letters, digits, '-' and dots, e.g. api.a.project.localhost",
                  });
        routes.push({
            service: p.string(`${k}.service`, entry.service, ""),
            port: p.port(`${k}.port`, entry.port, undefined),
            hostname: hostname || undefined,
        });
    });
    return routes;
}

function parseTcp(p: Problems, key: string, raw: unknown): TcpSpec[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
        p.add(`${key} must be a list, got ${show(raw)}; e.g. [{ port: 5432, hostPort: 15432 }]`);
        return [];
    }
    const out: TcpSpec[] = [];
    raw.forEach((entry, i) => {
        const k = `${key}[${i}]`;
        if (!isObject(entry)) {
            p.add(`${k} must be an object { port, hostPort }, got ${show(entry)}`);
            return;
        }
        p.unknownKeys(k, entry, ["port", "hostPort"]);
        if (entry.port === undefined) p.add(`${k}.port is missing; set it to the inner published port, e.g. 5432`);
        if (entry.hostPort === undefined) p.add(`${k}.hostPort is missing; set it to the port to open on the host, e.g. 15432`);
        const port = p.port(`${k}.port`, entry.port, undefined);
        const hostPort = p.port(`${k}.hostPort`, entry.hostPort, undefined);
        if (port !== undefined && hostPort !== undefined) out.push({ port, hostPort });
    });
    reportTakenTwice(
        p,
        out.map((t, j) => ({ value: t.port, key: `${key}[${j}].port` })),
        "inner port",
        "open each inner port once",
    );
    return out;
}

/** Reports every value that a later entry takes again, naming both keys. */
function reportTakenTwice(p: Problems, entries: { value: string | number; key: string }[], what: string, fix: string): void {
    const seen = new Map<string | number, string>();
    for (const e of entries) {
        const first = seen.get(e.value);
        if (first === undefined) seen.set(e.value, e.key);
        else p.add(`${e.key} ${show(e.value)}: ${what} already taken by ${first}; ${fix}`);
    }
}

function reportDuplicates(p: Problems, projects: ProjectSpec[], field: "name" | "hostname", key: string): void {
    const seen = new Map<string, number>();
    projects.forEach((proj, i) => {
        const v = proj[field];
        if (v === "") return;
        const first = seen.get(v);
        if (first === undefined) seen.set(v, i);
        else p.add(`${key}[${i}].${field} ${show(v)} is already used by ${key}[${first}]; each project needs its own ${field}`);
    });
}
