// The Kubernetes engine's decisions: the object specs, the cluster checks, kubectl's arguments, and
// the shape of the resource graph under Pulumi mocks. That it works is for a real cluster.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@pulumi/kubernetes";
import type { EnvironmentSpec, KubernetesEngineSpec } from "../../components/config";
import { ConfigError } from "../../components/config";
import type { LoadedProject } from "../../components/environment";
import {
    daemonNetworkPolicySpec,
    daemonSecurity,
    daemonServiceSpec,
    daemonStatefulSetSpec,
    gatewayIngressSpec,
    k8sName,
    labelValue,
} from "../../components/kubernetes/objects";
import { checkCluster, type Kubectl, unsupportedOnCluster } from "../../components/kubernetes/preflight";
import { kubectlExecArgs, podAsContainer } from "../../components/providers/kubectlEngine";

describe("Kubernetes object names", () => {
    it("DNS-1123, cut with a digest when too long", () => {
        expect(k8sName("dind-compose-Feature_X-a-dind")).toBe("dind-compose-feature-x-a-dind");
        const long = k8sName(`dind-compose-${"x".repeat(80)}-dind`);
        expect(long).toHaveLength(52);
        expect(long).toMatch(/^dind-compose-x+-[0-9a-f]{8}$/);
        expect(labelValue("dind-compose/dev")).toBe("dind-compose.dev");
    });
});

describe("the daemon's StatefulSet, Service and NetworkPolicy", () => {
    const args = {
        name: "dind-compose-dev-a-dind",
        project: "a",
        labels: { "dind-compose.stack": "dind-compose.dev", "dind-compose.project": "a" },
        image: "docker:29-dind",
        security: "privileged" as const,
        resources: { cpus: 2, memory: 2 * 1024 ** 3 },
        storageClass: "local-path",
        folders: ["/home/me/a", "/home/me/shared"],
        ports: [3000, 8000],
        caConfigMap: { name: "ca", mountPath: "/etc/dind-compose/ca" },
        stackSelector: { "dind-compose.stack": "dind-compose.dev" },
    };
    const sts = daemonStatefulSetSpec(args) as {
        volumeClaimTemplates: { metadata: { name: string }; spec: { storageClassName?: string } }[];
        template: {
            spec: { containers: { securityContext: unknown; volumeMounts: { name: string; mountPath: string }[]; resources: unknown }[] };
        };
    };
    it("one claim for /var/lib/docker and one per folder, mounted at the folder's own path", () => {
        expect(sts.volumeClaimTemplates.map((c) => c.metadata.name)).toEqual([
            "data",
            expect.stringMatching(/^src-[0-9a-f]{10}$/),
            expect.stringMatching(/^src-/),
        ]);
        expect(sts.volumeClaimTemplates.every((c) => c.spec.storageClassName === "local-path")).toBe(true);
        const mounts = sts.template.spec.containers[0].volumeMounts.map((m) => m.mountPath);
        expect(mounts).toEqual(["/var/lib/docker", "/certs", "/home/me/a", "/home/me/shared", "/etc/dind-compose/ca"]);
        expect(sts.template.spec.containers[0].resources).toEqual({ limits: { cpu: "2", memory: String(2 * 1024 ** 3) } });
    });
    it("privileged, or sysbox's runtime class", () => {
        expect(sts.template.spec.containers[0].securityContext).toEqual({ privileged: true });
        expect(daemonSecurity("sysbox")).toEqual({ securityContext: {}, runtimeClassName: "sysbox-runc" });
    });
    it("a Service of the routes' ports, and a policy that lets only the stack's gateway in", () => {
        expect((daemonServiceSpec(args) as { ports: { port: number }[] }).ports.map((p) => p.port)).toEqual([3000, 8000]);
        expect(daemonNetworkPolicySpec(args)).toEqual({
            podSelector: {
                matchLabels: { "dind-compose.stack": "dind-compose.dev", "dind-compose.project": "a", "dind-compose.role": "daemon" },
            },
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ podSelector: { matchLabels: { "dind-compose.stack": "dind-compose.dev", "dind-compose.role": "gateway" } } }] },
            ],
        });
    });
    it("an Ingress: a wildcard under the domain and each route hostname outside it", () => {
        const spec = gatewayIngressSpec({
            ingressClass: "nginx",
            service: "gw",
            domain: "project.localhost",
            hostnames: ["a.project.localhost", "api.example.test"],
            httpPort: 80,
        }) as {
            rules: { host: string }[];
        };
        expect(spec.rules.map((r) => r.host)).toEqual(["*.project.localhost", "project.localhost", "api.example.test"]);
    });
});

