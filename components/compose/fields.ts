// The one table of the service fields the model keeps apart: for each, how it is read from
// `docker compose config`, its value when compose prints none, and its keys in the summary
// (`services.<name>.<field>[.<sub>]`). A service key without a row goes to `extra` verbatim.
// Adding a field: a member of ServiceModel (model.ts) and a row here; the compiler asks for both.
import * as path from "path";
import { isRecord, show, sortRecord, stableStringify } from "./json";
import { BuildModel, isRemoteContext, Json, JsonObject, ServiceField, ServiceModel } from "./model";
import { formatPort, readPort } from "./ports";
import { hostPath, jsonObject, keyValues, KeyPath, list, scalar, Source, toJson } from "./read";
import { formatVolume, readVolume } from "./volumes";

/** How the summary shows values. */
export interface SummaryView {
    /** A host path, relative to the project directory when inside it. */
    path(p: string): string;
    /** An environment or build-arg value: a short digest unless values are revealed. */
    secret(v: string | null): string;
    /** A string as it is, anything else as stable JSON. */
    text(v: Json): string;
}

interface FieldSpec<F extends ServiceField> {
    /** The field from compose's output (never null: a null field is absent). */
    read(src: Source, p: KeyPath, v: unknown): Exclude<ServiceModel[F], undefined>;
    /** The value when compose prints none; without it, the field stays absent. */
    empty?: () => Exclude<ServiceModel[F], undefined>;
    /** The field's summary entries: sub-key ("" for the field itself) -> text. */
    show(v: Exclude<ServiceModel[F], undefined>, view: SummaryView): Record<string, string>;
}

function readBuild(src: Source, p: KeyPath, v: unknown): BuildModel {
    if (!isRecord(v)) return src.fail(p, `must be a mapping {context, dockerfile, ...}, got ${show(v)}`);
    const written = v.context === undefined || v.context === null ? undefined : scalar(src, [...p, "context"], v.context);
    const context = written === undefined ? src.projectDir : isRemoteContext(written) ? written : hostPath(src, written);
    const build: BuildModel = { context, args: keyValues(src, [...p, "args"], v.args), extra: {} };
    for (const [k, x] of Object.entries(v)) if (!["context", "dockerfile", "args"].includes(k)) build.extra[k] = toJson(src, [...p, k], x);
    if (v.dockerfile !== undefined || build.extra.dockerfile_inline === undefined) {
        const dockerfile = v.dockerfile === undefined ? "Dockerfile" : scalar(src, [...p, "dockerfile"], v.dockerfile);
        build.dockerfile = isRemoteContext(context) ? dockerfile : path.resolve(context, dockerfile);
    }
    return build;
}

function readEnvFiles(src: Source, p: KeyPath, v: unknown): string[] {
    return list(src, p, v).map((e, i) => {
        if (typeof e === "string") return hostPath(src, e);
        if (isRecord(e) && typeof e.path === "string") return hostPath(src, e.path);
        return src.fail([...p, i], `must be a path or {path, required}, got ${show(e)}`);
    });
}

function readDependsOn(src: Source, p: KeyPath, v: unknown): Record<string, JsonObject> {
    const out: Record<string, JsonObject> = {};
    for (const [name, opts] of Object.entries(jsonObject(src, p, v))) {
        const o: JsonObject = isRecord(opts) ? { ...opts } : {};
        o.condition = typeof o.condition === "string" ? o.condition : "service_started";
        // compose's default, which it prints: not a difference worth a diff
        if (o.required === true) delete o.required;
        out[name] = o;
    }
    return out;
}

const byName = <T>(entries: Record<string, T>, each: (v: T) => string): Record<string, string> =>
    Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, each(v)]));
const joined = <T>(items: T[], each: (v: T) => string): Record<string, string> =>
    items.length > 0 ? { "": items.map(each).join(", ") } : {};
const withOptions = (name: string, o: JsonObject): string => (Object.keys(o).length > 0 ? `${name} ${stableStringify(o)}` : name);

