// dind-compose: load config -> read the compose models -> Environment -> outputs.
import * as pulumi from "./components/pulumiSdk";
import * as fs from "fs";
import * as path from "path";
import {
    CONFIG_NAMESPACE,
    ConfigError,
    type EnvironmentSpec,
    type KubernetesEngineSpec,
    parseConfig,
    RawConfig,
} from "./components/config";
import { DockerPlatform } from "./components/docker/platform";
import { Environment, type LoadedProject } from "./components/environment";
import { loadProjects } from "./components/loadProjects";
import { StackNames, stackLabelValue } from "./components/names";
import { planNetworks } from "./components/networkPlan";
import { preflight } from "./components/preflight";
import { caFiles, prepareUserCa } from "./components/userCa";
import { engine, engineIsLocal } from "./components/providers/engine";
import { accessLines } from "./components/transport/access";
import { chooseFiles } from "./components/transport/files";
import { treeManifest } from "./components/transport/manifest";
import { checkCluster, unsupportedOnCluster } from "./components/kubernetes/preflight";
import { labelValue } from "./components/kubernetes/objects";
import { run } from "./components/providers/exec";

const config = new pulumi.Config(CONFIG_NAMESPACE);
const raw: RawConfig = {
    keys: Object.keys(pulumi.allConfig())
        .filter((k) => k.startsWith(`${CONFIG_NAMESPACE}:`))
        .map((k) => k.slice(CONFIG_NAMESPACE.length + 1)),
    projects: config.getObject("projects"),
    domain: config.get("domain"),
    gateway: config.getObject("gateway"),
    // Machines without a registry use the stand-in images that the bootstrap
    // built (it exports their names); explicit config always wins.
    images: config.getObject("images") ?? localDefaultImages(),
    // Without dind-compose:dind.security, the mode the bootstrap found to work
    // on this engine (it probes --privileged); explicit config always wins. A cluster's
    // nodes are not that engine: there the default is privileged, as for every dind pod.
    dind: onCluster()
        ? config.getObject("dind")
        : withLocalDefaults(config.getObject("dind"), { security: process.env.DIND_COMPOSE_DEFAULT_SECURITY }),
    network: config.getObject("network"),
    // DIND_COMPOSE_CA_DIR moves the user CA's default place (as mkcert's CAROOT does); the key wins.
    tls: withLocalDefaults(config.getObject("tls"), { caDir: process.env.DIND_COMPOSE_CA_DIR }),
    files: config.get("files"),
    engine: config.getObject("engine"),
};

function onCluster(): boolean {
    const e = config.getObject<{ kind?: unknown }>("engine");
    return typeof e === "object" && e !== null && e.kind === "kubernetes";
}

function withLocalDefaults(configured: unknown, local: Record<string, string | undefined>): unknown {
    const defined = Object.fromEntries(Object.entries(local).filter(([, v]) => v !== undefined && v !== ""));
    if (configured === undefined) return Object.keys(defined).length > 0 ? defined : undefined;
    return typeof configured === "object" && configured !== null && !Array.isArray(configured) ? { ...defined, ...configured } : configured;
}

function localDefaultImages(): unknown {
    const fromBootstrap = process.env.DIND_COMPOSE_DEFAULT_IMAGES;
    return fromBootstrap ? JSON.parse(fromBootstrap) : undefined;
}

const projectDir = process.cwd();
const files = {
    isDirectory: (p: string) => fs.existsSync(p) && fs.statSync(p).isDirectory(),
    isFile: (p: string) => fs.existsSync(p) && fs.statSync(p).isFile(),
};

/**
 * A ConfigError ends the run with its message alone (Pulumi prints a RunError without a stack):
 * each problem already names the key or file, the bad value and the fix, so a stack trace is noise.
 * The stack is dropped too, because Pulumi formats it even for a RunError, and Node 22.23's
 * util.inspect (with colors) loops on ts-node's source-mapped frames such as
 * `node_modules/@pulumi/resource.ts` until the string overflows: 15-30 s per bad config.
 */
function configRunError(e: ConfigError): pulumi.RunError {
    const err = new pulumi.RunError(e.message);
    err.stack = undefined;
    return err;
}

export = async () => {
    try {
        return await program();
    } catch (e) {
        throw e instanceof ConfigError ? configRunError(e) : e;
    }
};

async function program() {
    const spec = parseConfig(raw, projectDir, files, pulumi.getStack());
    const names = new StackNames(pulumi.getProject(), pulumi.getStack());
    if (spec.engine.kind === "kubernetes") return kubernetesProgram(spec, spec.engine);
    startProviderPlugin();
    const transport = chooseFiles(spec.files, engine().host(), engineIsLocal());
    pulumi.log.info(transport.reason);
    if (transport.warning) pulumi.log.warn(transport.warning);
    await preflight(spec, names, transport.mode);
    const networks = await planNetworks(spec, names);
    const loaded = await loadModels(spec, transport.mode === "sync");
    const sourceTrees = transport.mode === "sync" ? treesOf(spec, loaded) : undefined;
    const { userTls, ca } = gatewayTls(spec);
    const context = { spec, loaded, pulumiProject: pulumi.getProject(), stack: pulumi.getStack(), ca };
    const env = new Environment("env", { ...context, userTls, sourceTrees, platform: new DockerPlatform(context, networks) });
    const access = accessLines(
        engine().host(),
        engineIsLocal(),
        spec.gateway,
        spec.projects.flatMap((p) => p.tcp.map((t) => t.hostPort)),
        spec.domain,
    );
    for (const line of access) pulumi.log.info(line);
    return { ...outputsOf(env, spec), access };
}

