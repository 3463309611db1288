// Reads what `docker compose config --format json` prints (compose's canonical model: merged,
// interpolated, long syntax, absolute paths) into a `ComposeModel`. Compose is the only source of
// the model; what it cannot tell (the order of services in the files, the files it reads) comes
// from reads.ts.
import { LineCounter, parseDocument } from "yaml";
import { fillEmpty, isServiceField, readField, SERVICE_FIELDS } from "./fields";
import { isRecord, show } from "./json";
import { ComposeError, ComposeModel, JsonObject, SECTIONS, ServiceField, ServiceModel } from "./model";
import { hostPath, jsonObject, Source, toJson } from "./read";
import { formatYamlError } from "./yamlErrors";

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
 * The model of what `docker compose config --format json` printed. Services come sorted by name,
 * as compose prints them (`inFileOrder` puts them in file order); `networks: {default: {}}` is
 * compose's; env_file contents are inlined into `environment` (and `env_file` is empty) unless
 * compose was run with `--no-env-resolution`.
 * @throws ComposeError when the text is not JSON/YAML or a field is malformed, naming the key.
 */
export function normalizeComposeConfigJson(json: string, options: CanonicalOptions = {}): ComposeModel {
    const file = "docker compose config output";
    const lines = new LineCounter();
    const doc = parseDocument(json, { lineCounter: lines, merge: true, prettyErrors: true });
    if (doc.errors.length > 0)
        throw new ComposeError(`${file} is not valid YAML:\n${doc.errors.map((e) => formatYamlError(file, e)).join("\n")}`);
    const src = new Source(file, options.projectDir ?? "/", doc, lines);
    const raw = options.interpolated === false ? doc.toJS() : unescapeDollars(doc.toJS());
    const model: ComposeModel = { services: {}, volumes: {}, networks: {}, configs: {}, secrets: {} };
    if (raw === null || raw === undefined) return model;
    if (!isRecord(raw)) return src.fail([], `the top level must be a mapping (services:, volumes:, ...), got ${show(raw)}`);
    if (raw.services !== null && raw.services !== undefined && !isRecord(raw.services))
        src.fail(["services"], `must be a mapping of service names to services`);
    // compose prints only the services of active profiles (COMPOSE_PROFILES in the project's env)
    for (const [name, svc] of Object.entries(isRecord(raw.services) ? raw.services : {}))
        model.services[name] = readService(src, name, svc);
    for (const section of SECTIONS) {
        for (const [name, def] of Object.entries(jsonObject(src, [section], raw[section]))) {
            const obj = def === null ? {} : isRecord(def) ? def : src.fail([section, name], `must be a mapping, got ${show(def)}`);
            const withFile = (section === "configs" || section === "secrets") && typeof obj.file === "string";
            model[section][name] = withFile ? { ...obj, file: hostPath(src, obj.file as string) } : obj;
        }
    }
    return model;
}

function readService(src: Source, name: string, v: unknown): ServiceModel {
    const p = ["services", name];
    if (v !== null && v !== undefined && !isRecord(v)) src.fail(p, `must be a mapping, got ${show(v)}`);
    const svc = { extra: {} as JsonObject } as ServiceModel;
    for (const [k, x] of Object.entries(isRecord(v) ? v : {})) {
        // compose prints `null` for a field it has no value for (command, entrypoint)
        if (x === null) continue;
        if (isServiceField(k)) readField(svc, k, src, [...p, k], x);
        else svc.extra[k] = toJson(src, [...p, k], x);
    }
    for (const field of Object.keys(SERVICE_FIELDS) as ServiceField[]) fillEmpty(svc, field);
    return svc;
}

function unescapeDollars(v: unknown): unknown {
    if (typeof v === "string") return v.replace(/\$\$/g, "$");
    if (Array.isArray(v)) return v.map(unescapeDollars);
    // compose escapes keys too (an environment key "${X}" prints as "$${X}")
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/\$\$/g, "$"), unescapeDollars(x)]));
    return v;
}
