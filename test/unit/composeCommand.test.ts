// How compose is run against a project's daemon (components/composeCommand.ts): the override on
// stdin, or, for a terminal, in a file inside the dind container so that stdin stays the terminal's.
import { describe, expect, it } from "vitest";
import { composeExecArgs } from "../../components/composeCommand";

const target = { daemon: "d", project: "a", dir: "/src/a", composeFiles: ["/src/a/compose.yaml"], env: {}, override: "services: {}\n" };
const tail = ["d", "docker", "compose", "--project-name", "a", "--project-directory", "/src/a", "--file", "/src/a/compose.yaml"];

describe("composeExecArgs", () => {
    it("passes the override on stdin (-i, --file -), even when a terminal is asked for", () => {
        expect(composeExecArgs(target, { tty: true }).slice(0, 2)).toEqual(["exec", "-i"]);
        expect(composeExecArgs(target).slice(-2)).toEqual(["--file", "-"]);
    });

    it("with the override in a file of the dind container, gives the command a terminal and names the file", () => {
        const args = composeExecArgs(target, { tty: true, overrideFile: "/tmp/o.yaml" });
        expect(args.slice(0, 2)).toEqual(["exec", "-it"]);
        expect(args.slice(-2)).toEqual(["--file", "/tmp/o.yaml"]);
    });

    it("without an override: a terminal when asked, no override flags", () => {
        const args = composeExecArgs({ ...target, override: "" }, { tty: true });
        expect(args.slice(0, 2)).toEqual(["exec", "-it"]);
        expect(args.slice(-tail.length)).toEqual(tail);
    });
});
