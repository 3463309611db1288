// A digest of a folder tree as rsync sees it (names, kinds, sizes, modification times, modes,
// symlink targets), without reading the files: the source-volume resource's input, so that a
// preview or `up` finds a change in microseconds per file and a no-op `up` sends nothing.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

export interface TreeManifest {
    /** sha256 over every entry, sorted by path. */
    digest: string;
    files: number;
    bytes: number;
}

/** Walks `root` (not following symlinks); an entry that cannot be read is in the digest by its error. */
export function treeManifest(root: string): TreeManifest {
    const h = crypto.createHash("sha256");
    let files = 0;
    let bytes = 0;
    const walk = (dir: string, rel: string): void => {
        let names: string[];
        try {
            names = fs.readdirSync(dir).sort();
        } catch (e) {
            h.update(`${rel}\0error ${(e as NodeJS.ErrnoException).code}\n`);
            return;
        }
        for (const name of names) {
            const full = path.join(dir, name);
            const r = rel === "" ? name : `${rel}/${name}`;
            const st = fs.lstatSync(full);
            const kind = st.isSymbolicLink() ? `l ${fs.readlinkSync(full)}` : st.isDirectory() ? "d" : st.isFile() ? "f" : "o";
            h.update(`${r}\0${kind}\0${st.mode}\0${st.uid}:${st.gid}\0${st.isFile() ? st.size : 0}\0${Math.floor(st.mtimeMs)}\n`);
            if (st.isFile()) {
                files++;
                bytes += st.size;
            }
            if (st.isDirectory()) walk(full, r);
        }
    };
    walk(root, "");
    return { digest: h.digest("hex").slice(0, 32), files, bytes };
}
