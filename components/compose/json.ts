// Small helpers over JSON values, shared by the readers, the summary and the digests.
import { createHash } from "crypto";

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A value for a message: JSON, or "nothing". */
export const show = (v: unknown): string => (v === undefined ? "nothing" : JSON.stringify(v));

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

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

/** The same record, keys sorted. */
export function sortRecord<T>(r: Record<string, T>): Record<string, T> {
    const out: Record<string, T> = {};
    for (const k of Object.keys(r).sort()) out[k] = r[k];
    return out;
}