describe("kubectl for the providers", () => {
    const ref = { kind: "kubernetes" as const, context: "ci", namespace: "ns", container: "dind" };
    it("exec with a working directory and variables, which kubectl exec has no flags for", () => {
        expect(kubectlExecArgs(ref, "p-0", ["docker", "compose", "ps"], { stdin: true, workdir: "/src/a", env: ["A=1"] })).toEqual([
            "--context",
            "ci",
            "--namespace",
            "ns",
            "exec",
            "-i",
            "p-0",
            "-c",
            "dind",
            "--",
            "sh",
            "-c",
            'cd "$0" && exec "$@"',
            "/src/a",
            "env",
            "A=1",
            "docker",
            "compose",
            "ps",
        ]);
    });
    it("a pod reads as its StatefulSet's daemon: the StatefulSet's UID, the dind container's state", () => {
        const pod = {
            metadata: { name: "p-0", uid: "pod-uid", ownerReferences: [{ kind: "StatefulSet", uid: "sts-uid" }] },
            status: { containerStatuses: [{ name: "dind", state: { running: { startedAt: "2026-12-04T10:00:00Z" } } }] },
        };
        expect(podAsContainer(pod, "dind")).toEqual({
            Id: "sts-uid",
            Name: "p-0",
            State: { Running: true, Status: "running", StartedAt: "2026-12-04T10:00:00Z" },
        });
    });
});

const engine: KubernetesEngineSpec = {
    kind: "kubernetes",
    context: "dind-compose-test",
    namespace: "team-a",
    storageClass: "fast",
    gatewayService: "NodePort",
    ingressClass: undefined,
};

/** A kubectl that answers from a table of "args joined by spaces" -> answer; anything else exits 1. */
function fakeKubectl(answers: Record<string, { code?: number; stdout?: string; stderr?: string }>): Kubectl & { asked: string[] } {
    const asked: string[] = [];
    const f = async (args: string[]) => {
        const key = args.join(" ");
        asked.push(key);
        const a = answers[key] ?? { code: 1, stderr: `unexpected: kubectl ${key}` };
        return { code: a.code ?? 0, stdout: a.stdout ?? "", stderr: a.stderr ?? "" };
    };
    return Object.assign(f, { asked });
}
const flags = "--context dind-compose-test --namespace team-a";
const healthy = {
    "config get-contexts -o name": { stdout: "dind-compose-test\nother\n" },
    [`${flags} get --raw /readyz`]: { stdout: "ok" },
    [`${flags} get storageclass fast -o name`]: { stdout: "storageclass.storage.k8s.io/fast" },
};
const problems = async (answers: Record<string, { code?: number; stdout?: string; stderr?: string }>, e = engine): Promise<string[]> => {
    try {
        await checkCluster(e, "dind-compose.dev", fakeKubectl(answers));
    } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
    }
    return [];
};