/**
 * The same stack on a cluster (components/kubernetes/): the cluster is asked before anything is
 * registered; the compose models are read as for an engine elsewhere (copies of the files), and
 * every folder compose reads is synced into the daemon's claims.
 */
async function kubernetesProgram(spec: EnvironmentSpec, engineSpec: KubernetesEngineSpec) {
    const unsupported = unsupportedOnCluster(spec);
    if (unsupported.length > 0) throw new ConfigError(unsupported);
    const kubectl = (args: string[]) => run("kubectl", args);
    const stackValue = labelValue(stackLabelValue(pulumi.getProject(), pulumi.getStack()));
    const facts = await checkCluster(engineSpec, stackValue, kubectl);
    pulumi.log.info(
        `engine: Kubernetes, context ${engineSpec.context ?? "(current)"}, namespace ${engineSpec.namespace}${facts.namespaceExists ? " (there already: used, not made)" : ""}; project files: synced into volume claims`,
    );
    startProviderPlugin();
    const loaded = await loadModels(spec, true);
    const { userTls, ca } = gatewayTls(spec);
    // Loaded here, not at the top: the Docker engine's runs need none of it (it loads @pulumi/pulumi's index).
    const k8s = await import("@pulumi/kubernetes");
    const { KubernetesPlatform } = await import("./components/kubernetes/platform");
    const context = { spec, loaded, pulumiProject: pulumi.getProject(), stack: pulumi.getStack(), ca };
    const platform = new KubernetesPlatform(k8s, context, engineSpec, facts.namespaceExists);
    const env = new Environment("env", { ...context, userTls, sourceTrees: treesOf(spec, loaded), platform });
    const gatewayService = platform.gatewayService as NonNullable<typeof platform.gatewayService>;
    const ctx = engineSpec.context ? ` --context ${engineSpec.context}` : "";
    const access = gatewayService.apply((g) => [
        `The gateway runs in the cluster: kubectl${ctx} -n ${engineSpec.namespace} port-forward svc/${g.name} ${spec.gateway.httpPort}:80 ${spec.gateway.httpsPort}:443 makes the printed URLs work here.`,
        ...(g.httpNodePort
            ? [
                  `Or on any node, at its address: HTTP on node port ${g.httpNodePort}, HTTPS on ${g.httpsNodePort}, with the project's hostname in the Host header.`,
              ]
            : []),
    ]);
    access.apply((lines) => lines.forEach((l) => pulumi.log.info(l)));
    return { ...outputsOf(env, spec), gatewayService, access };
}

/** Every project's compose model (loadProjects.ts); `copyFiles`: the engine does not see this machine's folders. */
function loadModels(spec: EnvironmentSpec, copyFiles: boolean) {
    return loadProjects(spec.projects, {
        composeImage: spec.images.dind,
        cacheDir: path.join(projectDir, ".dind-compose", "cache"),
        domain: spec.domain,
        copyFiles,
    });
}

/** Each folder's tree as it is now (what the synced folders are brought to), by project. */
function treesOf(spec: EnvironmentSpec, loaded: Record<string, LoadedProject>) {
    return Object.fromEntries(
        spec.projects.map((p) => [p.name, Object.fromEntries(loaded[p.name].mountRoots.map((d) => [d, treeManifest(d)]))]),
    );
}

/** The user's own certificate (gateway.certFile), or the user CA, checked (and made or re-issued by `up`) before anything is registered. */
function gatewayTls(spec: EnvironmentSpec) {
    const tlsFiles = spec.gateway.tls;
    const own = tlsFiles && { cert: fs.readFileSync(tlsFiles.certFile, "utf8"), key: fs.readFileSync(tlsFiles.keyFile, "utf8") };
    const ca = own ? undefined : prepareUserCa(spec.tls.caDir, spec.domain, pulumi.isDryRun());
    for (const note of ca?.notes ?? []) pulumi.log.warn(note);
    return {
        userTls: own && { cert: own.cert, key: pulumi.secret(own.key) },
        ca: ca && {
            dir: spec.tls.caDir,
            // A preview that makes the CA knows neither yet; the `up` that follows does.
            keyId: ca.ca?.keyId ?? "(a new CA)",
            cert: ca.ca?.cert ?? "",
            shareFiles: ca.shareFiles,
        },
    };
}

/** The stack outputs every engine has. */
function outputsOf(env: Environment, spec: EnvironmentSpec) {
    return {
        urls: env.urls,
        routes: env.routes,
        httpsUrls: env.httpsUrls,
        caCertificate: env.caCertificate,
        caFile: env.caCertificate && caFiles(spec.tls.caDir).cert,
        daemons: env.daemons,
        daemonEndpoints: env.daemonEndpoints,
        services: env.services,
        gateway: env.gatewayContainer,
        compose: env.compose,
        files: env.files,
    };
}

/**
 * Has the engine start the dynamic-provider plugin (a second Node.js process, ~0.5 s to start) now,
 * while the preflight, the compose models and the resource registrations run; otherwise it starts
 * at the first registration, after them, on every command's critical path (BENCHMARKS.md). Any request
 * for the `pulumi-nodejs` package starts the plugin: this invoke names no function, so the plugin
 * answers "unknown function", which is expected and dropped. It comes after the config check, but
 * before the preflight: a run stopped by the preflight or a compose file leaves the default
 * provider (a reference to the plugin, no object) in a new stack's state, nothing else.
 */
function startProviderPlugin(): void {
    pulumi.invoke("pulumi-nodejs:dynamic:startPlugin", {}).catch(() => undefined);
}
