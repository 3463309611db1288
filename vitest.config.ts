import { defineConfig } from "vitest/config";

// Unit tests (pure functions, resource graph under mocks) run in parallel;
// integration tests drive the real Pulumi engine against the real Docker
// engine and run one file at a time (they share the engine and host ports).
export default defineConfig({
    test: {
        // Integration tests share the engine and host ports: one file at a time.
        fileParallelism: false,
        projects: [
            {
                test: {
                    name: "unit",
                    include: ["test/unit/**/*.test.ts"],
                },
            },
            {
                test: {
                    name: "integration",
                    include: ["test/integration/**/*.test.ts"],
                    testTimeout: 15 * 60_000,
                    hookTimeout: 15 * 60_000,
                },
            },
            {
                // On the test cluster (scripts/kubernetes/), which the first test file builds and starts.
                test: {
                    name: "cluster",
                    include: ["test/cluster/**/*.test.ts"],
                    testTimeout: 30 * 60_000,
                    hookTimeout: 90 * 60_000,
                },
            },
        ],
    },
});
