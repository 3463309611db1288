// Prints the dev stack's URLs and how to open them (names under .localhost
// do not resolve everywhere; see the README).
const outputs = JSON.parse(process.argv[2] || "{}");
const urls = outputs.urls || {};
const httpsUrls = outputs.httpsUrls || {};
const routes = outputs.routes || {};
const resolve = (url) => {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}:127.0.0.1`;
};
console.log("\ndind-compose is up. Projects:");
for (const [name, url] of Object.entries(urls)) {
    console.log(`  ${name.padEnd(10)} ${url}`);
    console.log(`  ${"".padEnd(10)} curl --resolve ${resolve(url)} ${url}`);
    // The project's other services, each at its own hostname.
    for (const r of (routes[name] || []).slice(1)) console.log(`  ${"".padEnd(10)} ${r.url}  (service ${r.service}, port ${r.port})`);
}
const first = Object.values(urls)[0];
if (first) {
    const u = new URL(first);
    const domain = u.hostname.split(".").slice(1).join(".");
    console.log(`\nIndex of all projects: http://${domain}${u.port ? `:${u.port}` : ""}/`);
}
const firstHttps = Object.values(httpsUrls)[0];
if (firstHttps) {
    console.log(`HTTPS too: curl --resolve ${resolve(firstHttps)} ${firstHttps}`);
    // The user CA (outside the repository, one per user): trusted only on the user's command.
    if (outputs.caFile) console.log(`  once the CA is trusted (npm run trust; until then add --cacert ${outputs.caFile})`);
}
console.log("\nBrowsers such as Chromium resolve *.localhost by themselves. Tear down with: npm run pulumi -- destroy --yes -s dev");
