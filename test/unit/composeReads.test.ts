import { describe, expect, it } from "vitest";
import { composeReads } from "../../components/compose";

/** A file system of texts by absolute path. */
const reader =
    (files: Record<string, string>) =>
    (f: string): string | undefined =>
        files[f];

describe("composeReads: the files compose reads besides the top-level compose files", () => {
    it("follows include and extends to any depth, each path relative to the file that names it", () => {
        const r = composeReads(
            ["/repo/app/compose.yaml"],
            "/repo/app",
            reader({
                "/repo/app/compose.yaml": `
include:
  - ../shared/db.yaml
  - path: [../shared/cache/compose.yaml]
    env_file: ../shared/cache/cache.env
services:
  web:
    extends: { file: ../shared/base.yaml, service: base }
    env_file: [./web.env, { path: ./optional.env, required: false }]
secrets:
  token: { file: ../secrets/token.txt }
configs:
  conf: { file: ./conf/app.ini }
  inline: { content: hello }
`,
                "/repo/shared/db.yaml": "services:\n  db:\n    env_file: db.env\n",
                "/repo/shared/cache/compose.yaml": "services:\n  cache:\n    image: redis\n",
                "/repo/shared/base.yaml": "services:\n  base:\n    extends: { file: ./root.yaml, service: root }\n",
                "/repo/shared/root.yaml": "services:\n  root:\n    image: busybox\n",
            }),
        );
        expect(r.files).toEqual([
            "/repo/app/.env",
            "/repo/app/conf/app.ini",
            "/repo/app/optional.env",
            "/repo/app/web.env",
            "/repo/secrets/token.txt",
            "/repo/shared/.env",
            "/repo/shared/base.yaml",
            "/repo/shared/cache/cache.env",
            "/repo/shared/cache/compose.yaml",
            "/repo/shared/db.env",
            "/repo/shared/db.yaml",
            "/repo/shared/root.yaml",
        ]);
        expect(r.refs.find((x) => x.file === "/repo/shared/root.yaml")).toEqual({
            file: "/repo/shared/root.yaml",
            from: "/repo/shared/base.yaml",
            via: "services.base.extends.file",
            optional: false,
        });
        expect(r.refs.find((x) => x.file === "/repo/app/optional.env")?.optional).toBe(true);
        expect(r.refs.find((x) => x.file === "/repo/app/.env")?.optional).toBe(true);
        // the extended files' services are not the project's
        expect(r.serviceOrder).toEqual(["web", "db", "cache"]);
    });

    it("resolves the top-level files' paths against the project directory, as --project-directory does", () => {
        const r = composeReads(
            ["/repo/app/deploy/compose.yaml"],
            "/repo/app",
            reader({ "/repo/app/deploy/compose.yaml": "services:\n  web:\n    env_file: web.env\n" }),
        );
        expect(r.files).toContain("/repo/app/web.env");
    });

    it("sets aside paths that compose must interpolate, and survives a loop and a broken file", () => {
        const r = composeReads(
            ["/p/compose.yaml"],
            "/p",
            reader({
                "/p/compose.yaml": "include: [./a.yaml, '${SHARED}/x.yaml', ~/y.yaml]\nservices:\n  web: { image: x }\n",
                "/p/a.yaml": "include: [./compose.yaml, ./broken.yaml]\n",
                "/p/broken.yaml": "services: [",
            }),
        );
        expect(r.interpolated).toEqual(["${SHARED}/x.yaml", "~/y.yaml"]);
        expect(r.files).toEqual(["/p/.env", "/p/a.yaml", "/p/broken.yaml"]);
    });

    it("lists the .env that compose reads and nothing else for a plain project", () => {
        const r = composeReads(
            ["/p/compose.yaml"],
            "/p",
            reader({ "/p/compose.yaml": "services:\n  web:\n    image: x\n    ports: ['3000:3000']\n" }),
        );
        expect(r).toEqual({
            files: ["/p/.env"],
            refs: [{ file: "/p/.env", from: "/p/compose.yaml", via: ".env", optional: true }],
            serviceOrder: ["web"],
            interpolated: [],
        });
    });
});
