// A cluster's objects (platform.ts), as @pulumi/kubernetes resources with the real
// pulumi-resource-kubernetes plugin: the provider and (unless it is someone else's) the namespace;
// per project a StatefulSet of one dind pod (objects.ts: /var/lib/docker and each synced folder on a
// claim at the same path), its Service and a NetworkPolicy that lets only the gateway in, and the
// user CA's files in a ConfigMap; the gateway as an nginx Deployment with its config and each
// route's upstream address (its project Service's cluster address) in a ConfigMap, its key in a
// Secret, behind a Service and, with an ingress class, an Ingress. The compose stack and the file
// sync reach the pod with kubectl exec (providers/kubectlEngine.ts).
import { createHash } from "crypto";
import * as fs from "fs";
import type * as k8sModule from "@pulumi/kubernetes";
import * as pulumi from "../pulumiSdk";
import type { KubernetesEngineSpec } from "../config";
import type { LoadedProject } from "../environment";
import {
    GATEWAY_COMMAND,
    GATEWAY_HTTP_PORT,
    GATEWAY_HTTPS_PORT,
    GATEWAY_INDEX_ROOT,
    GATEWAY_NGINX_CONF,
    GATEWAY_TLS_DIR,
    GATEWAY_UPSTREAMS_DIR,
    upstreamServerLine,
} from "../gatewayConfig";
import { StackNames, STACK_LABEL, stackLabelValue } from "../names";
import { CA_SHARE_MOUNT, extraHostsNeeded } from "../override";
import type { DaemonRequest, GatewayRequest, PlacedDaemon, PlacedGateway, Platform, PlatformContext } from "../platform";
import type { KubernetesRef } from "../providers/kubectlEngine";
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
    NAMESPACE_POD_SECURITY,
    PROJECT_SELECTOR,
    STACK_SELECTOR,
} from "./objects";

type K8s = typeof k8sModule;

export class KubernetesPlatform implements Platform {
    private readonly names: StackNames;
    private readonly stackValue: string;
    private readonly labels: Record<string, string>;
    private readonly ref: KubernetesRef;
    private provider?: k8sModule.Provider;
    private namespace?: k8sModule.core.v1.Namespace;
    private gatewayRequest?: GatewayRequest;
    private gatewayName = "";
    private readonly projectServices: Record<string, k8sModule.core.v1.Service> = {};
    /** The gateway Service: its name and node ports (for the access lines). */
    public gatewayService?: pulumi.Output<{ name: string; httpNodePort?: number; httpsNodePort?: number }>;

    /** `namespaceExists`: the namespace is there and not the stack's (preflight.ts): used, not made. */
    constructor(
        private readonly k8s: K8s,
        private readonly ctx: PlatformContext,
        private readonly engine: KubernetesEngineSpec,
        private readonly namespaceExists: boolean,
    ) {
        this.names = new StackNames(ctx.pulumiProject, ctx.stack);
        this.stackValue = labelValue(stackLabelValue(ctx.pulumiProject, ctx.stack));
        this.labels = { [STACK_SELECTOR]: this.stackValue, "app.kubernetes.io/managed-by": "dind-compose" };
        this.ref = { kind: "kubernetes", context: engine.context, namespace: engine.namespace, container: DIND_CONTAINER };
    }

    private opts(parent: pulumi.Resource, dependsOn: pulumi.Resource[] = []): pulumi.CustomResourceOptions {
        return { parent, provider: this.provider, dependsOn: [...(this.namespace ? [this.namespace] : []), ...dependsOn] };
    }
    private meta(name: string, extra: Record<string, string> = {}) {
        return { name, namespace: this.engine.namespace, labels: { ...this.labels, ...extra } };
    }
    private daemonName(project: string): string {
        return k8sName(this.names.dind(project));
    }

    prepare(parent: pulumi.ComponentResource, name: string): void {
        const e = this.engine;
        this.provider = new this.k8s.Provider(
            `${name}-kubernetes`,
            { ...(e.context ? { context: e.context } : {}), namespace: e.namespace, enableServerSideApply: true },
            { parent },
        );
        if (!this.namespaceExists) {
            this.namespace = new this.k8s.core.v1.Namespace(
                `${name}-namespace`,
                { metadata: { name: e.namespace, labels: { [STACK_LABEL]: this.stackValue, ...NAMESPACE_POD_SECURITY } } },
                { parent, provider: this.provider },
            );
        }
    }

