import * as pulumi from "./pulumiSdk";
import { ComposeTarget } from "./composeCommand";
import { ProjectSpec } from "./config";
import type { LoadedProject } from "./environment";
import type { Platform } from "./platform";
import { ComposeStack } from "./providers/composeStack";
import type { KubernetesRef } from "./providers/kubectlEngine";
import { SourceSync } from "./providers/sourceSync";
import type { TreeManifest } from "./transport/manifest";

/** What `npm run compose` needs (the compose project name is the key it is filed under); `engine`: the cluster of a daemon in a pod. */
export type ComposeInvocation = Omit<ComposeTarget, "project"> & { engine?: KubernetesRef };

export interface DindProjectArgs {
    /** The validated project (see config.ts). */
    spec: ProjectSpec;
    /** What the program learned from its compose files. */
    loaded: LoadedProject;
    /** Where the daemon runs (platform.ts). */
    platform: Platform;
    readyTimeoutSeconds: number;
    /**
     * The folders synced into the daemon (transport/files.ts), by folder: each of mountRoots'
     * trees. Undefined: bind-mounted (the Docker engine on this machine).
     */
    sourceTrees: Record<string, TreeManifest> | undefined;
    /** Compose override (YAML) given as the last file; "" for none. */
    override: pulumi.Input<string>;
}

/**
 * One compose project in its own Docker-in-Docker daemon: the daemon and what keeps its data (the
 * platform's), the project's folders synced into it when they are not bind-mounted, and the
 * compose stack on it.
 */
export class DindProject extends pulumi.ComponentResource {
    /** Name of the dind container, or of its pod on a cluster. */
    public readonly daemon: pulumi.Output<string>;
    /** A new one when the daemon is made anew. */
    public readonly daemonId: pulumi.Output<string>;
    /** Host address of the inner daemon's TLS endpoint, when published (daemonPort). */
    public readonly daemonEndpoint: pulumi.Output<string | undefined>;
    /** Service -> state after the last `up`. */
    public readonly services: pulumi.Output<Record<string, string>>;
    /** What `npm run compose` needs to run compose against this project's daemon as the stack does. */
    public readonly compose: pulumi.Output<ComposeInvocation>;

    constructor(name: string, args: DindProjectArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:DindProject", name, {}, opts);
        const { spec } = args;
        const placed = args.platform.daemon({ parent: this, name, spec, loaded: args.loaded, sourceTrees: args.sourceTrees });
        // Absent, not undefined, on the Docker engine: the inputs of every state written before clusters.
        const onEngine = placed.engine ? { engine: placed.engine } : {};

        const files =
            args.sourceTrees &&
            new SourceSync(
                `${name}-files`,
                { project: spec.name, daemon: placed.daemon, daemonId: placed.daemonId, dirs: args.sourceTrees, ...onEngine },
                { parent: this, deletedWith: placed.resource },
            );

        const stack = new ComposeStack(
            `${name}-stack`,
            {
                project: spec.name,
                daemon: placed.daemon,
                daemonId: placed.daemonId,
                dir: spec.dir,
                composeFiles: spec.composeFiles,
                override: args.override,
                env: spec.env,
                preloadImages: spec.preloadImages,
                readyTimeoutSeconds: args.readyTimeoutSeconds,
                model: args.loaded.model,
                buildFiles: args.loaded.buildFiles,
                sourceFiles: args.loaded.sourceFiles,
                // What was running comes back when the inner daemon restarts (with the engine, after a
                // reboot), as the dind container itself does: nobody has to run `pulumi up` for it.
                restartPolicy: "unless-stopped",
                ...onEngine,
            },
            // When the daemon goes too (destroy, a project removed from the config), `docker compose
            // down` inside it is wasted time (up to its stop timeout per project): removing the daemon
            // stops every child at once, and the children's volumes live in its data volume, which
            // goes as well. The stack's own delete (compose down) still runs when it alone is deleted.
            { parent: this, deletedWith: placed.resource, ...(files ? { dependsOn: [files] } : {}) },
        );

        this.daemon = placed.daemon;
        this.daemonId = placed.daemonId;
        this.daemonEndpoint = placed.daemonEndpoint;
        this.services = stack.services;
        this.compose = pulumi.output({
            daemon: placed.daemon,
            dir: spec.dir,
            composeFiles: spec.composeFiles,
            env: spec.env,
            override: args.override,
            ...onEngine,
        });
        this.registerOutputs({ daemon: this.daemon, daemonEndpoint: this.daemonEndpoint, services: this.services, compose: this.compose });
    }
}
