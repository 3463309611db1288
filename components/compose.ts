// Reads the compose model of a child project and derives from it what the
// program needs: the host paths the dind daemon must see at the same absolute
// path, the port the gateway routes to, and a readable, stable summary whose
// keys name each service field, so `pulumi preview --diff` shows what changed.
//
// Two readers produce the same `ComposeModel`:
// - `readComposeModel`, written by hand with `yaml`: merge of several files,
//   `.env` and interpolation, short and long syntax, paths resolved against
//   the project directory. It works without any Docker engine (unit tests,
//   `pulumi preview` on a machine without one).
// - `normalizeComposeConfigJson`, over what `docker compose config --format
//   json` prints: compose's own canonical model. The integration suite checks
//   the first against the second with `compareModels`.
//
// Pure: files are read only through the injected `ComposeFs` / `TreeFs`
// (defaulting to node's fs), and `process.env` is never consulted, so the same
// files and the same `env` always give the same model.
import { createHash } from "crypto";
import * as nodeFs from "fs";
import * as path from "path";
import { Document, isMap, isNode, isScalar, LineCounter, parseDocument, visit, YAMLError } from "yaml";

/** A JSON value: what compose fields we keep verbatim are made of. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A published or exposed port, from short (`"127.0.0.1:8080:80/udp"`) or long syntax. */
export interface PortModel {
    /** Container port. */
    target: number;
    /** Port on the daemon's host (for us: inside the dind container); undefined when compose picks none. */
    published?: number;
    /** Host address the port is bound to; undefined: every address. */
    host_ip?: string;
    /** `tcp`, `udp` or `sctp`. */
    protocol: string;
}

/** The volume types this reader understands. */
export type VolumeType = "bind" | "volume" | "tmpfs";

/** A service mount, from short (`./web:/app:ro`) or long syntax. */
export interface VolumeModel {
    type: VolumeType;
    /** Absolute host path for binds; the volume name for named volumes; undefined for anonymous volumes and tmpfs. */
    source?: string;
    /** Path inside the container. */
    target: string;
    read_only: boolean;
    /** `bind`, `volume`, `tmpfs` sub-options and `consistency`, as in long syntax; undefined when there are none. */
    options?: JsonObject;
}

/** A service's `build` section. */
export interface BuildModel {
    /** Absolute build context directory, or a remote (git/URL) context as written. */
    context: string;
    /** Absolute Dockerfile path (relative to a remote context as written); undefined with `dockerfile_inline`. */
    dockerfile?: string;
    /** Build args; null: taken from the builder's environment. */
    args: Record<string, string | null>;
    /** Every other build key (target, dockerfile_inline, ...), verbatim. */
    extra: JsonObject;
}

/** One service of the merged, interpolated model. */
export interface ServiceModel {
    image?: string;
    build?: BuildModel;
    /** As written: a string or a list. */
    command?: Json;
    /** As written: a string or a list. */
    entrypoint?: Json;
    /**
     * The container's environment, sorted by name: the `env_file` contents overridden by `environment`
     * (what compose itself hands the container; `docker compose config` prints the same).
     * null: declared without a value and not set in the interpolation environment.
     */
    environment: Record<string, string | null>;
    /** Absolute env file paths, in order. */
    env_file: string[];
    ports: PortModel[];
    volumes: VolumeModel[];
    /** Dependency name -> options; `condition` always set (default `service_started`). */
    depends_on: Record<string, JsonObject>;
    healthcheck?: JsonObject;
    restart?: string;
    /** Network name -> options ({} when none). */
    networks: Record<string, JsonObject>;
    /** Sorted by name. */
    labels: Record<string, string>;
    /** Every other service key (x-* included), verbatim after interpolation. */
    extra: JsonObject;
}

/** The compose model of one project: what matters for mounts, routing and diffs. */
export interface ComposeModel {
    /** In file order (first file's order, then services new in later files). */
    services: Record<string, ServiceModel>;
    volumes: Record<string, JsonObject>;
    networks: Record<string, JsonObject>;
    /** `file` resolved to an absolute path. */
    configs: Record<string, JsonObject>;
    /** `file` resolved to an absolute path. */
    secrets: Record<string, JsonObject>;
}

/** A compose file that cannot be read, parsed or understood; the message names the file, line and key. */
export class ComposeError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ComposeError";
    }
}

/** What `readComposeModel` may ask of the file system (injected, so tests need no files). */
export interface ComposeFs {
    /** Text of a file; throws when it cannot be read. */
    readFile(p: string): string;
    /** Whether the file exists (a missing `.env` or optional env_file is no error). */
    exists(p: string): boolean;
}

/** `ComposeFs` over node's fs. */
export const nodeComposeFs: ComposeFs = {
    readFile: (p) => nodeFs.readFileSync(p, "utf8"),
    exists: (p) => nodeFs.existsSync(p),
};

/** Options of `readComposeModel`. */
export interface ReadComposeOptions {
    /**
     * Directory that relative paths resolve against and where `.env` is read; pass the directory given
     * to `docker compose --project-directory`.
     * @default the directory of the first compose file (what compose itself does)
     */
    projectDir?: string;
    /** Called once per variable used but not set (compose prints the same warning). @default ignore */
    onWarning?: (message: string) => void;
}

/** Looks a variable up; undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

type KeyPath = (string | number)[];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const own = (rec: Record<string, string>, key: string): string | undefined => (Object.hasOwn(rec, key) ? rec[key] : undefined);
const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

// ---------------------------------------------------------------------------
// Interpolation

class InterpolationError extends Error {}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Substitutes variables the way compose does: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}` (defaults may nest
 * `${...}`), and `$$` for a literal `$`. A `$` followed by anything else stays as it is.
 * @param onUnset called for each plain reference to a variable that is not set (it becomes "").
 * @throws Error for a malformed `${...}` or a required variable that is missing.
 */
export function interpolate(text: string, lookup: Lookup, onUnset: (name: string) => void = () => undefined): string {
    let out = "";
    let i = 0;
    while (i < text.length) {
        const c = text[i];
        if (c !== "$") {
            out += c;
            i++;
            continue;
        }
        const next = text[i + 1];
        if (next === "$") {
            out += "$";
            i += 2;
        } else if (next === "{") {
            const end = closingBrace(text, i + 2);
            if (end < 0) throw new InterpolationError(`invalid interpolation format in ${show(text)}: "\${" without a closing "}"`);
            out += expandBraced(text.slice(i + 2, end), text, lookup, onUnset);
            i = end + 1;
        } else {
            const m = VAR_NAME.exec(text.slice(i + 1));
            if (m) {
                const value = lookup(m[0]);
                if (value === undefined) onUnset(m[0]);
                out += value ?? "";
                i += 1 + m[0].length;
            } else {
                out += "$";
                i++;
            }
        }
    }
    return out;
}

function closingBrace(text: string, from: number): number {
    let depth = 1;
    for (let j = from; j < text.length; j++) {
        if (text[j] === "$" && (text[j + 1] === "{" || text[j + 1] === "$")) {
            if (text[j + 1] === "{") depth++;
            j++;
        } else if (text[j] === "}") {
            depth--;
            if (depth === 0) return j;
        }
    }
    return -1;
}

