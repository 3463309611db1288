import { describe, expect, it } from "vitest";
import { normalizeComposeConfigJson, summarizeModel } from "../../components/compose";
import { explicitRestartServices } from "../../components/providers/composeStack";

// What `docker compose config --format json` prints for three services: one with `restart: always`,
// one with `restart: "no"` (both keep their own policy after `up`), one without (it gets unless-stopped).
const config = JSON.stringify({
    name: "p",
    services: {
        web: { image: "busybox", restart: "always", networks: { default: null } },
        "job.migrate": { image: "busybox", restart: "no", networks: { default: null } },
        api: { image: "busybox", networks: { default: null } },
    },
    networks: { default: { name: "p_default" } },
});

describe("explicitRestartServices", () => {
    it("names the services whose compose file sets restart, read from the flattened model the stack gets", () => {
        const model = summarizeModel(normalizeComposeConfigJson(config, { projectDir: "/p" }), { projectDir: "/p" });
        expect(explicitRestartServices(model)).toEqual(["job.migrate", "web"]);
    });

    it("names none for a model without restart keys", () => {
        expect(explicitRestartServices({ "services.web.image": "busybox", "services.web.ports": "80:80" })).toEqual([]);
    });
});
