// The environment on a Kubernetes cluster (dind-compose:engine.kind: kubernetes), with
// @pulumi/kubernetes resources and the real pulumi-resource-kubernetes plugin: per project a
// StatefulSet of one dind pod (objects.ts), its Service and NetworkPolicy, the folders compose
// reads synced into claims at the same paths (SourceSync over kubectl exec), and the compose stack
// run in the pod (ComposeStack over kubectl exec); one nginx gateway Deployment with its config in
// a ConfigMap, behind a Service (NodePort by default) and, with an ingress class, an Ingress.
// What is shared with the Docker engine: the routes, the gateway's nginx.conf and index page, the
// compose override, the certificate, the compose stack and the file sync; the outputs are the same.
import { createHash } from "crypto";
import * as fs from "fs";
import type * as k8sModule from "@pulumi/kubernetes";
import * as pulumi from "../pulumiSdk";
import type { KubernetesEngineSpec } from "../config";
import type { EnvironmentArgs } from "../environment";
import type { ComposeInvocation } from "../dindProject";
import {
    GATEWAY_HTTP_PORT,
    GATEWAY_HTTPS_PORT,
    GATEWAY_INDEX_ROOT,
    GATEWAY_UPSTREAMS_DIR,
    renderNginxConf,
    Route,
    upstreamServerLine,
} from "../gatewayConfig";
import { projectUrl, renderIndexPage } from "../indexPage";
import { StackNames, STACK_LABEL, stackLabelValue } from "../names";
import { CA_SHARE_MOUNT, extraHostsNeeded, renderOverride } from "../override";
import { GatewayCertificate } from "../providers/certificates";
import { ComposeStack } from "../providers/composeStack";
import type { KubernetesRef } from "../providers/kubectlEngine";
import { SourceSync } from "../providers/sourceSync";
import {
    DIND_CONTAINER,
    daemonNetworkPolicySpec,
    daemonServiceSpec,
    daemonStatefulSetSpec,
    gatewayDeploymentSpec,
    gatewayIngressSpec,
    gatewayServiceSpec,
    k8sName,
    labelValue,
    PROJECT_SELECTOR,
    STACK_SELECTOR,
} from "./objects";

type K8s = typeof k8sModule;

export interface KubernetesEnvironmentArgs extends Omit<EnvironmentArgs, "networks"> {
    engine: KubernetesEngineSpec;
    /** The namespace exists and is not the stack's (preflight): used, not made. */
    namespaceExists: boolean;
}

const NGINX_CONF = "/etc/dind-compose/nginx.conf";
const TLS_DIR = "/etc/dind-compose/tls";

export class KubernetesEnvironment extends pulumi.ComponentResource {
    public readonly urls: Record<string, string>;
    public readonly routes: Record<string, { url: string; service: string | null; port: number }[]>;
    public readonly daemons: pulumi.Output<Record<string, string>>;
    public readonly daemonEndpoints: pulumi.Output<Record<string, string>>;
    public readonly services: pulumi.Output<Record<string, Record<string, string>>>;
    public readonly gatewayContainer: pulumi.Output<string>;
    public readonly caCertificate: pulumi.Output<string> | undefined;
    public readonly httpsUrls: Record<string, string>;
    public readonly compose: pulumi.Output<Record<string, ComposeInvocation & { engine: KubernetesRef }>>;
    public readonly files: pulumi.Output<Record<string, { daemon: string; dirs: string[]; engine: KubernetesRef }>>;
    /** The gateway Service: its name and node ports (for the access lines). */
    public readonly gatewayService: pulumi.Output<{ name: string; httpNodePort?: number; httpsNodePort?: number }>;

