// `npm run env -- [-s STACK] <project>`: prints the exports that point a
// docker/compose client on the host at a project's inner daemon, over TLS:
//   eval "$(npm run -s env -- a)" && cd examples/project-a && docker compose ps
// The project needs dind-compose:projects[].daemonPort (its TLS endpoint is
// then published on 127.0.0.1). The client certificates are copied out of
// the daemon's cert volume into .dind-compose/certs/<stack>/<project>/.
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { parseArgs, stackOutputs, projectEntry } = require("./stack-outputs");

try {
    const { stack, project } = parseArgs(process.argv.slice(2));
    const outputs = stackOutputs(stack);
    const daemon = projectEntry(outputs, "daemons", project, stack);
    const engine = outputs.compose?.[project]?.engine;
    if (engine) {
        clusterEnv(stack, project, daemon, engine, outputs);
        process.exit(0);
    }
    const endpoint = (outputs.daemonEndpoints || {})[project];
    if (!endpoint) {
        throw new Error(
            `project "${project}" does not publish its daemon; set daemonPort: 0 (any free port) on it in Pulumi.${stack}.yaml, then npm run pulumi -- up -s ${stack}`,
        );
    }
    const certDir = path.resolve(__dirname, "..", ".dind-compose", "certs", stack, project);
    fs.rmSync(certDir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(certDir), { recursive: true, mode: 0o700 });
    execFileSync("docker", ["cp", `${daemon}:/certs/client`, certDir], { stdio: ["ignore", "ignore", "inherit"] });
    fs.chmodSync(path.join(certDir, "key.pem"), 0o600);
    // COMPOSE_PROJECT_NAME: the stack runs the project under its dind-compose name, not its directory's.
    console.log(`export DOCKER_HOST=${endpoint} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${certDir} COMPOSE_PROJECT_NAME=${project}`);
    console.log(`# then, from ${outputs.compose?.[project]?.dir ?? "the project's directory"}: docker compose ps`);
} catch (e) {
    console.error(`npm run env: ${e.message}`);
    process.exit(2);
}

/**
 * On a cluster the daemon's TLS endpoint is its pod's port 2376: a kubectl port-forward brings it
 * here (its certificate names 127.0.0.1), on 23760 + the project's place in the stack.
 */
function clusterEnv(stack, project, pod, engine, outputs) {
    const kubectl = ["kubectl", ...(engine.context ? ["--context", engine.context] : []), "--namespace", engine.namespace];
    const certDir = path.resolve(__dirname, "..", ".dind-compose", "certs", stack, project);
    fs.rmSync(certDir, { recursive: true, force: true });
    fs.mkdirSync(certDir, { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "cert.pem", "key.pem"]) {
        const pem = execFileSync(
            kubectl[0],
            [...kubectl.slice(1), "exec", pod, "-c", engine.container, "--", "cat", `/certs/client/${f}`],
            {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "inherit"],
            },
        );
        fs.writeFileSync(path.join(certDir, f), pem, { mode: f === "key.pem" ? 0o600 : 0o644 });
    }
    const port = 23760 + Object.keys(outputs.compose).sort().indexOf(project);
    console.log(`# the daemon runs in pod ${pod}; keep this running in another terminal:`);
    console.log(`#   ${kubectl.join(" ")} port-forward pod/${pod} ${port}:2376`);
    console.log(
        `export DOCKER_HOST=tcp://127.0.0.1:${port} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${certDir} COMPOSE_PROJECT_NAME=${project}`,
    );
}
