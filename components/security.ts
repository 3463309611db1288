// docker create flags for each dind security mode. Pure.
import { SecurityMode } from "./config";
import constants from "./constants.json";

/**
 * `capabilities`: what the dind daemon needs without `--privileged`. Seen working
 * under Docker 20.10, where `--privileged` fails on machines whose capability
 * bounding set lacks CAP_SYS_RESOURCE ("unable to apply caps"): every capability
 * but that one, no seccomp/AppArmor confinement, writable /proc and /sys paths,
 * all devices, and the host cgroup tree for the inner runc. The flags live in
 * constants.json, which scripts/docker-engine.sh probes the engine with.
 */
export const CAPABILITIES_ARGS: string[] = constants.dindCapabilityFlags;

export function securityArgs(mode: SecurityMode): string[] {
    switch (mode) {
        case "privileged":
            return ["--privileged"];
        case "capabilities":
            return CAPABILITIES_ARGS;
        case "sysbox":
            // Sysbox runs dockerd inside an unprivileged system container (user namespaces).
            return ["--runtime=sysbox-runc"];
    }
}