function expandBraced(inner: string, whole: string, lookup: Lookup, onUnset: (name: string) => void): string {
    const m = VAR_NAME.exec(inner);
    if (!m) throw new InterpolationError(`invalid interpolation format in ${show(whole)}: "\${${inner}}" does not start with a variable name`);
    const name = m[0];
    const rest = inner.slice(name.length);
    const value = lookup(name);
    if (rest === "") {
        if (value === undefined) onUnset(name);
        return value ?? "";
    }
    const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest);
    if (!op) {
        throw new InterpolationError(`invalid interpolation format in ${show(whole)}: "\${${inner}}"; after the name use :-, -, :?, ?, :+ or +`);
    }
    const arg = (): string => interpolate(rest.slice(op[0].length), lookup, onUnset);
    const unsetOrEmpty = value === undefined || value === "";
    const required = (): never => {
        const why = arg();
        throw new InterpolationError(`required variable ${name} is missing a value${why === "" ? "" : `: ${why}`}`);
    };
    switch (op[0]) {
        case ":-":
            return unsetOrEmpty ? arg() : (value ?? "");
        case "-":
            return value === undefined ? arg() : value;
        case ":?":
            return unsetOrEmpty ? required() : (value ?? "");
        case "?":
            return value === undefined ? required() : value;
        case ":+":
            return unsetOrEmpty ? "" : arg();
        default:
            return value === undefined ? "" : arg();
    }
}

/**
 * Parses a dotenv file as compose does for `.env` and `env_file`: `KEY=VALUE` lines, `export ` prefix,
 * `#` comments (also after an unquoted value, when preceded by a space), single quotes (literal),
 * double quotes (escapes `\n \t \r \\ \" \$`, may span lines), interpolation in unquoted and
 * double-quoted values. A bare `KEY` takes its value from `lookup`, if set.
 * @param lookup variables for interpolation; they win over earlier lines of the same file.
 * @param where the file name, for error messages.
 */
export function parseDotEnv(text: string, lookup: Lookup, where: string): Record<string, string> {
    const out: Record<string, string> = {};
    const vars: Lookup = (k) => lookup(k) ?? own(out, k);
    const lines = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").split("\n");
    for (let n = 0; n < lines.length; n++) {
        const lineNo = n + 1;
        let line = lines[n].trimStart();
        if (line.trim() === "" || line.startsWith("#")) continue;
        line = line.replace(/^export\s+/, "");
        const m = /^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*(?:=[ \t]*(.*))?$/.exec(line);
        if (!m) throw new ComposeError(`${where}:${lineNo}: ${show(lines[n])} is not KEY=VALUE`);
        const key = m[1];
        const interp = (s: string): string => {
            try {
                return interpolate(s, vars);
            } catch (e) {
                throw e instanceof InterpolationError ? new ComposeError(`${where}:${lineNo}: ${key}: ${e.message}`) : e;
            }
        };
        if (m[2] === undefined) {
            const v = lookup(key);
            if (v !== undefined) out[key] = v;
            continue;
        }
        const raw = m[2];
        const quote = raw[0];
        if (quote === '"' || quote === "'") {
            let body = raw.slice(1);
            let close = closingQuote(body, quote);
            while (close < 0 && n + 1 < lines.length) {
                n++;
                body += `\n${lines[n]}`;
                close = closingQuote(body, quote);
            }
            if (close < 0) throw new ComposeError(`${where}:${lineNo}: the value of ${key} opens a ${quote} quote that is never closed`);
            const content = body.slice(0, close);
            out[key] = quote === "'" ? content : interp(unescapeDoubleQuoted(content));
        } else {
            const comment = raw.search(/\s#/);
            out[key] = interp((comment >= 0 ? raw.slice(0, comment) : raw).trim());
        }
    }
    return out;
}

function closingQuote(body: string, quote: string): number {
    if (quote === "'") return body.indexOf("'");
    for (let i = 0; i < body.length; i++) {
        if (body[i] === "\\") i++;
        else if (body[i] === '"') return i;
    }
    return -1;
}

function unescapeDoubleQuoted(s: string): string {
    const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"', $: "$$" };
    return s.replace(/\\(.)/g, (all, c: string) => escapes[c] ?? all);
}

// ---------------------------------------------------------------------------
// Per-file context: where a key is, for error messages

class FileContext {
    constructor(
        readonly file: string,
        readonly projectDir: string,
        private readonly doc?: Document,
        private readonly lines?: LineCounter,
    ) {}

    /** `file:line:col: services.web.ports[1]` (line and column of the nearest node that exists). */
    at(p: KeyPath): string {
        return `${this.file}${this.position(p)}:${p.length > 0 ? ` ${formatKeyPath(p)}` : ""}`;
    }

    fail(p: KeyPath, message: string): never {
        throw new ComposeError(`${this.at(p)} ${message}`);
    }

    private position(p: KeyPath): string {
        if (!this.doc || !this.lines) return "";
        for (let k = p.length; k >= 0; k--) {
            const node = k === 0 ? this.doc.contents : this.doc.getIn(p.slice(0, k), true);
            if (isNode(node) && node.range) {
                const pos = this.lines.linePos(node.range[0]);
                return `:${pos.line}:${pos.col}`;
            }
        }
        return "";
    }
}

function formatKeyPath(p: KeyPath): string {
    return p.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

/** Formats a `yaml` parse error as `file:line:col: message` followed by yaml's excerpt of the line. */
function formatYamlError(file: string, e: YAMLError): string {
    const pos = e.linePos?.[0];
    const [first, ...excerpt] = e.message.split("\n");
    const what = first.replace(/ at line \d+, column \d+:?$/, "");
    return `${file}${pos ? `:${pos.line}:${pos.col}` : ""}: ${what} (${e.code})${excerpt.length > 0 ? `\n${excerpt.join("\n").trimEnd()}` : ""}`;
}

/**
 * The first YAML syntax error of a compose file's text, with its exact place (`file:line:col`) and
 * yaml's excerpt of the line; undefined when the text parses. For messages: compose's own YAML
 * errors (go-yaml) often give the line where the enclosing block starts, not the bad line.
 */
export function yamlSyntaxError(text: string, file: string): { where: string; message: string } | undefined {
    const doc = parseDocument(text, { lineCounter: new LineCounter(), merge: true, prettyErrors: true });
    const e = doc.errors[0];
    if (e === undefined) return undefined;
    const pos = e.linePos?.[0];
    return { where: pos ? `${file}:${pos.line}:${pos.col}` : file, message: formatYamlError(file, e) };
}

interface LoadedFile {
    ctx: FileContext;
    raw: unknown;
    /** service -> attributes tagged `!reset` / `!override` in this file. */
    reset: Map<string, Set<string>>;
    override: Map<string, Set<string>>;
}

/** Parses YAML (or JSON) text, reporting every syntax error with file, line and column; optionally interpolates values. */
function loadText(text: string, file: string, projectDir: string, interp?: (value: string) => string): LoadedFile {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, merge: true, prettyErrors: true });
    if (doc.errors.length > 0) {
        throw new ComposeError(`${file} is not valid YAML:\n${doc.errors.map((e) => formatYamlError(file, e)).join("\n")}`);
    }
    const ctx = new FileContext(file, projectDir, doc, lines);
    if (interp) {
        // Values only, like compose: keys are never interpolated.
        visit(doc, {
            Scalar(key, node, ancestors) {
                if (key === "key" || typeof node.value !== "string") return;
                try {
                    node.value = interp(node.value);
                } catch (e) {
                    if (!(e instanceof InterpolationError)) throw e;
                    const keys = ancestors.flatMap((a) => ("key" in a && isScalar(a.key) ? [String(a.key.value)] : []));
                    const pos = node.range ? lines.linePos(node.range[0]) : undefined;
                    throw new ComposeError(`${file}${pos ? `:${pos.line}:${pos.col}` : ""}: ${keys.join(".")}: ${e.message}`);
                }
            },
        });
    }
    const reset = new Map<string, Set<string>>();
    const override = new Map<string, Set<string>>();
    const services = doc.get("services", true);
    if (isMap(services)) {
        for (const svc of services.items) {
            if (!isScalar(svc.key) || !isMap(svc.value)) continue;
            const name = String(svc.key.value);
            for (const attr of svc.value.items) {
                const tag = isNode(attr.value) ? attr.value.tag : undefined;
                const target = tag === "!reset" ? reset : tag === "!override" ? override : undefined;
                if (target && isScalar(attr.key)) {
                    const set = target.get(name) ?? new Set<string>();
                    set.add(String(attr.key.value));
                    target.set(name, set);
                }
            }
        }
    }
    return { ctx, raw: doc.toJS(), reset, override };
}

