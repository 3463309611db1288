// The parts of @pulumi/pulumi that the program and its providers use, taken from the SDK's own
// modules instead of its package index.
//
// `import * as pulumi from "@pulumi/pulumi"` loads the index, which loads the Automation API and,
// through runtime/index.js, the closure serializer: none of which the program uses, and ~0.45 s of
// CPU on these 2-core machines before the program's first registration (a CPU profile of
// `pulumi preview`, BENCHMARKS.md). These are the very modules that the index re-exports, so a
// value from here is the SDK's own (the unit tests set their mocks through "@pulumi/pulumi").
export * from "@pulumi/pulumi/config";
export * from "@pulumi/pulumi/errors";
export * from "@pulumi/pulumi/metadata";
export * from "@pulumi/pulumi/output";
export * from "@pulumi/pulumi/resource";
export * as dynamic from "@pulumi/pulumi/dynamic";
export * as log from "@pulumi/pulumi/log";
export { invoke } from "@pulumi/pulumi/runtime/invoke";
export { unknownValue } from "@pulumi/pulumi/runtime/rpc";
export { allConfig } from "@pulumi/pulumi/runtime/config";
export { isDryRun } from "@pulumi/pulumi/runtime/settings";
