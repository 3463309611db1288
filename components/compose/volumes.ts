// Volumes: read from compose's long syntax and shown as short syntax.
import { isRecord, show, stableStringify } from "./json";
import { JsonObject, VolumeModel } from "./model";
import { hostPath, jsonObject, KeyPath, scalar, Source } from "./read";

/** One entry of a service's `volumes`, as compose prints it: `{type, source, target, read_only, bind|volume|tmpfs}`. */
export function readVolume(src: Source, p: KeyPath, v: unknown): VolumeModel {
    if (!isRecord(v)) return src.fail(p, `must be a mapping {type, source, target, ...}, got ${show(v)}`);
    const type = v.type;
    if (type !== "bind" && type !== "volume" && type !== "tmpfs") {
        return src.fail([...p, "type"], `${show(type)} is not a volume type dind-compose supports (bind, volume, tmpfs)`);
    }
    if (v.target === undefined || v.target === null) src.fail(p, `has no target`);
    const target = scalar(src, [...p, "target"], v.target);
    const vol: VolumeModel = { type, target, read_only: v.read_only === true || v.read_only === "true" };
    const hasSource = v.source !== undefined && v.source !== null && v.source !== "";
    if (type === "bind") {
        if (!hasSource) src.fail(p, `is a bind mount without a source`);
        vol.source = hostPath(src, scalar(src, [...p, "source"], v.source));
    } else if (type === "volume" && hasSource) {
        vol.source = scalar(src, [...p, "source"], v.source);
    }
    const options: JsonObject = {};
    for (const key of ["bind", "volume", "tmpfs"]) {
        const sub = jsonObject(src, [...p, key], v[key]);
        // compose's default for binds, which it prints: not a difference worth a diff
        delete sub.create_host_path;
        if (Object.keys(sub).length > 0) options[key] = sub;
    }
    if (typeof v.consistency === "string" && v.consistency !== "") options.consistency = v.consistency;
    if (Object.keys(options).length > 0) vol.options = options;
    return vol;
}

/** `./web:/app:ro`, `data:/data`, `(anonymous):/x`, `tmpfs:/tmp`, options as JSON after a space. */
export function formatVolume(v: VolumeModel, shown: (p: string) => string): string {
    const source =
        v.type === "bind" && v.source !== undefined ? shown(v.source) : v.type === "tmpfs" ? "tmpfs" : (v.source ?? "(anonymous)");
    return `${source}:${v.target}${v.read_only ? ":ro" : ""}${v.options ? ` ${stableStringify(v.options)}` : ""}`;
}