// ---------------------------------------------------------------------------
// From raw YAML values to a per-file patch of the model

interface EnvFileRef {
    path: string;
    required: boolean;
}

interface BuildPatch {
    context?: string;
    dockerfile?: string;
    args?: Record<string, string | null>;
    extra: JsonObject;
}

/** What one file says about one service; undefined: the file does not set the attribute. */
interface ServicePatch {
    image?: string;
    build?: BuildPatch;
    command?: Json;
    entrypoint?: Json;
    environment?: Record<string, string | null>;
    envFiles?: EnvFileRef[];
    ports?: PortModel[];
    volumes?: VolumeModel[];
    depends_on?: Record<string, JsonObject>;
    healthcheck?: JsonObject;
    restart?: string;
    networks?: Record<string, JsonObject>;
    labels?: Record<string, string>;
    extra: JsonObject;
    /** Attributes this file tags `!reset` (dropped) or `!override` (replaced, not merged). */
    reset: Set<string>;
    override: Set<string>;
}

interface ModelPatch {
    services: Record<string, ServicePatch>;
    volumes: Record<string, JsonObject>;
    networks: Record<string, JsonObject>;
    configs: Record<string, JsonObject>;
    secrets: Record<string, JsonObject>;
}

const emptyPatch = (): ServicePatch => ({ extra: {}, reset: new Set(), override: new Set() });
const emptyModelPatch = (): ModelPatch => ({ services: {}, volumes: {}, networks: {}, configs: {}, secrets: {} });

function toJson(ctx: FileContext, p: KeyPath, v: unknown): Json {
    if (v === null || v === undefined) return null;
    if (typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return v.map((x, i) => toJson(ctx, [...p, i], x));
    if (isRecord(v)) {
        const out: JsonObject = {};
        for (const [k, x] of Object.entries(v)) out[k] = toJson(ctx, [...p, k], x);
        return out;
    }
    return ctx.fail(p, `has a value of an unexpected kind: ${String(v)}`);
}

function jsonObject(ctx: FileContext, p: KeyPath, v: unknown): JsonObject {
    if (v === null || v === undefined) return {};
    if (!isRecord(v)) return ctx.fail(p, `must be a mapping, got ${show(v)}`);
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = toJson(ctx, [...p, k], x);
    return out;
}

/** A scalar as compose reads it into a string field: numbers and booleans as written. */
function scalar(ctx: FileContext, p: KeyPath, v: unknown): string {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return ctx.fail(p, `must be a string, got ${show(v)}`);
}

function stringList(ctx: FileContext, p: KeyPath, v: unknown): unknown[] {
    if (v === null || v === undefined) return [];
    if (!Array.isArray(v)) return ctx.fail(p, `must be a list, got ${show(v)}`);
    return v;
}

/** `[K=V, K]` or `{K: V, K: null}` -> record; a bare `K` (null) is resolved later. */
function keyValues(ctx: FileContext, p: KeyPath, v: unknown): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    if (v === null || v === undefined) return out;
    if (Array.isArray(v)) {
        v.forEach((entry, i) => {
            const s = scalar(ctx, [...p, i], entry);
            const eq = s.indexOf("=");
            if (eq < 0) out[s] = null;
            else out[s.slice(0, eq)] = s.slice(eq + 1);
        });
        return out;
    }
    if (!isRecord(v)) return ctx.fail(p, `must be a list of KEY=VALUE or a mapping, got ${show(v)}`);
    for (const [k, x] of Object.entries(v)) out[k] = x === null ? null : scalar(ctx, [...p, k], x);
    return out;
}

function hostPath(ctx: FileContext, p: KeyPath, raw: string): string {
    if (raw === "~" || raw.startsWith("~/")) {
        ctx.fail(p, `${show(raw)} starts with "~": home-relative paths are not supported here (the daemon's home is not yours); use a path relative to the project directory or an absolute one`);
    }
    return path.resolve(ctx.projectDir, raw);
}

const REMOTE_CONTEXT = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/|git@|github\.com\/)/;

function buildPatch(ctx: FileContext, p: KeyPath, v: unknown): BuildPatch {
    if (typeof v === "string") return { context: REMOTE_CONTEXT.test(v) ? v : hostPath(ctx, p, v), extra: {} };
    if (!isRecord(v)) return ctx.fail(p, `must be a context path or a mapping, got ${show(v)}`);
    const out: BuildPatch = { extra: {} };
    for (const [k, x] of Object.entries(v)) {
        const kp = [...p, k];
        if (k === "context") {
            const c = scalar(ctx, kp, x);
            out.context = REMOTE_CONTEXT.test(c) ? c : hostPath(ctx, kp, c);
        } else if (k === "dockerfile") out.dockerfile = scalar(ctx, kp, x);
        else if (k === "args") out.args = keyValues(ctx, kp, x);
        else out.extra[k] = toJson(ctx, kp, x);
    }
    return out;
}

const PROTOCOLS = ["tcp", "udp", "sctp"];

function portNumber(ctx: FileContext, p: KeyPath, v: unknown, what: string, spec: unknown): number {
    const s = typeof v === "number" ? String(v) : typeof v === "string" ? v.trim() : "";
    if (/^\d+-\d+$/.test(s)) {
        ctx.fail(p, `${show(spec)} has a port range (${s}); ranges are not supported by dind-compose's compose reader, list each port instead`);
    }
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 65535) ctx.fail(p, `${show(spec)}: ${what} ${show(v)} is not a port number (1-65535)`);
    return n;
}

/** Short syntax: `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, HOST_IP possibly `[v6]`. */
function shortPort(ctx: FileContext, p: KeyPath, spec: string | number): PortModel {
    let s = String(spec).trim();
    let protocol = "tcp";
    const slash = s.lastIndexOf("/");
    if (slash >= 0) {
        protocol = s.slice(slash + 1).toLowerCase();
        s = s.slice(0, slash);
    }
    if (!PROTOCOLS.includes(protocol)) ctx.fail(p, `${show(spec)}: protocol ${show(protocol)} is not one of ${PROTOCOLS.join(", ")}`);
    let hostIp: string | undefined;
    if (s.startsWith("[")) {
        const close = s.indexOf("]");
        if (close < 0 || s[close + 1] !== ":") ctx.fail(p, `${show(spec)} is not [HOST_IP]:[PUBLISHED]:TARGET`);
        hostIp = s.slice(1, close);
        s = s.slice(close + 2);
    }
    const parts = s.split(":");
    let published: string | undefined;
    let target: string;
    if (parts.length === 1) target = parts[0];
    else if (parts.length === 2) [published, target] = parts;
    else if (parts.length === 3 && hostIp === undefined) [hostIp, published, target] = parts;
    else return ctx.fail(p, `${show(spec)} is not [HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`);
    const port: PortModel = { target: portNumber(ctx, p, target, "target", spec), protocol };
    if (published !== undefined && published !== "") port.published = portNumber(ctx, p, published, "published port", spec);
    if (hostIp !== undefined && hostIp !== "") port.host_ip = hostIp;
    return port;
}

function longPort(ctx: FileContext, p: KeyPath, v: Record<string, unknown>): PortModel {
    if (v.target === undefined) ctx.fail(p, `has no target port`);
    const protocol = v.protocol === undefined ? "tcp" : scalar(ctx, [...p, "protocol"], v.protocol).toLowerCase();
    if (!PROTOCOLS.includes(protocol)) ctx.fail([...p, "protocol"], `${show(protocol)} is not one of ${PROTOCOLS.join(", ")}`);
    const port: PortModel = { target: portNumber(ctx, [...p, "target"], v.target, "target", v), protocol };
    if (v.published !== undefined && v.published !== null && v.published !== "") {
        port.published = portNumber(ctx, [...p, "published"], v.published, "published port", v);
    }
    if (v.host_ip !== undefined && v.host_ip !== null && v.host_ip !== "") port.host_ip = scalar(ctx, [...p, "host_ip"], v.host_ip);
    return port;
}

