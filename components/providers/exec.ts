// Process helpers for the dynamic providers, which run in the provider process (the docker CLI
// itself is driven by engine.ts).
// Built-ins and packages are `require`d at call time, as in the other provider
// modules: a habit from when Pulumi's closure serializer copied these functions
// into the state (a captured module namespace dragged Node internals in and
// failed). Since providerReference.ts they are loaded as plain modules.
import type * as childProcessTypes from "child_process";

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    /** Bytes written to the child's stdin, or a readable stream piped into it. */
    input?: string | Buffer | NodeJS.ReadableStream;
    env?: Record<string, string>;
    cwd?: string;
    /** Called with each chunk of stdout and stderr, for progress. */
    onOutput?: (chunk: string) => void;
}

/** Runs a program and collects its output; never throws for a non-zero exit. */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const childProcess: typeof childProcessTypes = require("child_process");
        const child = childProcess.spawn(file, args, {
            cwd: opts.cwd,
            env: opts.env ? { ...process.env, ...opts.env } : process.env,
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => {
            stdout += d.toString();
            opts.onOutput?.(d.toString());
        });
        child.stderr.on("data", (d: Buffer) => {
            stderr += d.toString();
            opts.onOutput?.(d.toString());
        });
        child.on("error", (err) => reject(new Error(`cannot run ${file}: ${err.message}`)));
        child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
        const input = opts.input;
        if (input === undefined) child.stdin.end();
        else if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
        else input.pipe(child.stdin);
    });
}

/** A short form of a docker command line for error messages: the verb and the object's name. */
export function commandLine(args: string[]): string {
    const nameAt = args.indexOf("--name");
    const object = nameAt >= 0 ? args[nameAt + 1] : args.length <= 4 ? args.slice(1).join(" ") : `${args.slice(1, 3).join(" ")} …`;
    return `docker ${args[0]} ${object}`.trim();
}

/**
 * Sends a line to the Pulumi engine's diagnostics, so a long step shows its
 * progress in `pulumi up`. The dynamic provider process gets the engine's
 * address as its first argument; without it (tests), the line goes to stderr.
 */
export function progress(message: string): Promise<void> {
    const engineAddr = process.argv[2];
    if (!engineAddr || !/^[\w.-]+:\d+$/.test(engineAddr)) {
        process.stderr.write(`${message}\n`);
        return Promise.resolve();
    }
    // Resolved at run time in the provider process (these are @pulumi/pulumi's own modules).
    const grpc = require("@grpc/grpc-js");
    const engineGrpc = require("@pulumi/pulumi/proto/engine_grpc_pb.js");
    const enginePb = require("@pulumi/pulumi/proto/engine_pb.js");
    const g = globalThis as { __dindComposeEngine?: unknown };
    if (!g.__dindComposeEngine) {
        g.__dindComposeEngine = new engineGrpc.EngineClient(engineAddr, grpc.credentials.createInsecure());
    }
    const client = g.__dindComposeEngine as { log(req: unknown, cb: (err: unknown) => void): void };
    const req = new enginePb.LogRequest();
    req.setSeverity(enginePb.LogSeverity.INFO);
    req.setMessage(message);
    return new Promise((resolve) => client.log(req, () => resolve()));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
