// `npm run compose -- [-s STACK] <project> <compose args...>`: any compose
// command (ps, logs -f, exec, down -v, up --build) against a project's own
// inner daemon, with the project's files, env and the stack's override, the
// same way `pulumi up` runs it: inside the dind container, over TLS.
const { spawnSync } = require("child_process");
const path = require("path");
const { requireProgramModule } = require("./compile-program");
const { parseArgs, stackOutputs, projectEntry } = require("./stack-outputs");

try {
    const { stack, project, args } = parseArgs(process.argv.slice(2));
    const c = projectEntry(stackOutputs(stack), "compose", project, stack);
    // The same invocation as the compose-stack provider's (components/composeCommand.ts).
    const { composeExecArgs, OVERRIDE_TO_FILE_SCRIPT } = requireProgramModule(path.resolve(__dirname, ".."), "components/composeCommand");
    const target = { ...c, project };
    const tty = Boolean(process.stdin.isTTY);
    // From a terminal, the override goes into a file in the dind container first, so that stdin
    // stays the terminal's (exec -it, logs -f with ^C); otherwise it goes on stdin.
    const root = path.resolve(__dirname, "..");
    // On a cluster the daemon is a pod's container: kubectl exec, with the same directory and variables.
    const { kubectlExecArgs } = c.engine ? requireProgramModule(root, "components/providers/kubectlEngine") : {};
    const cli = c.engine ? "kubectl" : "docker";
    const execArgs = (command, o) =>
        c.engine
            ? kubectlExecArgs(c.engine, c.daemon, command, o)
            : ["exec", ...(o.stdin ? ["-i"] : []), ...(o.workdir ? ["--workdir", o.workdir] : []), c.daemon, ...command];
    let overrideFile;
    if (tty && c.override !== "") {
        const w = spawnSync(cli, execArgs(["sh", "-c", OVERRIDE_TO_FILE_SCRIPT], { stdin: true }), {
            input: c.override,
            encoding: "utf8",
        });
        if (w.status !== 0) throw new Error(`could not write the override into ${c.daemon}: ${w.stderr.trim()}`);
        overrideFile = w.stdout.trim();
    }
    const onStdin = c.override !== "" && overrideFile === undefined;
    let cliArgs;
    if (c.engine) {
        const { composeExecParts, composeExecContext } = requireProgramModule(root, "components/composeCommand");
        const parts = composeExecParts(target, { tty, overrideFile });
        const where = composeExecContext(target);
        const command = ["docker", "compose", ...parts.composeFlags, ...parts.overrideFlags, ...args];
        cliArgs = execArgs(command, { stdin: onStdin, tty: tty && !onStdin, workdir: where.workdir, env: where.env });
    } else {
        cliArgs = [...composeExecArgs(target, { tty, overrideFile }), ...args];
    }
    const r = spawnSync(cli, cliArgs, {
        stdio: [onStdin ? "pipe" : "inherit", "inherit", "inherit"],
        input: onStdin ? c.override : undefined,
    });
    if (overrideFile) spawnSync(cli, execArgs(["rm", "-f", overrideFile], {}));
    process.exit(r.status ?? 1);
} catch (e) {
    console.error(`npm run compose: ${e.message}`);
    process.exit(2);
}