const PROPAGATION = ["shared", "rshared", "slave", "rslave", "private", "rprivate"];
const CONSISTENCY = ["consistent", "cached", "delegated"];

/** Short syntax: `TARGET`, `SOURCE:TARGET[:MODES]`; SOURCE is a host path when it starts with `.`, `/` or `~`. */
function shortVolume(ctx: FileContext, p: KeyPath, spec: string): VolumeModel {
    const parts = spec.split(":");
    if (parts.some((x) => x === "") || parts.length > 3) ctx.fail(p, `${show(spec)} is not [SOURCE:]TARGET[:MODE]`);
    if (parts.length === 1) return { type: "volume", target: parts[0], read_only: false };
    const [source, target, modes] = parts;
    const isPath = source.startsWith(".") || source.startsWith("/") || source.startsWith("~");
    const vol: VolumeModel = isPath
        ? { type: "bind", source: hostPath(ctx, p, source), target, read_only: false }
        : { type: "volume", source, target, read_only: false };
    const bind: JsonObject = {};
    const volume: JsonObject = {};
    let consistency: string | undefined;
    for (const mode of modes === undefined ? [] : modes.split(",")) {
        if (mode === "ro") vol.read_only = true;
        else if (mode === "rw") vol.read_only = false;
        else if (mode === "z" || mode === "Z") bind.selinux = mode;
        else if (PROPAGATION.includes(mode)) bind.propagation = mode;
        else if (mode === "nocopy") volume.nocopy = true;
        else if (CONSISTENCY.includes(mode)) consistency = mode;
        else ctx.fail(p, `${show(spec)}: mode ${show(mode)} is not one of ro, rw, z, Z, nocopy, ${PROPAGATION.join(", ")}, ${CONSISTENCY.join(", ")}`);
    }
    const options: JsonObject = {};
    if (Object.keys(bind).length > 0) options.bind = bind;
    if (Object.keys(volume).length > 0) options.volume = volume;
    if (consistency !== undefined) options.consistency = consistency;
    if (Object.keys(options).length > 0) vol.options = options;
    return vol;
}

function longVolume(ctx: FileContext, p: KeyPath, v: Record<string, unknown>): VolumeModel {
    const type = v.type;
    if (type !== "bind" && type !== "volume" && type !== "tmpfs") {
        return ctx.fail([...p, "type"], `${show(type)} is not a volume type this reader supports (bind, volume, tmpfs)`);
    }
    if (v.target === undefined || v.target === null) ctx.fail(p, `has no target`);
    const target = scalar(ctx, [...p, "target"], v.target);
    const vol: VolumeModel = { type, target, read_only: v.read_only === true || v.read_only === "true" };
    const hasSource = v.source !== undefined && v.source !== null && v.source !== "";
    if (type === "bind") {
        if (!hasSource) ctx.fail(p, `is a bind mount without a source`);
        vol.source = hostPath(ctx, [...p, "source"], scalar(ctx, [...p, "source"], v.source));
    } else if (type === "volume" && hasSource) {
        vol.source = scalar(ctx, [...p, "source"], v.source);
    }
    const options: JsonObject = {};
    for (const key of ["bind", "volume", "tmpfs"]) {
        const sub = jsonObject(ctx, [...p, key], v[key]);
        // compose's default for binds; canonical output spells it out, short syntax implies it
        delete sub.create_host_path;
        if (Object.keys(sub).length > 0) options[key] = sub;
    }
    if (typeof v.consistency === "string" && v.consistency !== "") options.consistency = v.consistency;
    if (Object.keys(options).length > 0) vol.options = options;
    return vol;
}

function envFileRefs(ctx: FileContext, p: KeyPath, v: unknown): EnvFileRef[] {
    const entries = typeof v === "string" ? [v] : stringList(ctx, p, v);
    return entries.map((e, i) => {
        const ep = typeof v === "string" ? p : [...p, i];
        if (typeof e === "string") return { path: hostPath(ctx, ep, e), required: true };
        if (isRecord(e) && typeof e.path === "string") {
            return { path: hostPath(ctx, [...ep, "path"], e.path), required: e.required !== false && e.required !== "false" };
        }
        return ctx.fail(ep, `must be a path or {path, required}, got ${show(e)}`);
    });
}

function dependsOn(ctx: FileContext, p: KeyPath, v: unknown): Record<string, JsonObject> {
    const out: Record<string, JsonObject> = {};
    if (Array.isArray(v)) {
        v.forEach((d, i) => (out[scalar(ctx, [...p, i], d)] = { condition: "service_started" }));
        return out;
    }
    for (const [name, opts] of Object.entries(jsonObject(ctx, p, v))) {
        const o: JsonObject = isRecord(opts) ? { ...opts } : {};
        o.condition = typeof o.condition === "string" ? o.condition : "service_started";
        // compose's default, printed by `docker compose config`
        if (o.required === true) delete o.required;
        out[name] = o;
    }
    return out;
}

function networks(ctx: FileContext, p: KeyPath, v: unknown): Record<string, JsonObject> {
    const out: Record<string, JsonObject> = {};
    if (Array.isArray(v)) {
        v.forEach((n, i) => (out[scalar(ctx, [...p, i], n)] = {}));
        return out;
    }
    for (const [name, opts] of Object.entries(jsonObject(ctx, p, v))) out[name] = isRecord(opts) ? opts : {};
    return out;
}

function servicePatch(ctx: FileContext, name: string, v: unknown, reset: Set<string>, override: Set<string>): ServicePatch {
    const p: KeyPath = ["services", name];
    if (v !== null && v !== undefined && !isRecord(v)) ctx.fail(p, `must be a mapping, got ${show(v)}`);
    const out: ServicePatch = { extra: {}, reset, override };
    for (const [k, x] of Object.entries(isRecord(v) ? v : {})) {
        const kp = [...p, k];
        // `!reset` drops the attribute whatever its value; null sets nothing
        if (reset.has(k) || x === null) continue;
        switch (k) {
            case "image":
                out.image = scalar(ctx, kp, x);
                break;
            case "build":
                out.build = buildPatch(ctx, kp, x);
                break;
            case "command":
            case "entrypoint":
                out[k] = toJson(ctx, kp, x);
                break;
            case "environment":
                out.environment = keyValues(ctx, kp, x);
                break;
            case "env_file":
                out.envFiles = envFileRefs(ctx, kp, x);
                break;
            case "ports":
                out.ports = stringList(ctx, kp, x).map((e, i) =>
                    typeof e === "string" || typeof e === "number"
                        ? shortPort(ctx, [...kp, i], e)
                        : isRecord(e)
                          ? longPort(ctx, [...kp, i], e)
                          : ctx.fail([...kp, i], `must be a port spec or a mapping, got ${show(e)}`),
                );
                break;
            case "volumes":
                out.volumes = stringList(ctx, kp, x).map((e, i) =>
                    typeof e === "string"
                        ? shortVolume(ctx, [...kp, i], e)
                        : isRecord(e)
                          ? longVolume(ctx, [...kp, i], e)
                          : ctx.fail([...kp, i], `must be a volume spec or a mapping, got ${show(e)}`),
                );
                break;
            case "depends_on":
                out.depends_on = dependsOn(ctx, kp, x);
                break;
            case "healthcheck":
                out.healthcheck = jsonObject(ctx, kp, x);
                break;
            case "restart":
                out.restart = scalar(ctx, kp, x);
                break;
            case "networks":
                out.networks = networks(ctx, kp, x);
                break;
            case "labels": {
                const labels: Record<string, string> = {};
                for (const [l, lv] of Object.entries(keyValues(ctx, kp, x))) labels[l] = lv ?? "";
                out.labels = labels;
                break;
            }
            default:
                out.extra[k] = toJson(ctx, kp, x);
        }
    }
    return out;
}

