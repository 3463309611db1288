// A project's folders brought into its source volumes (files: sync, see transport/files.ts), as a
// dynamic resource: create and update run rsync over the engine's exec for each folder whose tree
// changed; a preview of a change says which files would be sent and deleted. Its input is a digest
// of each folder's tree (transport/manifest.ts), so a no-op `up` sends nothing and asks nothing.
// Delete does nothing: the source volumes go with the project.
import * as pulumi from "../pulumiSdk";
import { type TreeManifest } from "../transport/manifest";
import { describeSync, receiverLacksRsync, someOf, unreadableFiles } from "../transport/rsync";
import { EngineError } from "./engine";
import { engineFor, type KubernetesRef } from "./kubectlEngine";
import { progress } from "./exec";
import { ReferencedDynamicResource } from "./providerReference";

export interface SourceSyncInputs {
    project: string;
    /** The dind container whose source volumes receive the folders (rsync runs in it). */
    daemon: string;
    /** Its ID: a new container syncs again (the volumes outlive it; rsync then sends what is missing). */
    daemonId: string;
    /** Each folder on this machine (the same path in the container) -> its tree's digest. */
    dirs: Record<string, TreeManifest>;
    /** The cluster whose pod holds the daemon; absent: the Docker engine. */
    engine?: KubernetesRef;
}

/** The folders whose tree is not what the last sync sent (all, for a new container). */
function changedDirs(olds: SourceSyncInputs | undefined, news: SourceSyncInputs): string[] {
    if (!olds || olds.daemonId !== news.daemonId || olds.daemon !== news.daemon) return Object.keys(news.dirs);
    return Object.keys(news.dirs).filter((d) => olds.dirs?.[d]?.digest !== news.dirs[d].digest);
}

/** A failed sync, in words that name the file or the cause and the fix. */
function syncFailure(i: SourceSyncInputs, dir: string, e: unknown): Error {
    if (!(e instanceof EngineError)) return e as Error;
    const unreadable = unreadableFiles(e.detail);
    if (unreadable.length > 0) {
        const list = unreadable.map((u) => `${u.path} (${u.error})`).join(", ");
        return new Error(
            `project ${i.project}: cannot read ${list} on this machine, so it was not sent to ${i.daemon}. ` +
                `Make it readable by this user (e.g. chmod u+r, or chown), or move it out of ${dir}; then run 'pulumi up' again. ` +
                `Everything else was sent; the daemon's copy of that file is unchanged.`,
        );
    }
    if (receiverLacksRsync(e.detail)) {
        return new Error(
            `project ${i.project}: the dind container ${i.daemon} has no rsync, which dind-compose:files sync needs to receive the files. ` +
                `Use a dind image with rsync (e.g. FROM docker:29-dind, RUN apk add rsync) in dind-compose:images.dind, or dind-compose:files bind on an engine on this machine.`,
        );
    }
    return new Error(
        `project ${i.project}: the sync of ${dir} to ${i.daemon} failed (${e.message}). ` +
            `Files already sent are complete (rsync renames each one into place when it is whole) and nothing is left half-written under its name; ` +
            `run 'pulumi up' again when the engine answers, and it sends the rest.`,
    );
}

async function sync(olds: SourceSyncInputs | undefined, news: SourceSyncInputs): Promise<void> {
    for (const dir of changedDirs(olds, news)) {
        const started = Date.now();
        try {
            const r = await engineFor(news.engine).syncDirectory(news.daemon, dir);
            const names = [...r.sent, ...r.deleted.map((d) => `${d} (deleted)`)];
            await progress(
                `[${news.project}] ${dir}: ${describeSync(r, false)} in ${((Date.now() - started) / 1000).toFixed(1)} s${names.length > 0 ? `: ${someOf(names)}` : ""}`,
            );
        } catch (e) {
            throw syncFailure(news, dir, e);
        }
    }
}

/**
 * What the update would send, said as a line of output (a digest says nothing of files). The diff
 * cannot tell a preview from an `up`, so an `up` says it too, before the line of what it sent.
 */
async function tellPending(olds: SourceSyncInputs, news: SourceSyncInputs, dirs: string[]): Promise<void> {
    for (const dir of dirs) {
        const r = await engineFor(olds.engine)
            .syncDirectory(olds.daemon, dir, { dryRun: true })
            .catch((e: unknown) => e as Error);
        if (r instanceof Error) {
            await progress(`[${news.project}] ${dir}: cannot tell what would be sent (${syncFailure(news, dir, r).message})`);
            continue;
        }
        const names = [...r.sent, ...r.deleted.map((d) => `${d} (deleted)`)];
        await progress(`[${news.project}] ${dir}: ${describeSync(r, true)}${names.length > 0 ? `: ${someOf(names)}` : ""}`);
    }
}

export const sourceSyncProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: SourceSyncInputs) {
        await sync(undefined, inputs);
        return { id: `${inputs.daemon}-files`, outs: inputs };
    },
    async diff(_id: string, olds: SourceSyncInputs, news: SourceSyncInputs) {
        const dirs = changedDirs(olds, news);
        const moved = olds.daemon !== news.daemon || olds.daemonId !== news.daemonId;
        const removedDirs = Object.keys(olds.dirs ?? {}).some((d) => !(d in news.dirs));
        if (dirs.length === 0 && !removedDirs) return { changes: false };
        // The same container and folders: the preview can ask the daemon's copy what would change.
        if (!moved) await tellPending(olds, news, dirs);
        return { changes: true, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: SourceSyncInputs, news: SourceSyncInputs) {
        await sync(olds, news);
        return { outs: news };
    },
    async delete() {
        // The source volumes are separate resources, removed with the project.
    },
};

const sourceSyncReference = { moduleFile: __filename, exportName: "sourceSyncProvider" };

type SourceSyncArgs = { [K in keyof SourceSyncInputs]: pulumi.Input<SourceSyncInputs[K]> };

export class SourceSync extends ReferencedDynamicResource {
    constructor(name: string, args: SourceSyncArgs, opts?: pulumi.CustomResourceOptions) {
        super(sourceSyncReference, name, args, opts, "files", "Sync");
    }
}
