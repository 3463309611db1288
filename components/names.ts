// Names and labels of everything a stack creates on the engine. Pure.
// Every name carries the stack's prefix, so two stacks on one engine never collide.
import { createHash } from "crypto";

export const STACK_LABEL = "dind-compose.stack";
export const PROJECT_LABEL = "dind-compose.project";

/** `dind-compose.stack` label value: `<pulumi project>/<stack>`. */
export const stackLabelValue = (pulumiProject: string, stack: string): string => `${pulumiProject}/${stack}`;

/** Engine-side names of one stack's objects. Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export class StackNames {
    readonly prefix: string;
    constructor(pulumiProject: string, stack: string) {
        this.prefix = `${pulumiProject}-${stack}`.replace(/[^a-zA-Z0-9_.-]/g, "-");
    }
    gateway(): string {
        return `${this.prefix}-gateway`;
    }
    /** The gateway's own network: its first, so joining and leaving project networks never replaces it. */
    gatewayNetwork(): string {
        return `${this.prefix}-gateway-net`;
    }
    network(project: string): string {
        return `${this.prefix}-${project}`;
    }
    dind(project: string): string {
        return `${this.prefix}-${project}-dind`;
    }
    /** The container that opens a project's `tcp` ports on the host. */
    tcpProxy(project: string): string {
        return `${this.prefix}-${project}-tcp`;
    }
    certVolume(project: string): string {
        return `${this.prefix}-${project}-certs`;
    }
    dataVolume(project: string): string {
        return `${this.prefix}-${project}-data`;
    }
    /** The volume that holds one of the project's folders (files: sync), named by a digest of its path. */
    sourceVolume(project: string, dir: string): string {
        return `${this.prefix}-${project}-src-${pathKey(dir)}`;
    }
}

/** A short, stable key for an absolute path (resource and volume names cannot hold it). */
export function pathKey(dir: string): string {
    return createHash("sha256").update(dir).digest("hex").slice(0, 10);
}
