// `npm run lint` (part of `npm test`): the recommended rules of ESLint and typescript-eslint.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/**", ".dind-compose/**", "test-artifacts/**", ".pulumi-state/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        languageOptions: {
            globals: {
                require: "readonly",
                module: "writable",
                process: "readonly",
                console: "readonly",
                __dirname: "readonly",
                __filename: "readonly",
                Buffer: "readonly",
                setTimeout: "readonly",
                clearTimeout: "readonly",
                setInterval: "readonly",
                clearInterval: "readonly",
                globalThis: "readonly",
                URL: "readonly",
            },
        },
        rules: {
            // Unused arguments keep the shape of an interface (a provider's diff(id, olds, news)); a leading _ says so.
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
        },
    },
    {
        // The dynamic providers load Node built-ins at call time (see components/providers/exec.ts),
        // and the plain-JS scripts and benchmarks (and the tests that load them) are CommonJS.
        files: [
            "components/providers/**/*.ts",
            "scripts/**/*.js",
            "bench/**/*.js",
            "program.js",
            "test/unit/compileProgram.test.ts",
            "test/unit/sdkImports.test.ts",
        ],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
);