function fileAsPatch(loaded: LoadedFile): ModelPatch {
    const { ctx, raw } = loaded;
    if (raw === null || raw === undefined) return emptyModelPatch();
    if (!isRecord(raw)) return ctx.fail([], `the top level must be a mapping (services:, volumes:, ...), got ${show(raw)}`);
    if (raw.include !== undefined) ctx.fail(["include"], `is not supported by dind-compose's compose reader; merge the files with composeFiles instead`);
    const out = emptyModelPatch();
    const services = raw.services;
    if (services !== null && services !== undefined && !isRecord(services)) ctx.fail(["services"], `must be a mapping of service names to services`);
    for (const [name, svc] of Object.entries(isRecord(services) ? services : {})) {
        out.services[name] = servicePatch(ctx, name, svc, loaded.reset.get(name) ?? new Set(), loaded.override.get(name) ?? new Set());
    }
    for (const section of ["volumes", "networks", "configs", "secrets"] as const) {
        for (const [name, def] of Object.entries(jsonObject(ctx, [section], raw[section]))) {
            const obj = def === null ? {} : isRecord(def) ? def : ctx.fail([section, name], `must be a mapping, got ${show(def)}`);
            if ((section === "configs" || section === "secrets") && typeof obj.file === "string") {
                out[section][name] = { ...obj, file: hostPath(ctx, [section, name, "file"], obj.file) };
            } else {
                out[section][name] = obj;
            }
        }
    }
    return out;
}

// ---------------------------------------------------------------------------
// Merging, compose's rules for the fields we keep

/** Maps merge key by key, lists append, scalars are replaced; `x-*` keys are replaced whole. */
function mergeJson(a: Json | undefined, b: Json): Json {
    if (isRecord(a) && isRecord(b)) {
        const out: JsonObject = { ...a };
        for (const [k, v] of Object.entries(b)) out[k] = k.startsWith("x-") || !(k in out) ? v : mergeJson(out[k], v);
        return out;
    }
    if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
    return b;
}

function mergeObjects<T extends Json>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined {
    if (a === undefined || b === undefined) return b ?? a;
    const out: Record<string, T> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = (k in out ? mergeJson(out[k], v) : v) as T;
    return out;
}

/** Appends, and an entry whose key is already there replaces the earlier one in place (compose's "unique resources"). */
function mergeUnique<T>(a: T[] | undefined, b: T[] | undefined, key: (x: T) => string): T[] | undefined {
    if (a === undefined || b === undefined) return b ?? a;
    const out = [...a];
    for (const x of b) {
        const i = out.findIndex((y) => key(y) === key(x));
        if (i >= 0) out[i] = x;
        else out.push(x);
    }
    return out;
}

const portKey = (p: PortModel): string => `${p.host_ip ?? ""}:${p.published ?? ""}:${p.target}/${p.protocol}`;

const PATCH_ATTRS: Record<string, keyof ServicePatch> = {
    image: "image",
    build: "build",
    command: "command",
    entrypoint: "entrypoint",
    environment: "environment",
    env_file: "envFiles",
    ports: "ports",
    volumes: "volumes",
    depends_on: "depends_on",
    healthcheck: "healthcheck",
    restart: "restart",
    networks: "networks",
    labels: "labels",
};

/** `over` (a later file) merged onto `base`. */
function mergePatch(base: ServicePatch, over: ServicePatch): ServicePatch {
    const b: ServicePatch = { ...base, extra: { ...base.extra } };
    for (const attr of [...over.reset, ...over.override]) {
        const field = PATCH_ATTRS[attr];
        if (field === undefined) delete b.extra[attr];
        else if (field !== "extra" && field !== "reset" && field !== "override") b[field] = undefined;
    }
    const extra: JsonObject = { ...b.extra };
    for (const [k, v] of Object.entries(over.extra)) extra[k] = k in extra && !k.startsWith("x-") ? mergeJson(extra[k], v) : v;
    let build = over.build ?? b.build;
    if (b.build && over.build) {
        build = {
            context: over.build.context ?? b.build.context,
            dockerfile: over.build.dockerfile ?? b.build.dockerfile,
            args: mergeObjects(b.build.args, over.build.args),
            extra: mergeObjects(b.build.extra, over.build.extra) ?? {},
        };
    }
    let healthcheck = mergeObjects(b.healthcheck, over.healthcheck);
    if (healthcheck && over.healthcheck?.test !== undefined) healthcheck = { ...healthcheck, test: over.healthcheck.test };
    return {
        image: over.image ?? b.image,
        build,
        command: over.command ?? b.command,
        entrypoint: over.entrypoint ?? b.entrypoint,
        environment: b.environment || over.environment ? { ...b.environment, ...over.environment } : undefined,
        envFiles: mergeUnique(b.envFiles, over.envFiles, (e) => e.path),
        ports: mergeUnique(b.ports, over.ports, portKey),
        volumes: mergeUnique(b.volumes, over.volumes, (v) => v.target),
        depends_on: mergeObjects(b.depends_on, over.depends_on),
        healthcheck,
        restart: over.restart ?? b.restart,
        networks: mergeObjects(b.networks, over.networks),
        labels: b.labels || over.labels ? { ...b.labels, ...over.labels } : undefined,
        extra,
        reset: new Set(),
        override: new Set(),
    };
}

function mergeModelPatch(base: ModelPatch, over: ModelPatch): ModelPatch {
    const services: Record<string, ServicePatch> = { ...base.services };
    for (const [name, svc] of Object.entries(over.services)) services[name] = mergePatch(services[name] ?? emptyPatch(), svc);
    return {
        services,
        volumes: mergeObjects(base.volumes, over.volumes) ?? {},
        networks: mergeObjects(base.networks, over.networks) ?? {},
        configs: mergeObjects(base.configs, over.configs) ?? {},
        secrets: mergeObjects(base.secrets, over.secrets) ?? {},
    };
}

// ---------------------------------------------------------------------------
// Finishing: extends, profiles, defaults, env files

interface FinishOptions {
    projectDir: string;
    lookup: Lookup;
    /** Reads an env file for the environment; undefined: keep the list, read nothing (canonical output). */
    readEnvFile?: (ref: EnvFileRef, service: string) => Record<string, string>;
}

function resolveExtends(services: Record<string, ServicePatch>): Record<string, ServicePatch> {
    const done: Record<string, ServicePatch> = {};
    const resolve = (name: string, chain: string[]): ServicePatch => {
        const cached = done[name];
        if (cached) return cached;
        const svc = services[name];
        if (chain.includes(name)) throw new ComposeError(`services.${name}.extends: circular (${[...chain, name].join(" -> ")})`);
        const ext = svc.extra.extends;
        let result = svc;
        if (ext !== undefined) {
            const baseName = typeof ext === "string" ? ext : isRecord(ext) && typeof ext.service === "string" && ext.file === undefined ? ext.service : undefined;
            if (baseName === undefined) {
                throw new ComposeError(`services.${name}.extends ${show(ext)}: only extends of a service of the same project (extends: {service: name}) is supported by dind-compose's compose reader`);
            }
            if (!services[baseName]) throw new ComposeError(`services.${name}.extends: service ${show(baseName)} does not exist`);
            const local: ServicePatch = { ...svc, extra: { ...svc.extra } };
            delete local.extra.extends;
            result = mergePatch(resolve(baseName, [...chain, name]), local);
        }
        done[name] = result;
        return result;
    };
    const out: Record<string, ServicePatch> = {};
    for (const name of Object.keys(services)) out[name] = resolve(name, []);
    return out;
}

