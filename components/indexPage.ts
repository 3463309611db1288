// The gateway's index page at the bare domain: every project and its URL. Pure.
import { Route } from "./gatewayConfig";

const escapeHtml = (s: string): string =>
    s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/** The URL of a hostname through the gateway (the port is omitted when it is the scheme's default). */
export function projectUrl(hostname: string, port: number, scheme: "http" | "https" = "http"): string {
    const defaultPort = scheme === "http" ? 80 : 443;
    return `${scheme}://${hostname}${port === defaultPort ? "" : `:${port}`}/`;
}

export function renderIndexPage(args: { domain: string; routes: Route[]; httpPort: number }): string {
    // Each project's main route first (its key is the project's name), then its services' routes.
    const rows = [...args.routes]
        .sort(
            (a, b) =>
                a.project.localeCompare(b.project) ||
                Number(a.key !== a.project) - Number(b.key !== b.project) ||
                a.hostname.localeCompare(b.hostname),
        )
        .map((r) => {
            const url = projectUrl(r.hostname, args.httpPort);
            return `      <tr><td>${escapeHtml(r.project)}</td><td>${escapeHtml(r.service ?? "")}</td><td><a href="${escapeHtml(url)}">${escapeHtml(url)}</a></td><td class="status" data-route="${escapeHtml(r.key)}">…</td></tr>`;
        })
        .join("\n");
    return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>dind-compose: ${escapeHtml(args.domain)}</title>
  <style>
    body { font-family: system-ui, sans-serif; margin: 2rem; }
    table { border-collapse: collapse; }
    td, th { padding: .4rem 1rem; border-bottom: 1px solid #ddd; text-align: left; }
    .up { color: #080; } .down { color: #b00; }
  </style>
</head>
<body>
  <h1>Projects on ${escapeHtml(args.domain)}</h1>
  <table>
    <thead><tr><th>project</th><th>service</th><th>URL</th><th>status</th></tr></thead>
    <tbody>
${rows}
    </tbody>
  </table>
  <script>
    // Ask each route right now, through the gateway's same-origin probe
    // (/_status/<project>); a 502 means its daemon or service is not answering.
    for (const cell of document.querySelectorAll(".status")) {
      fetch("/_status/" + cell.dataset.route, { cache: "no-store" })
        .then((r) => { const ok = r.status < 500; cell.textContent = ok ? "up" : "down (" + r.status + ")"; cell.className = "status " + (ok ? "up" : "down"); })
        .catch(() => { cell.textContent = "down"; cell.className = "status down"; });
    }
  </script>
</body>
</html>
`;
}
