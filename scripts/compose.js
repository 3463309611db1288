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
    const { composeExecArgs } = requireProgramModule(path.resolve(__dirname, ".."), "components/composeCommand");
    const dockerArgs = [...composeExecArgs({ ...c, project }, { tty: process.stdin.isTTY }), ...args];
    // The override goes on stdin; commands that need a terminal (exec -it) then run without one.
    const r = spawnSync("docker", dockerArgs, { stdio: [c.override !== "" ? "pipe" : "inherit", "inherit", "inherit"], input: c.override !== "" ? c.override : undefined });
    process.exit(r.status ?? 1);
} catch (e) {
    console.error(`npm run compose: ${e.message}`);
    process.exit(2);
}