function finishService(name: string, s: ServicePatch, o: FinishOptions): ServiceModel {
    let build: BuildModel | undefined;
    if (s.build) {
        const context = s.build.context ?? o.projectDir;
        build = { context, args: s.build.args ?? {}, extra: s.build.extra };
        if (s.build.dockerfile !== undefined || build.extra.dockerfile_inline === undefined) {
            const dockerfile = s.build.dockerfile ?? "Dockerfile";
            build.dockerfile = REMOTE_CONTEXT.test(context) ? dockerfile : path.resolve(context, dockerfile);
        }
    }
    const env: Record<string, string | null> = {};
    if (o.readEnvFile) {
        const read = o.readEnvFile;
        for (const ref of s.envFiles ?? []) Object.assign(env, read(ref, name));
    }
    for (const [k, v] of Object.entries(s.environment ?? {})) {
        // a bare KEY takes the interpolation environment's value, else an env file's, else stays unset
        env[k] = v ?? o.lookup(k) ?? (Object.hasOwn(env, k) ? env[k] : null);
    }
    const svc: ServiceModel = {
        image: s.image,
        build,
        command: s.command,
        entrypoint: s.entrypoint,
        environment: sortRecord(env),
        env_file: (s.envFiles ?? []).map((e) => e.path),
        ports: s.ports ?? [],
        volumes: s.volumes ?? [],
        depends_on: s.depends_on ?? {},
        healthcheck: s.healthcheck,
        restart: s.restart,
        networks: s.networks ?? {},
        labels: sortRecord(s.labels ?? {}),
        extra: s.extra,
    };
    // absent, not undefined: models compare and serialize the same whichever reader built them
    for (const k of ["image", "build", "command", "entrypoint", "healthcheck", "restart"] as const) {
        if (svc[k] === undefined) delete svc[k];
    }
    return svc;
}

function finishModel(patch: ModelPatch, o: FinishOptions): ComposeModel {
    const merged = resolveExtends(patch.services);
    const active = (o.lookup("COMPOSE_PROFILES") ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x !== "");
    const services: Record<string, ServiceModel> = {};
    for (const [name, s] of Object.entries(merged)) {
        const profiles = s.extra.profiles;
        // like `docker compose up`: a service with profiles runs only when one of them is active
        if (Array.isArray(profiles) && profiles.length > 0 && !active.includes("*") && !profiles.some((p) => typeof p === "string" && active.includes(p))) {
            continue;
        }
        services[name] = finishService(name, s, o);
    }
    return { services, volumes: patch.volumes, networks: patch.networks, configs: patch.configs, secrets: patch.secrets };
}

// ---------------------------------------------------------------------------
// The two readers

/**
 * Reads compose files the way `docker compose` does, for the fields dind-compose needs, without any engine.
 *
 * - Files are merged in order: services by name, scalars replaced, maps merged by key, `ports` and
 *   `env_file` appended (an identical entry replaces the earlier one), `volumes` appended but merged
 *   by target, `command`/`entrypoint` replaced; `!reset` and `!override` on service attributes honoured.
 * - Values are interpolated (see `interpolate`) from, in increasing priority, the `.env` file of the
 *   project directory and `env`; `process.env` is never read, so the model is reproducible.
 * - Relative paths resolve against the project directory (for every file, as compose does).
 * - Services whose `profiles` are not active (`COMPOSE_PROFILES` in `env` or `.env`) are left out;
 *   `extends` of a service of the same project is applied.
 *
 * @param files absolute compose file paths, in merge order.
 * @param env interpolation variables; they win over `.env`.
 * @throws ComposeError naming the file, line:column and key: YAML syntax errors, a missing required
 *   variable, a malformed port or volume, a missing required env_file.
 */
export function readComposeModel(files: string[], env: Record<string, string>, fs: ComposeFs = nodeComposeFs, options: ReadComposeOptions = {}): ComposeModel {
    if (files.length === 0) throw new ComposeError("no compose file given; pass at least one absolute path");
    const projectDir = options.projectDir ?? path.dirname(files[0]);
    const dotenvPath = path.join(projectDir, ".env");
    const dotenv = fs.exists(dotenvPath) ? parseDotEnv(fs.readFile(dotenvPath), (k) => own(env, k), dotenvPath) : {};
    const lookup: Lookup = (k) => own(env, k) ?? own(dotenv, k);
    const warned = new Set<string>();
    const onUnset = (name: string): void => {
        if (warned.has(name)) return;
        warned.add(name);
        options.onWarning?.(`The "${name}" variable is not set. Defaulting to a blank string.`);
    };

    let patch = emptyModelPatch();
    for (const file of files) {
        let text: string;
        try {
            text = fs.readFile(file);
        } catch (e) {
            throw new ComposeError(`${file}: cannot read the compose file: ${e instanceof Error ? e.message : String(e)}`);
        }
        patch = mergeModelPatch(patch, fileAsPatch(loadText(text, file, projectDir, (v) => interpolate(v, lookup, onUnset))));
    }
    return finishModel(patch, {
        projectDir,
        lookup,
        readEnvFile: (ref, service) => {
            if (!fs.exists(ref.path)) {
                if (!ref.required) return {};
                throw new ComposeError(`services.${service}.env_file: env file ${ref.path} not found; create it or mark it {path: ..., required: false}`);
            }
            return parseDotEnv(fs.readFile(ref.path), lookup, ref.path);
        },
    });
}

/** Options of `normalizeComposeConfigJson`. */
export interface CanonicalOptions {
    /** Base of any relative path left in the output (there is none unless `--no-path-resolution`). @default "/" */
    projectDir?: string;
    /**
     * Whether the output was interpolated (no `--no-interpolate`); compose then escapes every `$` as `$$`
     * so the output is itself a valid compose file, and this undoes it.
     * @default true
     */
    interpolated?: boolean;
}

/**
 * Reads what `docker compose config --format json` prints (compose's canonical, merged, interpolated
 * model: long syntax, absolute paths) into the same `ComposeModel` as `readComposeModel`.
 *
 * Differences that remain by design: compose sorts services by name (use the hand-written reader for
 * file order, e.g. `firstPublishedPort`), adds `networks: {default: {}}`, and, unless
 * `--no-env-resolution`, inlines env_file contents into `environment` and drops `env_file`.
 * @throws ComposeError when the text is not JSON/YAML or a field is malformed.
 */
export function normalizeComposeConfigJson(json: string, options: CanonicalOptions = {}): ComposeModel {
    const projectDir = options.projectDir ?? "/";
    const loaded = loadText(json, "docker compose config output", projectDir);
    const raw = options.interpolated === false ? loaded.raw : unescapeDollars(loaded.raw);
    return finishModel(fileAsPatch({ ...loaded, raw }), { projectDir, lookup: () => undefined });
}

function unescapeDollars(v: unknown): unknown {
    if (typeof v === "string") return v.replace(/\$\$/g, "$");
    if (Array.isArray(v)) return v.map(unescapeDollars);
    // compose escapes keys too (an environment key "${X}" prints as "$${X}")
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/\$\$/g, "$"), unescapeDollars(x)]));
    return v;
}

/** The service fields the two readers must agree on. */
export const COMPARED_FIELDS = ["image", "build", "ports", "volumes", "environment", "env_file"] as const;

/**
 * Differences between the hand-written model and compose's canonical one, for `COMPARED_FIELDS`; [] when
 * they agree. `env_file` is skipped for a service when compose dropped it (it inlines the files into
 * `environment`, which is compared).
 */
export function compareModels(handWritten: ComposeModel, canonical: ComposeModel): string[] {
    const diffs: string[] = [];
    const names = [...new Set([...Object.keys(handWritten.services), ...Object.keys(canonical.services)])].sort();
    for (const name of names) {
        const a = handWritten.services[name];
        const b = canonical.services[name];
        if (!a || !b) {
            diffs.push(`services.${name}: only in ${a ? "the hand-written model" : "docker compose config"}`);
            continue;
        }
        for (const field of COMPARED_FIELDS) {
            if (field === "env_file" && b.env_file.length === 0) continue;
            const x = stableStringify(a[field] ?? null);
            const y = stableStringify(b[field] ?? null);
            if (x !== y) diffs.push(`services.${name}.${field}: hand-written ${x} != docker compose config ${y}`);
        }
    }
    return diffs;
}

