// What the dynamic providers read from the engine, one snapshot at a time.
//
// The Pulumi engine calls Diff one resource after another, and every diff asks
// the engine whether its object is still there (a plain `pulumi up` recreates
// what was removed by hand). One `docker inspect` per resource was most of a
// no-op `up` (BENCHMARKS.md). So the first read lists and
// inspects every object labelled by dind-compose in a few parallel calls, and
// later reads are answered from that snapshot, as long as:
// - no create, update or delete of this provider process ran since it was
//   taken, nor is running (`mutating` drops it; reads during a mutation go to
//   the engine directly), and
// - it is younger than SNAPSHOT_MAX_AGE_MS.
// An object the snapshot lacks (removed, or made without the label) is asked
// for directly, so a miss costs what it cost before.
//
// The providers run in one provider process, which loads this module once
// (providerReference.ts). The shared state lives on globalThis all the same, so
// that providers serialized into older states, each with its own copy of this
// code, share it too.
import { STACK_LABEL } from "../names";
import { type Engine, type EngineObjectKind, engine, ignoringMissing, type InspectedObject } from "./engine";

export type { EngineObjectKind, InspectedObject } from "./engine";

type Snapshot = Record<EngineObjectKind, Map<string, InspectedObject>>;

interface SnapshotState {
    /** Creates, updates and deletes running now. */
    inFlight: number;
    /** Bumped when a mutation starts or ends: a snapshot taken across one is not kept. */
    generation: number;
    pending?: Promise<Snapshot | undefined>;
    takenAt: number;
    snapshot?: Snapshot;
    /** The engine it was taken from: one put in its place (tests) starts afresh. */
    source?: Engine;
}

const SNAPSHOT_MAX_AGE_MS = 5000;

function snapshotState(): SnapshotState {
    const g = globalThis as { __dindComposeSnapshot?: SnapshotState };
    if (!g.__dindComposeSnapshot) {
        g.__dindComposeSnapshot = { inFlight: 0, generation: 0, takenAt: 0 };
    }
    return g.__dindComposeSnapshot;
}

/** Lists and inspects every labelled container, volume and network; undefined if any call failed (e.g. an object vanished in between). */
async function takeSnapshot(source: Engine): Promise<Snapshot | undefined> {
    const kinds: EngineObjectKind[] = ["container", "volume", "network"];
    try {
        const lists = await Promise.all(kinds.map((kind) => source.list(kind, STACK_LABEL)));
        const inspected = await Promise.all(lists.map((names, i) => (names.length === 0 ? [] : source.inspect(kinds[i], names))));
        const snapshot = { container: new Map(), volume: new Map(), network: new Map() } as Snapshot;
        inspected.forEach((objects, i) => {
            for (const o of objects) {
                // by ID and by name (containers' names start with "/")
                if (o.Id) snapshot[kinds[i]].set(o.Id, o);
                if (o.Name) snapshot[kinds[i]].set(o.Name.replace(/^\//, ""), o);
            }
        });
        return snapshot;
    } catch {
        return undefined;
    }
}

/** A snapshot usable now, taking one if needed; undefined while a mutation runs. */
async function currentSnapshot(): Promise<Snapshot | undefined> {
    const s = snapshotState();
    if (s.inFlight > 0) return undefined;
    const source = engine();
    if (s.source !== source) {
        s.snapshot = undefined;
        s.pending = undefined;
        s.source = source;
    }
    if (s.snapshot && Date.now() - s.takenAt <= SNAPSHOT_MAX_AGE_MS) return s.snapshot;
    if (!s.pending) {
        const generation = s.generation;
        const startedAt = Date.now();
        s.pending = takeSnapshot(source).then((snapshot) => {
            if (s.source !== source) return undefined;
            s.pending = undefined;
            if (snapshot && s.generation === generation && s.inFlight === 0) {
                s.snapshot = snapshot;
                s.takenAt = startedAt;
            }
            return snapshot;
        });
    }
    const snapshot = await s.pending;
    // Taken while a mutation started: not trusted.
    return s.inFlight === 0 ? snapshot : undefined;
}

/**
 * `docker <kind> inspect <nameOrId>`, parsed; undefined when the engine has no such object.
 * Answered from the snapshot when it can be (see the top of this file).
 */
export async function inspectObject(kind: EngineObjectKind, nameOrId: string): Promise<InspectedObject | undefined> {
    const hit = (await currentSnapshot())?.[kind].get(nameOrId);
    if (hit) return hit;
    return (await ignoringMissing(engine().inspect(kind, [nameOrId])))?.[0];
}

/** Runs a create, update or delete: no snapshot is used or kept while it runs, and none taken before it is used after it. */
export async function mutating<T>(work: () => Promise<T>): Promise<T> {
    const s = snapshotState();
    s.inFlight++;
    s.generation++;
    s.snapshot = undefined;
    try {
        return await work();
    } finally {
        s.inFlight--;
        s.generation++;
        s.snapshot = undefined;
    }
}
