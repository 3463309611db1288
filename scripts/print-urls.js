// Prints the dev stack's URLs and how to open them (names under .localhost
// do not resolve everywhere; see the README).
const outputs = JSON.parse(process.argv[2] || "{}");
const urls = outputs.urls || {};
console.log("\ndind-compose is up. Projects:");
for (const [name, url] of Object.entries(urls)) {
    const u = new URL(url);
    console.log(`  ${name.padEnd(10)} ${url}`);
    console.log(`  ${"".padEnd(10)} curl --resolve ${u.hostname}:${u.port || 80}:127.0.0.1 ${url}`);
}
console.log("\nBrowsers such as Chromium resolve *.localhost by themselves. Tear down with: npm run pulumi -- destroy --yes -s dev");