// ---------------------------------------------------------------------------
// What the program derives from a model

const isRemote = (p: string): boolean => REMOTE_CONTEXT.test(p);

/**
 * Every host path the model references: bind-mount sources, build contexts, Dockerfiles, env_files,
 * file-based configs and secrets. Absolute, sorted, without duplicates; remote build contexts and
 * named or anonymous volumes are not paths and are left out.
 */
export function hostPaths(model: ComposeModel): string[] {
    const out = new Set<string>();
    for (const svc of Object.values(model.services)) {
        for (const v of svc.volumes) if (v.type === "bind" && v.source !== undefined) out.add(v.source);
        for (const p of serviceBuildInputs(svc)) out.add(p);
        for (const f of svc.env_file) out.add(f);
    }
    for (const section of [model.configs, model.secrets]) {
        for (const def of Object.values(section)) if (typeof def.file === "string") out.add(def.file);
    }
    return [...out].sort();
}

/** The local build contexts and Dockerfiles of the model (what `fileDigests` should hash), sorted. */
export function buildInputs(model: ComposeModel): string[] {
    return [...new Set(Object.values(model.services).flatMap(serviceBuildInputs))].sort();
}

function serviceBuildInputs(svc: ServiceModel): string[] {
    if (!svc.build || isRemote(svc.build.context)) return [];
    return svc.build.dockerfile === undefined ? [svc.build.context] : [svc.build.context, svc.build.dockerfile];
}

/**
 * The published port (on the inner daemon's host) of the first port that has one, services in file
 * order; undefined when no service publishes a port. Use the hand-written model: compose's canonical
 * output sorts services by name.
 */
export function firstPublishedPort(model: ComposeModel): number | undefined {
    for (const svc of Object.values(model.services)) {
        const port = svc.ports.find((p) => p.published !== undefined);
        if (port) return port.published;
    }
    return undefined;
}

/**
 * The minimal set of directories to bind-mount so that every path is visible at the same absolute
 * path: each directory itself, each file's parent (a missing path counts as a file: its parent is
 * mounted, so that the daemon can create it there), then any directory inside another one dropped.
 * Include the project directory in `paths` to mount it whole.
 * @param isDirectory tells directories from files (injected: pure).
 */
export function mountRoots(paths: string[], isDirectory: (p: string) => boolean): string[] {
    const dirs = [...new Set(paths.map((p) => path.resolve(p)).filter((p) => !isSystemPath(p)).map((p) => (isDirectory(p) ? p : path.dirname(p))))]
        .filter((d) => !isSystemPath(d))
        .sort();
    const roots: string[] = [];
    for (const d of dirs) {
        if (!roots.some((r) => isInside(d, r))) roots.push(d);
    }
    return roots;
}

/**
 * Host system locations that are never mounted into a dind container: a compose file's
 * `/var/run/docker.sock`, `/etc/localtime` or `/dev/fuse` then means the dind container's own
 * (for the socket: the project's own daemon, which is the point), and mounting the host's `/run`
 * or `/etc` over the dind container's would break it and expose the outer engine.
 */
export const SYSTEM_PATHS = ["/proc", "/sys", "/dev", "/run", "/var/run", "/etc", "/var/lib/docker", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/tmp/.X11-unix"];

/** A system location, its parent chain up to `/` (`/`, `/var`) included: never a mount root. */
export function isSystemPath(p: string): boolean {
    const abs = path.resolve(p);
    return abs === "/" || abs === "/var" || SYSTEM_PATHS.some((s) => isInside(abs, s));
}

function isInside(p: string, dir: string): boolean {
    return p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** JSON with object keys sorted at every level and undefined members left out: the same value always gives the same text. */
export function stableStringify(value: unknown): string {
    return JSON.stringify(sortDeep(value));
}

function sortDeep(v: unknown): unknown {
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sortDeep(x)));
    if (isRecord(v)) {
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = sortDeep(v[k]);
        return out;
    }
    return v;
}

function sortRecord<T>(r: Record<string, T>): Record<string, T> {
    const out: Record<string, T> = {};
    for (const k of Object.keys(r).sort()) out[k] = r[k];
    return out;
}

const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** sha256 (hex) of the model with keys sorted: independent of key order, changed by any field. */
export function modelDigest(model: ComposeModel): string {
    return sha256(stableStringify(model));
}

/** Options of `summarizeModel`. */
export interface SummaryOptions {
    /** Paths under it are shown relative (`./web`); others stay absolute. @default paths shown absolute */
    projectDir?: string;
    /**
     * Show environment and build-arg values as they are. Off, each value is shown as a short sha256,
     * so a diff still names the variable that changed without printing a password.
     * @default false
     */
    revealValues?: boolean;
}

/**
 * A flat, readable form of the model for Pulumi inputs: one key per service field
 * (`services.web.image`, `services.web.ports`, `services.web.environment.MODE`, ...) and per
 * top-level volume, network, config and secret, keys sorted. A change to one field of one service
 * changes exactly the keys of that field, so `pulumi preview --diff` names it.
 */
export function summarizeModel(model: ComposeModel, options: SummaryOptions = {}): Record<string, string> {
    const out: Record<string, string> = {};
    const shown = (p: string): string => displayPath(p, options.projectDir);
    const secret = (v: string | null): string => (v === null ? "(unset)" : options.revealValues ? v : `sha256:${sha256(v).slice(0, 12)}`);
    const text = (v: Json): string => (typeof v === "string" ? v : stableStringify(v));
    for (const [name, s] of Object.entries(model.services)) {
        const k = `services.${name}`;
        if (s.image !== undefined) out[`${k}.image`] = s.image;
        if (s.build) {
            out[`${k}.build.context`] = isRemote(s.build.context) ? s.build.context : shown(s.build.context);
            if (s.build.dockerfile !== undefined) out[`${k}.build.dockerfile`] = isRemote(s.build.context) ? s.build.dockerfile : shown(s.build.dockerfile);
            for (const [a, v] of Object.entries(s.build.args)) out[`${k}.build.args.${a}`] = secret(v);
            for (const [e, v] of Object.entries(s.build.extra)) out[`${k}.build.${e}`] = text(v);
        }
        if (s.command !== undefined) out[`${k}.command`] = text(s.command);
        if (s.entrypoint !== undefined) out[`${k}.entrypoint`] = text(s.entrypoint);
        for (const [e, v] of Object.entries(s.environment)) out[`${k}.environment.${e}`] = secret(v);
        if (s.env_file.length > 0) out[`${k}.env_file`] = s.env_file.map(shown).join(", ");
        if (s.ports.length > 0) out[`${k}.ports`] = s.ports.map(formatPort).join(", ");
        if (s.volumes.length > 0) out[`${k}.volumes`] = s.volumes.map((v) => formatVolume(v, shown)).join(", ");
        const deps = Object.entries(s.depends_on);
        if (deps.length > 0) {
            out[`${k}.depends_on`] = deps
                .map(([d, o]) => {
                    const { condition, ...more } = o;
                    return `${d} (${text(condition ?? "service_started")}${Object.keys(more).length > 0 ? ` ${stableStringify(more)}` : ""})`;
                })
                .join(", ");
        }
        if (s.healthcheck !== undefined) out[`${k}.healthcheck`] = stableStringify(s.healthcheck);
        if (s.restart !== undefined) out[`${k}.restart`] = s.restart;
        const nets = Object.entries(s.networks);
        if (nets.length > 0) out[`${k}.networks`] = nets.map(([n, o]) => (Object.keys(o).length > 0 ? `${n} ${stableStringify(o)}` : n)).join(", ");
        for (const [l, v] of Object.entries(s.labels)) out[`${k}.labels.${l}`] = v;
        for (const [e, v] of Object.entries(s.extra)) out[`${k}.${e}`] = text(v);
    }
    for (const section of ["volumes", "networks", "configs", "secrets"] as const) {
        for (const [name, def] of Object.entries(model[section])) {
            const d = typeof def.file === "string" ? { ...def, file: shown(def.file) } : def;
            out[`${section}.${name}`] = stableStringify(d);
        }
    }
    return sortRecord(out);
}

