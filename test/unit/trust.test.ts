// The plan of `npm run trust` / `npm run untrust` (components/trust.ts), per platform and rights.
import { describe, expect, it } from "vitest";
import { shellLine, TrustContext, trustPlan } from "../../components/trust";

const ca = { certFile: "/home/me/.local/share/dind-compose/ca/ca.pem", name: "dind-compose-0123456789abcdef", sha1: "AA:BB:CC" };
const debian = (over: Partial<TrustContext> = {}): TrustContext => ({
    platform: "linux",
    isRoot: true,
    home: "/home/me",
    has: (c) => ["update-ca-certificates", "certutil"].includes(c),
    firefoxProfiles: ["/home/me/.mozilla/firefox/abc.default"],
    ...over,
});
const lines = (steps: ReturnType<typeof trustPlan>) =>
    steps.map((s) => ({ store: s.store, manual: s.manual, commands: s.commands.map((c) => shellLine(c.argv)) }));

describe("trustPlan", () => {
    it("as root on Debian: the system store, a new Chromium NSS database, and each Firefox profile", () => {
        const steps = lines(trustPlan("trust", ca, debian(), false));
        expect(steps).toEqual([
            {
                store: "system store (/usr/local/share/ca-certificates, update-ca-certificates)",
                manual: undefined,
                commands: [`install -D -m 644 ${ca.certFile} /usr/local/share/ca-certificates/${ca.name}.crt`, "update-ca-certificates"],
            },
            {
                store: "NSS database /home/me/.pki/nssdb (Chromium, Chrome)",
                manual: undefined,
                commands: [
                    "mkdir -p -m 700 /home/me/.pki/nssdb",
                    "certutil -d sql:/home/me/.pki/nssdb -N --empty-password",
                    `certutil -d sql:/home/me/.pki/nssdb -D -n ${ca.name}`,
                    `certutil -d sql:/home/me/.pki/nssdb -A -t C,, -n ${ca.name} -i ${ca.certFile}`,
                ],
            },
            {
                store: "Firefox profile /home/me/.mozilla/firefox/abc.default",
                manual: undefined,
                commands: [
                    `certutil -d sql:/home/me/.mozilla/firefox/abc.default -D -n ${ca.name}`,
                    `certutil -d sql:/home/me/.mozilla/firefox/abc.default -A -t C,, -n ${ca.name} -i ${ca.certFile}`,
                ],
            },
        ]);
    });

    it("untrust removes from every store, and leaves a missing Chromium database alone", () => {
        const steps = lines(trustPlan("untrust", ca, debian({ firefoxProfiles: [] }), false));
        expect(steps).toEqual([
            {
                store: "system store (/usr/local/share/ca-certificates, update-ca-certificates)",
                manual: undefined,
                commands: [`rm -f /usr/local/share/ca-certificates/${ca.name}.crt`, "update-ca-certificates --fresh"],
            },
        ]);
        expect(trustPlan("untrust", ca, debian(), true).map((s) => s.commands.at(-1)?.untilFails)).toEqual([undefined, true, true]);
    });

    it("not root: the system store's commands with sudo, printed; the user's own NSS databases are written", () => {
        const [system, nss] = trustPlan("trust", ca, debian({ isRoot: false }), true);
        expect(system.manual).toBe("the system store needs root");
        expect(system.commands.map((c) => shellLine(c.argv))).toEqual([
            `sudo install -D -m 644 ${ca.certFile} /usr/local/share/ca-certificates/${ca.name}.crt`,
            "sudo update-ca-certificates",
        ]);
        expect(nss.manual).toBeUndefined();
        expect(nss.commands.map((c) => c.argv[0])).toEqual(["certutil", "certutil"]); // the database exists: not made again
    });

    it("without certutil, the NSS commands are printed with how to install it", () => {
        const steps = trustPlan("trust", ca, debian({ has: (c) => c === "update-ca-certificates" }), true);
        expect(steps[1].manual).toMatch(/certutil is not installed \(Debian: apt-get install libnss3-tools/);
    });

    it("Fedora's update-ca-trust", () => {
        const [system] = trustPlan("trust", ca, debian({ has: (c) => c === "update-ca-trust" }), true);
        expect(system.commands.map((c) => shellLine(c.argv))).toEqual([
            `install -D -m 644 ${ca.certFile} /etc/pki/ca-trust/source/anchors/${ca.name}.pem`,
            "update-ca-trust extract",
        ]);
    });

    it("macOS and Windows: the command is printed, nothing else", () => {
        const mac = trustPlan("trust", ca, debian({ platform: "darwin" }), false);
        expect(mac).toHaveLength(1);
        expect(mac[0].manual).toBeDefined();
        expect(shellLine(mac[0].commands[0].argv)).toBe(
            `sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${ca.certFile}`,
        );
        expect(shellLine(trustPlan("untrust", ca, debian({ platform: "darwin" }), false)[0].commands[0].argv)).toBe(
            "sudo security delete-certificate -Z AABBCC /Library/Keychains/System.keychain",
        );
        expect(shellLine(trustPlan("trust", ca, debian({ platform: "win32" }), false)[0].commands[0].argv)).toBe(
            `certutil -addstore -f ROOT ${ca.certFile}`,
        );
    });

    it("quotes what a shell would split", () => {
        expect(shellLine(["certutil", "-n", "it's mine", "-t", "C,,"])).toBe(`certutil -n 'it'\\''s mine' -t C,,`);
    });
});
