// `npm run compose -- [-s STACK] <project> <compose args...>`: any compose
// command (ps, logs -f, exec, down -v, up --build) against a project's own
// inner daemon, with the project's files, env and the stack's override, the
// same way `pulumi up` runs it: inside the dind container, over TLS.
const { spawnSync } = require("child_process");
const { parseArgs, stackOutputs, projectEntry } = require("./stack-outputs");

try {
    const { stack, project, args } = parseArgs(process.argv.slice(2));
    const c = projectEntry(stackOutputs(stack), "compose", project, stack);
    const interactive = process.stdin.isTTY && c.override === "";
    const env = ["DOCKER_HOST=tcp://localhost:2376", "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/certs/client", ...Object.entries(c.env).map(([k, v]) => `${k}=${v}`)];
    const dockerArgs = [
        "exec", ...(interactive ? ["-it"] : c.override !== "" ? ["-i"] : []), "--workdir", c.dir, ...env.flatMap((e) => ["--env", e]),
        c.daemon, "docker", "compose", "--project-name", project, "--project-directory", c.dir,
        ...c.composeFiles.flatMap((f) => ["--file", f]), ...(c.override !== "" ? ["--file", "-"] : []), ...args,
    ];
    // The override goes on stdin; commands that need a terminal (exec -it) then run without one.
    const r = spawnSync("docker", dockerArgs, { stdio: [c.override !== "" ? "pipe" : "inherit", "inherit", "inherit"], input: c.override !== "" ? c.override : undefined });
    process.exit(r.status ?? 1);
} catch (e) {
    console.error(`npm run compose: ${e.message}`);
    process.exit(2);
}