describe("the cluster checks before anything is created", () => {
    it("a namespace that is not there is made when the user may", async () => {
        const answers = {
            ...healthy,
            [`${flags} get namespace team-a -o json`]: { code: 1, stderr: 'Error from server (NotFound): namespaces "team-a" not found' },
            [`${flags} auth can-i create namespaces`]: { stdout: "yes\n" },
        };
        expect(await checkCluster(engine, "dind-compose.dev", fakeKubectl(answers))).toEqual({ namespaceExists: false });
    });
    it("a namespace the stack made is the stack's; someone else's is used as it is", async () => {
        const ns = (labels: Record<string, string>) => ({
            [`${flags} get namespace team-a -o json`]: { stdout: JSON.stringify({ metadata: { labels } }) },
        });
        expect(
            await checkCluster(
                engine,
                "dind-compose.dev",
                fakeKubectl({ ...healthy, ...ns({ "dind-compose.stack": "dind-compose.dev" }) }),
            ),
        ).toEqual({
            namespaceExists: false,
        });
        expect(await checkCluster(engine, "dind-compose.dev", fakeKubectl({ ...healthy, ...ns({}) }))).toEqual({ namespaceExists: true });
    });
    it("an unknown context: the key, the value, the contexts there are", async () => {
        expect(await problems(healthy, { ...engine, context: "prod" })).toEqual([
            'dind-compose:engine.context "prod" is not a context of the kubeconfig (dind-compose-test, other); use one of those, or leave the key out for the current context',
        ]);
    });
    it("a namespace that cannot be made, and a storage class that does not exist, in one error", async () => {
        const answers = {
            ...healthy,
            [`${flags} get namespace team-a -o json`]: { code: 1, stderr: 'Error from server (NotFound): namespaces "team-a" not found' },
            [`${flags} auth can-i create namespaces`]: { code: 1, stdout: "no\n" },
            [`${flags} get storageclass fast -o name`]: {
                code: 1,
                stderr: 'Error from server (NotFound): storageclasses.storage.k8s.io "fast" not found',
            },
            [`${flags} get storageclass -o name`]: { stdout: "storageclass.storage.k8s.io/local-path\n" },
        };
        const p = await problems(answers);
        expect(p).toHaveLength(2);
        expect(p[0]).toContain('dind-compose:engine.namespace "team-a" does not exist, and this user may not create namespaces');
        expect(p[1]).toContain('dind-compose:engine.storageClass "fast" is not a storage class of the cluster (local-path)');
    });
    it("a cluster that does not answer", async () => {
        const p = await problems({
            ...healthy,
            [`${flags} get --raw /readyz`]: {
                code: 1,
                stderr: "Unable to connect to the server: dial tcp 127.0.0.1:36443: connect: connection refused",
            },
        });
        expect(p[0]).toContain("does not answer (Unable to connect to the server");
    });
    it("keys of the Docker engine a cluster does not have", () => {
        const spec = {
            files: "bind",
            dind: { security: "capabilities" },
            projects: [{ name: "a", daemonPort: 2376, tcp: [{ port: 5432, hostPort: 15432 }] }],
        } as unknown as EnvironmentSpec;
        expect(unsupportedOnCluster(spec).map((s) => s.split(" ")[0])).toEqual([
            "dind-compose:projects[0].daemonPort",
            "dind-compose:projects[0].tcp:",
            "dind-compose:dind.security",
            "dind-compose:files",
        ]);
    });
});

interface Registered {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    parent?: string;
}

