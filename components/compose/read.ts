// Reading compose's JSON values into the model's types; an error names where the value is
// (`docker compose config output:12:9: services.web.ports[1]`) and what was expected.
import * as path from "path";
import { Document, isNode, LineCounter } from "yaml";
import { isRecord, show } from "./json";
import { ComposeError, Json, JsonObject } from "./model";

export type KeyPath = (string | number)[];

/** Where the values come from: the text (for line and column) and the directory relative paths resolve against. */
export class Source {
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

export function toJson(src: Source, p: KeyPath, v: unknown): Json {
    if (v === null || v === undefined) return null;
    if (typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return v.toString();
    if (Array.isArray(v)) return v.map((x, i) => toJson(src, [...p, i], x));
    if (isRecord(v)) {
        const out: JsonObject = {};
        for (const [k, x] of Object.entries(v)) out[k] = toJson(src, [...p, k], x);
        return out;
    }
    return src.fail(p, `has a value of an unexpected kind: ${String(v)}`);
}

export function jsonObject(src: Source, p: KeyPath, v: unknown): JsonObject {
    if (v === null || v === undefined) return {};
    if (!isRecord(v)) return src.fail(p, `must be a mapping, got ${show(v)}`);
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = toJson(src, [...p, k], x);
    return out;
}

/** A scalar read into a string field: numbers and booleans as written. */
export function scalar(src: Source, p: KeyPath, v: unknown): string {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return src.fail(p, `must be a string, got ${show(v)}`);
}

export function list(src: Source, p: KeyPath, v: unknown): unknown[] {
    if (v === null || v === undefined) return [];
    if (!Array.isArray(v)) return src.fail(p, `must be a list, got ${show(v)}`);
    return v;
}

/** `{K: V, K: null}` (compose prints environment, labels and build args so) -> record. */
export function keyValues(src: Source, p: KeyPath, v: unknown): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    if (v === null || v === undefined) return out;
    if (!isRecord(v)) return src.fail(p, `must be a mapping, got ${show(v)}`);
    for (const [k, x] of Object.entries(v)) out[k] = x === null ? null : scalar(src, [...p, k], x);
    return out;
}

/** A path compose printed, absolute against the source's project directory. */
export function hostPath(src: Source, raw: string): string {
    return path.resolve(src.projectDir, raw);
}
