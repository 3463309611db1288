// The model flattened for Pulumi inputs: one readable key per service field, so that
// `pulumi preview --diff` names what changed; and a digest of the whole model.
import * as path from "path";
import { SERVICE_FIELDS, showField, SummaryView } from "./fields";
import { sha256, sortRecord, stableStringify } from "./json";
import { ComposeModel, Json, SECTIONS, ServiceField } from "./model";

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
    const text = (v: Json): string => (typeof v === "string" ? v : stableStringify(v));
    const view: SummaryView = {
        path: (p) => displayPath(p, options.projectDir),
        secret: (v) => (v === null ? "(unset)" : options.revealValues ? v : `sha256:${sha256(v).slice(0, 12)}`),
        text,
    };
    const out: Record<string, string> = {};
    for (const [name, s] of Object.entries(model.services)) {
        const k = `services.${name}`;
        for (const field of Object.keys(SERVICE_FIELDS) as ServiceField[]) Object.assign(out, showField(s, field, k, view));
        for (const [e, v] of Object.entries(s.extra)) out[`${k}.${e}`] = text(v);
    }
    for (const section of SECTIONS) {
        for (const [name, def] of Object.entries(model[section])) {
            const d = typeof def.file === "string" ? { ...def, file: view.path(def.file) } : def;
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