describe("the resource graph on a cluster", () => {
    const registered: Registered[] = [];
    const ofType = (t: string) => registered.filter((r) => r.type === t);
    beforeAll(async () => {
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => {
                    registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                    const outs: Record<string, unknown> = { ...args.inputs };
                    if (args.type === "kubernetes:core/v1:Service")
                        outs.spec = {
                            ...(args.inputs.spec as object),
                            clusterIP: `10.96.0.${registered.length}`,
                            ports: [{ name: "http", nodePort: 30080 }],
                        };
                    if (args.type === "kubernetes:apps/v1:StatefulSet")
                        outs.metadata = { ...(args.inputs.metadata as object), uid: `uid-${args.name}` };
                    if (args.type.endsWith("compose:Stack")) outs.services = { web: "running" };
                    if (args.type.endsWith("tls:GatewayCertificate")) Object.assign(outs, { cert: "CERT", key: "KEY" });
                    return { id: `${args.name}-id`, state: outs };
                },
                call: () => ({}),
            },
            "dind-compose",
            "test",
        );
        const share = fs.mkdtempSync(path.join(os.tmpdir(), "k8s-unit-"));
        fs.writeFileSync(path.join(share, "ca.pem"), "CA PEM\n");
        const { Environment } = await import("../../components/environment");
        const { KubernetesPlatform } = await import("../../components/kubernetes/platform");
        const project = (name: string) => ({
            name,
            dir: `/src/${name}`,
            composeFiles: [`/src/${name}/compose.yaml`],
            hostname: `${name}.project.localhost`,
            port: undefined,
            env: {},
            preloadImages: [],
            daemonPort: undefined,
            routes: undefined,
            tcp: [],
            resources: {},
            trustCa: true,
        });
        const loadedOf = (name: string, port: number): LoadedProject => ({
            services: ["web"],
            bridgeServices: [],
            routes: [{ key: name, project: name, service: "web", hostname: `${name}.project.localhost`, port }],
            rebindPorts: {},
            mountRoots: [`/src/${name}`],
            model: {},
            buildFiles: {},
            sourceFiles: {},
            caVariables: { web: [] },
        });
        const context = {
            spec: {
                domain: "project.localhost",
                gateway: { bindAddress: "127.0.0.1", httpPort: 8080, httpsPort: 8443, tls: undefined },
                images: { dind: "docker:29-dind", nginx: "nginx:1.29-alpine" },
                dind: { security: "privileged", readyTimeoutSeconds: 60 },
                files: "auto",
                engine,
                projects: [project("a"), project("b")],
            } as unknown as EnvironmentSpec,
            loaded: { a: loadedOf("a", 3000), b: loadedOf("b", 80) },
            pulumiProject: "dind-compose",
            stack: "test",
            ca: {
                dir: "/ca",
                keyId: "k",
                cert: "CA PEM",
                shareFiles: [{ name: "ca.pem", source: path.join(share, "ca.pem"), sha256: "d" }],
            },
        };
        const env = new Environment("env", {
            ...context,
            userTls: undefined,
            sourceTrees: { a: { "/src/a": { digest: "x", files: 1, bytes: 1 } }, b: { "/src/b": { digest: "y", files: 1, bytes: 1 } } },
            platform: new KubernetesPlatform(k8s, context, engine, false),
        });
        await new Promise<void>((resolve) => env.services.apply(() => resolve()));
        await new Promise<void>((resolve) => env.compose.apply(() => resolve()));
    });

    it("@pulumi/kubernetes resources, not dynamic ones, for every object of the cluster", () => {
        const types = [...new Set(registered.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.type))].sort();
        expect(types).toEqual([
            "kubernetes:apps/v1:Deployment",
            "kubernetes:apps/v1:StatefulSet",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:Secret",
            "kubernetes:core/v1:Service",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        ]);
        expect(ofType("kubernetes:apps/v1:StatefulSet").map((r) => r.name)).toEqual(["env-a-daemon", "env-b-daemon"]);
        expect(ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.name)).toEqual(["env-a-policy", "env-b-policy"]);
    });
    it("the compose stack and the file sync go to each project's pod over kubectl", () => {
        const stacks = registered.filter((r) => r.type.endsWith("compose:Stack"));
        expect(stacks.map((s) => [s.inputs.daemon, s.inputs.daemonId, s.inputs.engine])).toEqual([
            [
                "dind-compose-test-a-dind-0",
                "uid-env-a-daemon",
                { kind: "kubernetes", context: "dind-compose-test", namespace: "team-a", container: "dind" },
            ],
            [
                "dind-compose-test-b-dind-0",
                "uid-env-b-daemon",
                { kind: "kubernetes", context: "dind-compose-test", namespace: "team-a", container: "dind" },
            ],
        ]);
        const syncs = registered.filter((r) => r.type.endsWith("files:Sync"));
        expect(syncs.map((s) => s.inputs.daemon)).toEqual(["dind-compose-test-a-dind-0", "dind-compose-test-b-dind-0"]);
    });
    it("the gateway's config holds each project Service's address; children reach every hostname at the gateway Service", () => {
        const config = ofType("kubernetes:core/v1:ConfigMap").find((r) => r.name === "env-gateway-config") as Registered;
        const data = config.inputs.data as Record<string, string>;
        expect(Object.keys(data).sort()).toEqual(["index.html", "nginx.conf", "upstream-a.conf", "upstream-b.conf"]);
        expect(data["upstream-a.conf"]).toMatch(/^server 10\.96\.0\.\d+:3000;\n$/);
        const stackA = registered.find((r) => r.type.endsWith("compose:Stack") && r.inputs.project === "a") as Registered;
        expect(stackA.inputs.override).toMatch(/extra_hosts:[\s\S]*b\.project\.localhost[=:]10\.96\.0\.\d+/);
    });
});

describe("a user who may not read namespaces", () => {
    const forbidden = {
        [`${flags} get namespace team-a -o json`]: { code: 1, stderr: 'Error from server (Forbidden): namespaces "team-a" is forbidden' },
    };
    it("uses the namespace named when it may work in it", async () => {
        const answers = { ...healthy, ...forbidden, [`${flags} auth can-i create statefulsets.apps`]: { stdout: "yes\n" } };
        expect(await checkCluster(engine, "dind-compose.dev", fakeKubectl(answers))).toEqual({ namespaceExists: true });
    });
    it("is told to ask for one when it may not", async () => {
        const answers = { ...healthy, ...forbidden, [`${flags} auth can-i create statefulsets.apps`]: { code: 1, stdout: "no\n" } };
        expect((await problems(answers))[0]).toContain('dind-compose:engine.namespace "team-a": this user may not create namespaces');
    });
});
