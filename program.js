// What Pulumi runs (Pulumi.yaml: main): the program in index.ts, transpiled
// ahead of the run by scripts/compile-program.js (only what changed), without
// ts-node and its source maps.
"use strict";
// @pulumi/pulumi's run script installs source-map-support for the SDK's own
// sources, and the SDK captures a stack trace for every resource and promise:
// mapping them cost ~0.25 s of CPU per command at 8 projects (BENCHMARKS.md).
// Stack traces show plain JavaScript positions instead.
Error.prepareStackTrace = undefined;
module.exports = require(require("./scripts/compile-program").compileProgram(__dirname));
