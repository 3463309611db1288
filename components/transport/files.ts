// How the project files reach a project's daemon (dind-compose:files), decided once per run. Pure.
//
// bind: each folder compose reads is bind-mounted into the dind container at the same absolute path.
//   The engine looks the path up on ITS machine, so this is only right for an engine on this one.
// sync: each such folder is a volume (a source volume) mounted at the same absolute path, and `up`
//   brings it into step with this machine's folder with rsync over `docker exec -i` (rsync.ts);
//   compose inside the dind container still resolves every relative path as on the host.
import type { FilesSetting } from "../config";

export type FilesMode = "bind" | "sync";

export interface FilesChoice {
    mode: FilesMode;
    /** One line for the `up` output: the mode, and why. */
    reason: string;
    /** Set when the choice is likely wrong (bind with an engine elsewhere). */
    warning?: string;
}

/** The transport for `setting` with an engine at `engineHost`, `engineLocal` when it runs on this machine. */
export function chooseFiles(setting: FilesSetting, engineHost: string, engineLocal: boolean): FilesChoice {
    const where = engineLocal ? `the engine (${engineHost}) runs on this machine` : `the engine (${engineHost}) is on another machine`;
    if (setting === "auto") {
        return engineLocal
            ? { mode: "bind", reason: `project files: bind-mounted (dind-compose:files auto: ${where})` }
            : {
                  mode: "sync",
                  reason: `project files: synced into source volumes (dind-compose:files auto: ${where}, which cannot see this machine's folders)`,
              };
    }
    const choice: FilesChoice = {
        mode: setting,
        reason:
            setting === "bind"
                ? `project files: bind-mounted (dind-compose:files bind; ${where})`
                : `project files: synced into source volumes (dind-compose:files sync; ${where})`,
    };
    if (setting === "bind" && !engineLocal) {
        choice.warning =
            `dind-compose:files is bind, but ${where}: the project folders are looked up on that machine, where they are missing or stale. ` +
            `Use dind-compose:files sync (or auto) unless that machine has the same folders at the same paths.`;
    }
    return choice;
}

/** Whether `host` (a DOCKER_HOST value or a context's endpoint) is an engine on this machine. */
export const isLocalEngineHost = (host: string): boolean => /^(unix:\/\/|npipe:\/\/|$)/.test(host);
