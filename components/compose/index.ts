// The compose model: what `docker compose config` prints (canonical.ts), what it cannot tell
// (reads.ts), and what the program derives from it (paths.ts, ports.ts, flatten.ts, buildFiles.ts).
export { fileDigests, nodeTreeFs } from "./buildFiles";
export type { EntryKind, FileDigestOptions, TreeFs } from "./buildFiles";
export { normalizeComposeConfigJson } from "./canonical";
export type { CanonicalOptions } from "./canonical";
export { modelDigest, summarizeModel } from "./flatten";
export type { SummaryOptions } from "./flatten";
export { stableStringify } from "./json";
export { ComposeError, SECTIONS } from "./model";
export type { BuildModel, ComposeModel, Json, JsonObject, PortModel, ServiceField, ServiceModel, VolumeModel, VolumeType } from "./model";
export { buildInputs, hostPaths, isSystemPath, mountRoots, SYSTEM_PATHS } from "./paths";
export { firstPublishedPort, formatPort } from "./ports";
export { composeReads, inFileOrder } from "./reads";
export type { ComposeRead, ComposeReads } from "./reads";
export { yamlSyntaxError } from "./yamlErrors";