function displayPath(p: string, projectDir: string | undefined): string {
    if (projectDir === undefined) return p;
    const rel = path.relative(projectDir, p);
    if (rel === "") return ".";
    return rel.startsWith("..") || path.isAbsolute(rel) ? p : `./${rel}`;
}

/** `127.0.0.1:8080->80/udp`, `3000/tcp` when nothing is published (like `docker ps`). */
export function formatPort(p: PortModel): string {
    const host = p.published === undefined ? "" : `${p.host_ip === undefined ? "" : `${p.host_ip.includes(":") ? `[${p.host_ip}]` : p.host_ip}:`}${p.published}->`;
    return `${host}${p.target}/${p.protocol}`;
}

function formatVolume(v: VolumeModel, shown: (p: string) => string): string {
    const source = v.type === "bind" && v.source !== undefined ? shown(v.source) : v.type === "tmpfs" ? "tmpfs" : (v.source ?? "(anonymous)");
    return `${source}:${v.target}${v.read_only ? ":ro" : ""}${v.options ? ` ${stableStringify(v.options)}` : ""}`;
}

// ---------------------------------------------------------------------------
// Digests of the files that feed builds

/** The kinds of file system entry `fileDigests` tells apart. */
export type EntryKind = "file" | "directory" | "symlink" | "other";

/** What `fileDigests` may ask of the file system (injected, so tests need no files). */
export interface TreeFs {
    /** Kind of the entry; undefined when it does not exist. `follow`: report what a symlink points to. */
    kind(p: string, follow: boolean): EntryKind | undefined;
    /** Names of a directory's entries. */
    list(dir: string): string[];
    /** Content of a file. */
    read(p: string): string | Uint8Array;
    /** Target of a symlink. */
    readLink(p: string): string;
    /** `sha256:<hex>` of a file's content, when the file system can tell it without `read` (a cache); undefined: read it. */
    digest?(p: string): string | undefined;
}

/** `TreeFs` over node's fs. */
export const nodeTreeFs: TreeFs = {
    kind(p, follow) {
        const st = follow ? nodeFs.statSync(p, { throwIfNoEntry: false }) : nodeFs.lstatSync(p, { throwIfNoEntry: false });
        if (!st) return undefined;
        return st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
    },
    list: (dir) => nodeFs.readdirSync(dir),
    read: (p) => nodeFs.readFileSync(p),
    readLink: (p) => nodeFs.readlinkSync(p),
};

/** Options of `fileDigests`. */
export interface FileDigestOptions {
    /**
     * A build context with more files than this gets one entry for all of them (`<dir>/`), so the
     * state stays small however big the context; up to it, one entry per file, so a diff names
     * the file. @default 200
     */
    perFileLimit?: number;
    /** @default nodeTreeFs */
    fs?: TreeFs;
}

/**
 * sha256 of every file that feeds a build: each path given (a Dockerfile, or a build context walked
 * recursively, skipping `.git` and what the context's `.dockerignore` excludes), keyed by path
 * relative to `projectDir` (`../x` for paths outside it), keys sorted. A missing path maps to
 * "missing", a symlink inside a context to its target. A context of more than `perFileLimit` files
 * maps, under `<dir>/`, to `tree:sha256:<digest of every path and its content> (<n> files)`:
 * every file counts, none is dropped.
 */
export function fileDigests(paths: string[], projectDir: string, options: FileDigestOptions = {}): Record<string, string> {
    const fs = options.fs ?? nodeTreeFs;
    const perFileLimit = options.perFileLimit ?? 200;
    const out: Record<string, string> = {};
    const key = (p: string): string => path.relative(projectDir, p).split(path.sep).join("/") || ".";
    const entryOf = (p: string, kind: EntryKind): string => (kind === "symlink" ? `symlink:${fs.readLink(p)}` : (fs.digest?.(p) ?? `sha256:${sha256(fs.read(p))}`));

    const walk = (root: string, dir: string, ignored: (rel: string) => boolean, pruneIgnored: boolean, found: [string, EntryKind][]): void => {
        for (const name of fs.list(dir).sort()) {
            const p = path.join(dir, name);
            const rel = path.relative(root, p).split(path.sep).join("/");
            const kind = fs.kind(p, false);
            if (kind === "directory") {
                if (name === ".git" || (pruneIgnored && ignored(rel))) continue;
                walk(root, p, ignored, pruneIgnored, found);
            } else if ((kind === "file" || kind === "symlink") && !ignored(rel)) {
                found.push([p, kind]);
            }
        }
    };

    for (const p of [...new Set(paths.map((x) => path.resolve(x)))].sort()) {
        const kind = fs.kind(p, true);
        if (kind === undefined) out[key(p)] = "missing";
        else if (kind === "file") out[key(p)] = entryOf(p, kind);
        else if (kind === "directory") {
            const ignoreFile = path.join(p, ".dockerignore");
            const rules = fs.kind(ignoreFile, true) === "file" ? dockerignoreRules(String(fs.read(ignoreFile))) : [];
            const found: [string, EntryKind][] = [];
            // with a `!` exception, an ignored directory may still hold files to keep: walk it
            walk(p, p, (rel) => isIgnored(rules, rel), !rules.some((r) => r.negate), found);
            if (found.length <= perFileLimit) {
                for (const [f, k] of found) out[key(f)] = entryOf(f, k);
            } else {
                const h = createHash("sha256");
                for (const [f, k] of found) h.update(`${path.relative(p, f)}\0${entryOf(f, k)}\n`);
                out[`${key(p)}/`] = `tree:sha256:${h.digest("hex")} (${found.length} files)`;
            }
        }
    }
    return sortRecord(out);
}

interface IgnoreRule {
    negate: boolean;
    re: RegExp;
}

/** `.dockerignore` patterns (`*`, `?`, `**`, `[...]`, `!` exceptions, comments), as far as simple. */
function dockerignoreRules(text: string): IgnoreRule[] {
    return text
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"))
        .map((l) => {
            const negate = l.startsWith("!");
            const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim().replace(/^\/+/, "")).replace(/\/+$/, "");
            return { negate, re: globToRegExp(pattern) };
        });
}

function isIgnored(rules: IgnoreRule[], rel: string): boolean {
    const parts = rel.split("/");
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let ignored = false;
    // the last matching rule wins; a pattern matching a directory covers what is inside
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) ignored = !r.negate;
    return ignored;
}

function globToRegExp(pattern: string): RegExp {
    const esc = (c: string): string => c.replace(/[.+^${}()|\\/]/g, "\\$&");
    let re = "";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        if (c === "*" && pattern[i + 1] === "*") {
            i++;
            if (pattern[i + 1] === "/") {
                i++;
                re += "(?:.*/)?";
            } else {
                re += ".*";
            }
        } else if (c === "*") re += "[^/]*";
        else if (c === "?") re += "[^/]";
        else if (c === "[" && pattern.indexOf("]", i + 1) > i + 1) {
            const end = pattern.indexOf("]", i + 1);
            re += `[${pattern.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
            i = end;
        } else if (c === "\\" && i + 1 < pattern.length) {
            i++;
            re += esc(pattern[i]);
        } else re += esc(c);
    }
    return new RegExp(`^${re}$`);
}
