// components/providers/shellScripts.ts: the scripts the providers run with `sh -c`, read from
// components/providers/scripts/*.sh. The text given to `sh -c` is the one the providers passed when
// the scripts were template strings in composeStack.ts and gatewayUpstreams.ts (sha256 of those).
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { GATEWAY_PID_FILE, GATEWAY_UPSTREAMS_DIR } from "../../components/gatewayConfig";
import { shellScript } from "../../components/providers/shellScripts";

const sha256 = (text: string): string => crypto.createHash("sha256").update(text).digest("hex");

describe("shell scripts of the providers", () => {
    it.each([
        ["up-then-ps", {}, "c91a9ee258b0685b904b9ff7f54e64b18c101ebd35e29ca47c11da4284ebf755"],
        ["poll-daemon", {}, "18a329117c740380d171ec3644f7c0972c6e2bb7297d747d8222393489d05686"],
        ["read-upstreams", { GATEWAY_UPSTREAMS_DIR }, "51d45c1e249215c46d3e2beb7d883228193b93e1967c6774d3ba0a97d2104312"],
        [
            "write-upstreams",
            { GATEWAY_UPSTREAMS_DIR, NGINX_PID_FILE: GATEWAY_PID_FILE },
            "8b5354d1aabed50766502968c6ce0d81a892426253f372b29d4b0321adc74996",
        ],
        ["clear-upstreams", { GATEWAY_UPSTREAMS_DIR }, "6fa476178a7aae409a85c4959c4796d006ffa754122193033bf2dfc008e908b1"],
    ])("%s is given to sh -c byte for byte as before", (name, values, hash) => {
        const text = shellScript(name, values);
        expect(text.endsWith("\n")).toBe(false);
        expect(sha256(text)).toBe(hash);
    });

    it("the upstream scripts work on GATEWAY_UPSTREAMS_DIR, named once in gatewayConfig.ts", () => {
        expect(shellScript("clear-upstreams", { GATEWAY_UPSTREAMS_DIR })).toBe(`rm -rf ${GATEWAY_UPSTREAMS_DIR} && exec "$@"`);
    });

    it("a placeholder given no value is an error, not an empty word", () => {
        expect(() => shellScript("clear-upstreams")).toThrow(/clear-upstreams\.sh: no value for @GATEWAY_UPSTREAMS_DIR@/);
    });

    it("every script file ends with one newline and has no carriage returns", () => {
        const dir = path.join(__dirname, "..", "..", "components", "providers", "scripts");
        for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".sh"))) {
            const text = fs.readFileSync(path.join(dir, f), "utf8");
            expect(text.endsWith("\n") && !text.endsWith("\n\n"), f).toBe(true);
            expect(text.includes("\r"), f).toBe(false);
        }
    });
});