    upstreamHost(project: string): string {
        return `${this.daemonName(project)}.${this.engine.namespace}.svc.cluster.local`;
    }

    /** The Secret and the Service now (children need the Service's address); the config and the Deployment once the project Services exist (finish). */
    gateway(g: GatewayRequest): PlacedGateway {
        this.gatewayRequest = g;
        this.gatewayName = k8sName(this.names.gateway());
        const service = new this.k8s.core.v1.Service(
            `${g.name}-service`,
            {
                metadata: this.meta(this.gatewayName),
                spec: gatewayServiceSpec({
                    labels: this.labels,
                    httpPort: GATEWAY_HTTP_PORT,
                    httpsPort: GATEWAY_HTTPS_PORT,
                    type: this.engine.gatewayService,
                }) as unknown as k8sModule.types.input.core.v1.ServiceSpec,
            },
            this.opts(g.parent),
        );
        this.gatewayService = service.spec.ports.apply((ports) => ({
            name: this.gatewayName,
            httpNodePort: ports.find((p) => p.name === "http")?.nodePort,
            httpsNodePort: ports.find((p) => p.name === "https")?.nodePort,
        }));
        const address = service.spec.clusterIP;
        return { name: pulumi.output(this.gatewayName), addressFor: () => address };
    }

    /** No cluster DNS knows the stack's hostnames: every service gets them all, at the gateway Service's address. */
    extraHosts(loaded: LoadedProject, hostnames: string[]): Record<string, string[]> {
        return extraHostsNeeded({ services: loaded.services, bridgeServices: loaded.services, hostnames });
    }

