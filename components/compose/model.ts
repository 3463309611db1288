// The compose model the program works with: what `docker compose config` prints, read into
// types (canonical.ts), and the service fields it keeps apart, each read, defaulted and shown
// in the summary by one table (fields.ts).

/** A JSON value: what compose fields we keep verbatim are made of. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** A published or exposed port. */
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

/** The volume types the model understands. */
export type VolumeType = "bind" | "volume" | "tmpfs";

/** A service mount. */
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
    /** As compose prints it (a list). */
    command?: Json;
    /** As compose prints it (a list). */
    entrypoint?: Json;
    /**
     * The container's environment, sorted by name: the `env_file` contents overridden by `environment`
     * (what compose itself hands the container). null: declared without a value and not set.
     */
    environment: Record<string, string | null>;
    /** Absolute env file paths, in order (compose inlines them into `environment` and prints none). */
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
    /** Every other service key (x-* included), verbatim. */
    extra: JsonObject;
}

/** The service fields the model keeps apart; the table in fields.ts has one row for each. */
export type ServiceField = Exclude<keyof ServiceModel, "extra">;

/** The top-level sections besides `services`, kept verbatim (a config's or secret's `file` made absolute). */
export const SECTIONS = ["volumes", "networks", "configs", "secrets"] as const;

/** The compose model of one project: what matters for mounts, routing and diffs. */
export interface ComposeModel {
    /** By name as compose prints them; in file order once put so by `inFileOrder` (reads.ts). */
    services: Record<string, ServiceModel>;
    volumes: Record<string, JsonObject>;
    networks: Record<string, JsonObject>;
    /** `file` resolved to an absolute path. */
    configs: Record<string, JsonObject>;
    /** `file` resolved to an absolute path. */
    secrets: Record<string, JsonObject>;
}

/** Compose's output that cannot be read into the model; the message names the key. */
export class ComposeError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ComposeError";
    }
}

const REMOTE_CONTEXT = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/|git@|github\.com\/)/;

/** A build context that is a git repository or URL, not a directory on this host. */
export const isRemoteContext = (context: string): boolean => REMOTE_CONTEXT.test(context);