export const SERVICE_FIELDS: { [F in ServiceField]: FieldSpec<F> } = {
    image: { read: scalar, show: (v) => ({ "": v }) },
    build: {
        read: readBuild,
        show: (b, view) => {
            const remote = isRemoteContext(b.context);
            const out: Record<string, string> = { context: remote ? b.context : view.path(b.context) };
            if (b.dockerfile !== undefined) out.dockerfile = remote ? b.dockerfile : view.path(b.dockerfile);
            for (const [a, v] of Object.entries(b.args)) out[`args.${a}`] = view.secret(v);
            for (const [e, v] of Object.entries(b.extra)) out[e] = view.text(v);
            return out;
        },
    },
    command: { read: toJson, show: (v, view) => ({ "": view.text(v) }) },
    entrypoint: { read: toJson, show: (v, view) => ({ "": view.text(v) }) },
    environment: {
        read: (src, p, v) => sortRecord(keyValues(src, p, v)),
        empty: () => ({}),
        show: (env, view) => byName(env, view.secret),
    },
    env_file: { read: readEnvFiles, empty: () => [], show: (files, view) => joined(files, view.path) },
    ports: {
        read: (src, p, v) => list(src, p, v).map((e, i) => readPort(src, [...p, i], e)),
        empty: () => [],
        show: (ports) => joined(ports, formatPort),
    },
    volumes: {
        read: (src, p, v) => list(src, p, v).map((e, i) => readVolume(src, [...p, i], e)),
        empty: () => [],
        show: (volumes, view) => joined(volumes, (v) => formatVolume(v, view.path)),
    },
    depends_on: {
        read: readDependsOn,
        empty: () => ({}),
        show: (deps, view) =>
            joined(
                Object.entries(deps),
                ([d, { condition, ...more }]) =>
                    `${d} (${view.text(condition ?? "service_started")}${Object.keys(more).length > 0 ? ` ${stableStringify(more)}` : ""})`,
            ),
    },
    healthcheck: { read: jsonObject, show: (v) => ({ "": stableStringify(v) }) },
    restart: { read: scalar, show: (v) => ({ "": v }) },
    networks: {
        // compose prints `default: null` for a network joined without options
        read: (src, p, v) => Object.fromEntries(Object.entries(jsonObject(src, p, v)).map(([n, o]) => [n, isRecord(o) ? o : {}])),
        empty: () => ({}),
        show: (nets) => joined(Object.entries(nets), ([n, o]) => withOptions(n, o)),
    },
    labels: {
        read: (src, p, v) => sortRecord(byName(keyValues(src, p, v), (l) => l ?? "")),
        empty: () => ({}),
        show: (labels) => labels,
    },
};

export const isServiceField = (key: string): key is ServiceField => Object.hasOwn(SERVICE_FIELDS, key);

/** Reads one field into the service (generic, so that the row and the member have the same type). */
export function readField<F extends ServiceField>(svc: ServiceModel, field: F, src: Source, p: KeyPath, v: unknown): void {
    svc[field] = SERVICE_FIELDS[field].read(src, p, v);
}

/** Sets the fields compose printed none of to their empty value. */
export function fillEmpty<F extends ServiceField>(svc: Partial<ServiceModel>, field: F): void {
    const empty = SERVICE_FIELDS[field].empty;
    if (svc[field] === undefined && empty) svc[field] = empty();
}

/** The summary entries of one field of a service, keyed `<prefix>.<field>[.<sub>]`. */
export function showField<F extends ServiceField>(svc: ServiceModel, field: F, prefix: string, view: SummaryView): Record<string, string> {
    const v = svc[field];
    if (v === undefined) return {};
    const entries = SERVICE_FIELDS[field].show(v as Exclude<ServiceModel[F], undefined>, view);
    return Object.fromEntries(Object.entries(entries).map(([sub, text]) => [`${prefix}.${field}${sub === "" ? "" : `.${sub}`}`, text]));
}
