// Shared by compose.js and daemon-env.js: picks the stack (-s NAME, else
// $DIND_COMPOSE_STACK, else dev) and reads its outputs with the project's
// Pulumi CLI (run through with-env.sh, so PATH and the backend are set).
const { execFileSync } = require("child_process");

/** Splits `[-s|--stack NAME] project args...`. */
function parseArgs(argv) {
    let stack = process.env.DIND_COMPOSE_STACK || "dev";
    const rest = [...argv];
    if (rest[0] === "-s" || rest[0] === "--stack") {
        stack = rest[1];
        rest.splice(0, 2);
    }
    return { stack, project: rest[0], args: rest.slice(1) };
}

function stackOutputs(stack) {
    try {
        return JSON.parse(
            execFileSync("pulumi", ["stack", "output", "--json", "--stack", stack], {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
            }),
        );
    } catch (e) {
        const detail = (e.stderr || e.message || "").toString().trim();
        throw new Error(
            `cannot read the outputs of stack "${stack}" (${detail}); is it up? (npm start brings up "dev"; pick another with -s NAME)`,
            { cause: e },
        );
    }
}

/** The outputs' entry for a project, or an error listing the known ones. */
function projectEntry(outputs, key, project, stack) {
    const known = Object.keys(outputs[key] || {});
    if (!project || !known.includes(project)) {
        throw new Error(
            `${project ? `no project "${project}"` : "no project given"} in stack "${stack}"; known: ${known.join(", ") || "(none)"}`,
        );
    }
    return outputs[key][project];
}

module.exports = { parseArgs, stackOutputs, projectEntry };