    constructor(k8s: K8s, name: string, args: KubernetesEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
        super("dind-compose:index:Environment", name, {}, opts);
        const { spec, loaded, engine } = args;
        const names = new StackNames(args.pulumiProject, args.stack);
        const stackValue = labelValue(stackLabelValue(args.pulumiProject, args.stack));
        const labels = { [STACK_SELECTOR]: stackValue, "app.kubernetes.io/managed-by": "dind-compose" };
        const ref: KubernetesRef = { kind: "kubernetes", context: engine.context, namespace: engine.namespace, container: DIND_CONTAINER };

        const provider = new k8s.Provider(
            `${name}-kubernetes`,
            { ...(engine.context ? { context: engine.context } : {}), namespace: engine.namespace, enableServerSideApply: true },
            { parent: this },
        );
        const namespace = args.namespaceExists
            ? undefined
            : new k8s.core.v1.Namespace(
                  `${name}-namespace`,
                  { metadata: { name: engine.namespace, labels: { [STACK_LABEL]: stackValue } } },
                  { parent: this, provider },
              );
        const inNamespace = (parent: pulumi.Resource): pulumi.CustomResourceOptions => ({
            parent,
            provider,
            ...(namespace ? { dependsOn: [namespace] } : {}),
        });
        const meta = (objectName: string, extra: Record<string, string> = {}) => ({
            name: objectName,
            namespace: engine.namespace,
            labels: { ...labels, ...extra },
        });

        // Each project's Service, made first: the gateway's config holds their cluster addresses.
        const routes: Route[] = spec.projects.flatMap((p) =>
            loaded[p.name].routes.map((r) => ({
                key: r.key,
                project: p.name,
                service: r.service,
                hostname: r.hostname,
                upstreamHost: `${k8sName(names.dind(p.name))}.${engine.namespace}.svc.cluster.local`,
                upstreamPort: r.port,
            })),
        );
        const routedHostnames = routes.map((r) => r.hostname);
        const ca = args.userTls ? undefined : args.ca;
        if (!args.userTls && !ca)
            throw new Error("KubernetesEnvironment: neither a user certificate (gateway.certFile) nor the user CA was given");
        const certificate =
            ca &&
            new GatewayCertificate(
                `${name}-certificate`,
                { domain: spec.domain, hostnames: routedHostnames, caDir: ca.dir, caKeyId: ca.keyId },
                { parent: this },
            );
        const tls = args.userTls ?? { cert: (certificate as GatewayCertificate).cert, key: (certificate as GatewayCertificate).key };

        const gateway = new pulumi.ComponentResource("dind-compose:index:Gateway", `${name}-gateway`, {}, { parent: this });
        const projectComponents = spec.projects.map(
            (p) => new pulumi.ComponentResource("dind-compose:index:DindProject", `${name}-${p.name}`, {}, { parent: this }),
        );
        const daemonServices = spec.projects.map(
            (p, i) =>
                new k8s.core.v1.Service(
                    `${name}-${p.name}-service`,
                    {
                        metadata: meta(k8sName(names.dind(p.name)), { [PROJECT_SELECTOR]: p.name }),
                        spec: daemonServiceSpec({
                            project: p.name,
                            labels,
                            ports: loaded[p.name].routes.map((r) => r.port),
                        }) as unknown as k8sModule.types.input.core.v1.ServiceSpec,
                    },
                    inNamespace(projectComponents[i]),
                ),
        );

        // The gateway: nginx.conf and the index page as on the Docker engine; each route's upstream
        // address is its project Service's cluster address, in the ConfigMap from the start.
        const nginxConf = renderNginxConf({
            domain: spec.domain,
            routes,
            httpPort: GATEWAY_HTTP_PORT,
            indexRoot: GATEWAY_INDEX_ROOT,
            https: { port: GATEWAY_HTTPS_PORT, certFile: `${TLS_DIR}/cert.pem`, keyFile: `${TLS_DIR}/key.pem` },
        });
        const indexHtml = renderIndexPage({ domain: spec.domain, routes, httpPort: spec.gateway.httpPort });
        const addresses = pulumi
            .all(daemonServices.map((s) => s.spec.clusterIP))
            .apply((ips) =>
                Object.fromEntries(
                    routes.map((r) => [
                        `upstream-${r.key}.conf`,
                        upstreamServerLine(ips[spec.projects.findIndex((p) => p.name === r.project)], r.upstreamPort),
                    ]),
                ),
            );
        const gatewayName = k8sName(names.gateway());
        const configData = addresses.apply((a) => ({ "nginx.conf": nginxConf, "index.html": indexHtml, ...a }));
        const configMap = new k8s.core.v1.ConfigMap(
            `${name}-gateway-config`,
            { metadata: meta(`${gatewayName}-config`), data: configData },
            inNamespace(gateway),
        );
        const secret = new k8s.core.v1.Secret(
            `${name}-gateway-tls`,
            { metadata: meta(`${gatewayName}-tls`), type: "Opaque", stringData: { "cert.pem": tls.cert, "key.pem": tls.key } },
            inNamespace(gateway),
        );
        const digest = pulumi
            .all([configData, tls.cert])
            .apply(([data, cert]) => createHash("sha256").update(JSON.stringify(data)).update(cert).digest("hex"));
        const deployment = new k8s.apps.v1.Deployment(
            `${name}-gateway-nginx`,
            {
                metadata: meta(gatewayName),
                spec: digest.apply(
                    (configDigest) =>
                        gatewayDeploymentSpec({
                            labels,
                            image: spec.images.nginx,
                            command: ["nginx", "-c", NGINX_CONF, "-g", "daemon off;"],
                            configMap: `${gatewayName}-config`,
                            configFiles: [
                                { key: "nginx.conf", path: NGINX_CONF },
                                { key: "index.html", path: `${GATEWAY_INDEX_ROOT}/index.html` },
                                ...routes.map((r) => ({
                                    key: `upstream-${r.key}.conf`,
                                    path: `${GATEWAY_UPSTREAMS_DIR}/${r.key}/address.conf`,
                                })),
                            ],
                            secret: `${gatewayName}-tls`,
                            secretFiles: [
                                { key: "cert.pem", path: `${TLS_DIR}/cert.pem` },
                                { key: "key.pem", path: `${TLS_DIR}/key.pem` },
                            ],
                            configDigest,
                            httpPort: GATEWAY_HTTP_PORT,
                            httpsPort: GATEWAY_HTTPS_PORT,
                        }) as unknown as k8sModule.types.input.apps.v1.DeploymentSpec,
                ),
            },
            { ...inNamespace(gateway), dependsOn: [configMap, secret, ...(namespace ? [namespace] : [])] },
        );
        const gatewayService = new k8s.core.v1.Service(
            `${name}-gateway-service`,
            {
                metadata: meta(gatewayName),
                spec: gatewayServiceSpec({
                    labels,
                    httpPort: GATEWAY_HTTP_PORT,
                    httpsPort: GATEWAY_HTTPS_PORT,
                    type: engine.gatewayService,
                }) as unknown as k8sModule.types.input.core.v1.ServiceSpec,
            },
            { ...inNamespace(gateway), dependsOn: [deployment] },
        );
        if (engine.ingressClass) {
            new k8s.networking.v1.Ingress(
                `${name}-gateway-ingress`,
                {
                    metadata: meta(gatewayName),
                    spec: gatewayIngressSpec({
                        ingressClass: engine.ingressClass,
                        service: gatewayName,
                        domain: spec.domain,
                        hostnames: routedHostnames,
                        httpPort: GATEWAY_HTTP_PORT,
                    }) as unknown as k8sModule.types.input.networking.v1.IngressSpec,
                },
                inNamespace(gateway),
            );
        }

        // Children reach every hostname at the gateway Service's address (no cluster DNS knows them).
        const gatewayAddress = gatewayService.spec.clusterIP;
        const hostnames = [spec.domain, ...routedHostnames];
        const overrideOf = (p: { name: string; trustCa: boolean }): pulumi.Output<string> => {
            const l = loaded[p.name];
            const needs = extraHostsNeeded({ services: l.services, bridgeServices: l.services, hostnames });
            const trust = ca && p.trustCa ? l.caVariables : {};
            return gatewayAddress.apply((address) => renderOverride(needs, address, l.rebindPorts, trust));
        };

        const projects = spec.projects.map((p, i) => {
            const parent = projectComponents[i];
            const stsName = k8sName(names.dind(p.name));
            const caConfigMap =
                ca &&
                new k8s.core.v1.ConfigMap(
                    `${name}-${p.name}-ca`,
                    {
                        metadata: meta(`${stsName}-ca`, { [PROJECT_SELECTOR]: p.name }),
                        data: Object.fromEntries(ca.shareFiles.map((f) => [f.name, fs.readFileSync(f.source, "utf8")])),
                    },
                    inNamespace(parent),
                );
            const folders = loaded[p.name].mountRoots;
            const statefulSet = new k8s.apps.v1.StatefulSet(
                `${name}-${p.name}-daemon`,
                {
                    metadata: meta(stsName, { [PROJECT_SELECTOR]: p.name }),
                    spec: daemonStatefulSetSpec({
                        name: stsName,
                        project: p.name,
                        labels: { ...labels, [PROJECT_SELECTOR]: p.name },
                        image: spec.images.dind,
                        security: spec.dind.security,
                        resources: p.resources,
                        storageClass: engine.storageClass,
                        folders,
                        ports: loaded[p.name].routes.map((r) => r.port),
                        caConfigMap: caConfigMap && { name: `${stsName}-ca`, mountPath: CA_SHARE_MOUNT },
                        stackSelector: { [STACK_SELECTOR]: stackValue },
                    }) as unknown as k8sModule.types.input.apps.v1.StatefulSetSpec,
                },
                { ...inNamespace(parent), dependsOn: [...(caConfigMap ? [caConfigMap] : []), ...(namespace ? [namespace] : [])] },
            );
            new k8s.networking.v1.NetworkPolicy(
                `${name}-${p.name}-policy`,
                {
                    metadata: meta(stsName, { [PROJECT_SELECTOR]: p.name }),
                    spec: daemonNetworkPolicySpec({
                        project: p.name,
                        labels,
                    }) as unknown as k8sModule.types.input.networking.v1.NetworkPolicySpec,
                },
                inNamespace(parent),
            );
            const pod = `${stsName}-0`;
            const daemonId = statefulSet.metadata.uid;
            const trees = args.sourceTrees?.[p.name] ?? {};
            const files = new SourceSync(
                `${name}-${p.name}-files`,
                { project: p.name, daemon: pod, daemonId, dirs: trees, engine: ref },
                { parent, dependsOn: [statefulSet] },
            );
            const override = overrideOf(p);
            const stack = new ComposeStack(
                `${name}-${p.name}-stack`,
                {
                    project: p.name,
                    daemon: pod,
                    daemonId,
                    dir: p.dir,
                    composeFiles: p.composeFiles,
                    override,
                    env: p.env,
                    preloadImages: p.preloadImages,
                    readyTimeoutSeconds: spec.dind.readyTimeoutSeconds,
                    model: loaded[p.name].model,
                    buildFiles: loaded[p.name].buildFiles,
                    sourceFiles: loaded[p.name].sourceFiles,
                    restartPolicy: "unless-stopped",
                    engine: ref,
                },
                { parent, dependsOn: [files], deletedWith: statefulSet },
            );
            return { pod, stack, override, folders };
        });

        const byName = <T>(values: pulumi.Input<T>[]): pulumi.Output<Record<string, T>> =>
            pulumi.all(values).apply((vs) => Object.fromEntries(spec.projects.map((p, i) => [p.name, vs[i] as T])));
        this.urls = Object.fromEntries(spec.projects.map((p) => [p.name, projectUrl(p.hostname, spec.gateway.httpPort)]));
        this.routes = Object.fromEntries(
            spec.projects.map((p) => [
                p.name,
                loaded[p.name].routes.map((r) => ({
                    url: projectUrl(r.hostname, spec.gateway.httpPort),
                    service: r.service ?? null,
                    port: r.port,
                })),
            ]),
        );
        this.httpsUrls = Object.fromEntries(spec.projects.map((p) => [p.name, projectUrl(p.hostname, spec.gateway.httpsPort, "https")]));
        this.caCertificate = ca && pulumi.output(ca.cert);
        this.daemons = byName(projects.map((p) => p.pod));
        this.daemonEndpoints = pulumi.output({} as Record<string, string>);
        this.services = byName(projects.map((p) => p.stack.services));
        this.gatewayContainer = pulumi.output(gatewayName);
        this.compose = byName(
            spec.projects.map((p, i) =>
                projects[i].override.apply((override) => ({
                    daemon: projects[i].pod,
                    dir: p.dir,
                    composeFiles: p.composeFiles,
                    env: p.env,
                    override,
                    engine: ref,
                })),
            ),
        );
        this.files = byName(projects.map((p) => ({ daemon: p.pod, dirs: p.folders, engine: ref })));
        this.gatewayService = gatewayService.spec.ports.apply((ports) => ({
            name: gatewayName,
            httpNodePort: ports.find((x) => x.name === "http")?.nodePort,
            httpsNodePort: ports.find((x) => x.name === "https")?.nodePort,
        }));
        this.registerOutputs({ urls: this.urls, daemons: this.daemons, services: this.services });
    }
}