    daemon(d: DaemonRequest): PlacedDaemon {
        const { spec, name, parent } = d;
        const k8s = this.k8s;
        const stsName = this.daemonName(spec.name);
        const projectLabels = { ...this.labels, [PROJECT_SELECTOR]: spec.name };
        const ca = this.ctx.ca;
        const caConfigMap =
            ca &&
            new k8s.core.v1.ConfigMap(
                `${name}-ca`,
                {
                    metadata: this.meta(`${stsName}-ca`, { [PROJECT_SELECTOR]: spec.name }),
                    data: Object.fromEntries(ca.shareFiles.map((f) => [f.name, fs.readFileSync(f.source, "utf8")])),
                },
                this.opts(parent),
            );
        const ports = d.loaded.routes.map((r) => r.port);
        this.projectServices[spec.name] = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: this.meta(stsName, { [PROJECT_SELECTOR]: spec.name }),
                spec: daemonServiceSpec({
                    project: spec.name,
                    labels: projectLabels,
                    ports,
                }) as unknown as k8sModule.types.input.core.v1.ServiceSpec,
            },
            this.opts(parent),
        );
        const statefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-daemon`,
            {
                metadata: this.meta(stsName, { [PROJECT_SELECTOR]: spec.name }),
                spec: daemonStatefulSetSpec({
                    name: stsName,
                    project: spec.name,
                    labels: projectLabels,
                    image: this.ctx.spec.images.dind,
                    // capabilities is refused on a cluster before this (preflight.ts).
                    security: this.ctx.spec.dind.security === "sysbox" ? "sysbox" : "privileged",
                    resources: spec.resources,
                    storageClass: this.engine.storageClass,
                    folders: d.loaded.mountRoots,
                    ports,
                    caConfigMap: caConfigMap && { name: `${stsName}-ca`, mountPath: CA_SHARE_MOUNT },
                    stackSelector: { [STACK_SELECTOR]: this.stackValue },
                }) as unknown as k8sModule.types.input.apps.v1.StatefulSetSpec,
            },
            this.opts(parent, caConfigMap ? [caConfigMap] : []),
        );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-policy`,
            {
                metadata: this.meta(stsName, { [PROJECT_SELECTOR]: spec.name }),
                spec: daemonNetworkPolicySpec({
                    project: spec.name,
                    labels: projectLabels,
                }) as unknown as k8sModule.types.input.networking.v1.NetworkPolicySpec,
            },
            this.opts(parent),
        );
        return {
            daemon: pulumi.output(`${stsName}-0`),
            // The StatefulSet's, not the pod's: a pod deleted by hand comes back on the same claims.
            daemonId: statefulSet.metadata.uid,
            daemonEndpoint: pulumi.output(undefined),
            engine: this.ref,
            resource: statefulSet,
        };
    }

    finish(): void {
        const g = this.gatewayRequest as GatewayRequest;
        const k8s = this.k8s;
        const projects = this.ctx.spec.projects.map((p) => p.name);
        const upstreams = pulumi
            .all(projects.map((p) => this.projectServices[p].spec.clusterIP))
            .apply((ips) =>
                Object.fromEntries(
                    g.routes.map((r) => [`upstream-${r.key}.conf`, upstreamServerLine(ips[projects.indexOf(r.project)], r.upstreamPort)]),
                ),
            );
        const data = upstreams.apply((u) => ({ "nginx.conf": g.nginxConf, "index.html": g.indexHtml, ...u }));
        const configMap = new k8s.core.v1.ConfigMap(
            `${g.name}-config`,
            { metadata: this.meta(`${this.gatewayName}-config`), data },
            this.opts(g.parent),
        );
        const secret = new k8s.core.v1.Secret(
            `${g.name}-tls`,
            {
                metadata: this.meta(`${this.gatewayName}-tls`),
                type: "Opaque",
                stringData: { "cert.pem": g.tls.cert, "key.pem": g.tls.key },
            },
            this.opts(g.parent),
        );
        // nginx reads its files when it starts: a change of any of them rolls the pod.
        const digest = pulumi
            .all([data, g.tls.cert])
            .apply(([d, cert]) => createHash("sha256").update(JSON.stringify(d)).update(cert).digest("hex"));
        new k8s.apps.v1.Deployment(
            `${g.name}-nginx`,
            {
                metadata: this.meta(this.gatewayName),
                spec: digest.apply(
                    (configDigest) =>
                        gatewayDeploymentSpec({
                            labels: this.labels,
                            image: this.ctx.spec.images.nginx,
                            command: GATEWAY_COMMAND,
                            configMap: `${this.gatewayName}-config`,
                            configFiles: [
                                { key: "nginx.conf", path: GATEWAY_NGINX_CONF },
                                { key: "index.html", path: `${GATEWAY_INDEX_ROOT}/index.html` },
                                ...g.routes.map((r) => ({
                                    key: `upstream-${r.key}.conf`,
                                    path: `${GATEWAY_UPSTREAMS_DIR}/${r.key}/address.conf`,
                                })),
                            ],
                            secret: `${this.gatewayName}-tls`,
                            secretFiles: [
                                { key: "cert.pem", path: `${GATEWAY_TLS_DIR}/cert.pem` },
                                { key: "key.pem", path: `${GATEWAY_TLS_DIR}/key.pem` },
                            ],
                            configDigest,
                            httpPort: GATEWAY_HTTP_PORT,
                            httpsPort: GATEWAY_HTTPS_PORT,
                        }) as unknown as k8sModule.types.input.apps.v1.DeploymentSpec,
                ),
            },
            this.opts(g.parent, [configMap, secret]),
        );
        if (this.engine.ingressClass) {
            new k8s.networking.v1.Ingress(
                `${g.name}-ingress`,
                {
                    metadata: this.meta(this.gatewayName),
                    spec: gatewayIngressSpec({
                        ingressClass: this.engine.ingressClass,
                        service: this.gatewayName,
                        domain: this.ctx.spec.domain,
                        hostnames: g.hostnames.filter((h) => h !== this.ctx.spec.domain),
                        httpPort: GATEWAY_HTTP_PORT,
                    }) as unknown as k8sModule.types.input.networking.v1.IngressSpec,
                },
                this.opts(g.parent),
            );
        }
    }
}
