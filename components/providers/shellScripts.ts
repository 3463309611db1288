// The shell scripts the providers run with `sh -c` inside containers, kept as files under
// providers/scripts/ (checked by shellcheck; scripts/compile-program.js copies them into the
// build next to this module) and read when first used.
//
// A script's text is the file without its final newline, with each `@NAME@` replaced by the
// value given for NAME: a value the TypeScript also uses (a path) keeps one home that way.

const cache = new Map<string, string>();

/** The text of providers/scripts/<name>.sh for `sh -c`. Throws for a placeholder given no value. */
export function shellScript(name: string, values: Record<string, string> = {}): string {
    let text = cache.get(name);
    if (text === undefined) {
        const fs: typeof import("fs") = require("fs");
        const path: typeof import("path") = require("path");
        text = fs.readFileSync(path.join(__dirname, "scripts", `${name}.sh`), "utf8").replace(/\n$/, "");
        cache.set(name, text);
    }
    return text.replace(/@([A-Z_]+)@/g, (_, key: string) => {
        const value = values[key];
        if (value === undefined) throw new Error(`providers/scripts/${name}.sh: no value for @${key}@`);
        return value;
    });
}
