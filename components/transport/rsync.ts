// rsync as the file transport's tool (files.ts): the arguments that bring a folder on this machine
// into step with the same path in a container, over the engine's exec (`docker exec -i`), and what
// its output and errors say. Pure: engine.ts runs it.
//
// rsync writes each file under a temporary name in the same folder and renames it when complete,
// so a transfer cut off (the connection dropped, the daemon gone) never leaves a half-written file
// under its real name; the next run's --delete removes what a cut-off run left behind.

/** What one sync did (or, dry, would do): paths relative to the folder. */
export interface SyncReport {
    /** Files and symlinks whose content was (or would be) sent. */
    sent: string[];
    /** Paths deleted there because they are gone here. */
    deleted: string[];
    /** Bytes of file content sent (0 for a dry run). */
    bytes: number;
}

/** The out-format of each itemized line: the change, a space, the name. */
const OUT_FORMAT = "%i %n";

/**
 * rsync's arguments for `dir` on this machine to `dir` in `container`, reached with `rsh`
 * (e.g. ["docker", "exec", "-i"]: rsync appends the container's name and its server command).
 * --archive keeps modes, times, symlinks, owners (numeric: the container has other users) and
 * special files; --delete removes what was deleted here. Nothing is excluded: compose bind-mounts
 * files that a build's .dockerignore leaves out.
 */
export function rsyncArgs(container: string, dir: string, rsh: string[], opts: { dryRun?: boolean } = {}): string[] {
    return [
        "--archive",
        "--hard-links",
        "--numeric-ids",
        "--delete",
        "--itemize-changes",
        `--out-format=${OUT_FORMAT}`,
        "--stats",
        ...(opts.dryRun ? ["--dry-run"] : []),
        `--rsh=${rsh.join(" ")}`,
        `${dir.replace(/\/+$/, "")}/`,
        `${container}:${dir.replace(/\/+$/, "")}/`,
    ];
}

/** Reads rsync's itemized lines (OUT_FORMAT) and --stats from its stdout. */
export function parseSyncOutput(stdout: string): SyncReport {
    const report: SyncReport = { sent: [], deleted: [], bytes: 0 };
    for (const line of stdout.split("\n")) {
        const deleting = /^\*deleting +(.+)$/.exec(line);
        if (deleting) {
            report.deleted.push(deleting[1].replace(/\/$/, ""));
            continue;
        }
        // YXcstpoguax: Y is < (sent), c (made there) or . (attributes only); X is f, d, L, D, S.
        const item = /^([<>c.h])([fdLDS])(\S{9}) (.+)$/.exec(line);
        if (item && item[2] !== "d" && (item[1] === "<" || item[1] === ">" || item[1] === "c" || item[1] === "h"))
            report.sent.push(item[4]);
        const bytes = /^Total transferred file size: ([\d,.]+) bytes/.exec(line);
        if (bytes) report.bytes = Number(bytes[1].replace(/[,.]/g, ""));
    }
    return report;
}

/** A file rsync could not read on this machine, and what the system said. */
export interface UnreadableFile {
    path: string;
    error: string;
}

/** The files on this machine that rsync reported it could not read (its sender's errors). */
export function unreadableFiles(stderr: string): UnreadableFile[] {
    const found: UnreadableFile[] = [];
    const patterns = [
        /^rsync: (?:\[sender\] )?send_files failed to open "(.+)": (.+?)(?: \(\d+\))?$/,
        /^rsync: (?:\[sender\] )?opendir "(.+)" failed: (.+?)(?: \(\d+\))?$/,
        /^rsync: (?:\[sender\] )?readlink_stat\("(.+)"\) failed: (.+?)(?: \(\d+\))?$/,
        /^rsync: (?:\[sender\] )?read errors mapping "(.+)": (.+?)(?: \(\d+\))?$/,
    ];
    for (const line of stderr.split("\n")) {
        for (const re of patterns) {
            const m = re.exec(line.trim());
            if (m) found.push({ path: m[1], error: m[2] });
        }
    }
    return found;
}

/** The container has no rsync to receive the files (the docker CLI's or rsync's words for it). */
export const receiverLacksRsync = (stderr: string): boolean =>
    /executable file not found|"rsync": executable|rsync: (command )?not found|exec: "rsync"/i.test(stderr);

/** A short summary of a report, for the `up` output: "3 files sent (12.0 KB), 1 deleted". */
export function describeSync(r: SyncReport, dry: boolean): string {
    const parts: string[] = [];
    const files = (n: number) => `${n} file${n === 1 ? "" : "s"}`;
    if (r.sent.length > 0)
        parts.push(`${files(r.sent.length)} ${dry ? "to send" : "sent"}${dry ? "" : ` (${(r.bytes / 1024).toFixed(1)} KB)`}`);
    if (r.deleted.length > 0) parts.push(`${files(r.deleted.length)} ${dry ? "to delete" : "deleted"}`);
    return parts.length > 0 ? parts.join(", ") : "in step";
}

/** The first few names of a list, then how many more: for one line of output. */
export function someOf(names: string[], max = 10): string {
    return names.length <= max ? names.join(", ") : `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}
