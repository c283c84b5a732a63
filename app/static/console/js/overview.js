// Overview: the service's status, key figures from /metrics, and the models.

import { api, metricsText, metricSum } from "./api.js";
import { bytes, h, notice, when } from "./dom.js";

function card(label, value) {
  return h("div", { class: "card" }, h("dt", {}, label), h("dd", {}, value));
}

function uptime(seconds) {
  const s = Math.floor(seconds);
  const parts = [[Math.floor(s / 86400), "d"], [Math.floor(s / 3600) % 24, "h"], [Math.floor(s / 60) % 60, "min"]];
  const text = parts.filter(([n]) => n).map(([n, u]) => `${n} ${u}`).join(" ");
  return text || `${s} s`;
}

/** The overview page. */
export async function overview() {
  const [status, models, metrics] = await Promise.all([
    api("GET", "/utils/status"),
    api("GET", "/models/", { query: [["limit", 100]] }),
    metricsText(),
  ]);
  const reports = await Promise.all(
    models.data.map((m) =>
      api("GET", `/models/${encodeURIComponent(m.id)}/app-database/status`).catch(() => null),
    ),
  );
  const appBytes = reports.reduce((sum, r) => sum + ((r && r.size_bytes) || 0), 0);
  const mainBytes = metrics ? metricSum(metrics, "main_database_size_bytes") : null;
  const cards = [
    card("Version", status.version),
    card("Schema revision", status.schema_revision || "none"),
    card("Database", status.database),
    card("Schema parity", status.schema_in_parity ? "in parity" : "differs"),
    card("Uptime", uptime(status.uptime_seconds)),
    card("Data size", bytes(appBytes + (mainBytes || 0))),
    card("Auth", status.auth_required ? "required" : "off (loopback)"),
  ];
  const figures = metrics
    ? [
        card("Requests served", metricSum(metrics, "http_requests_total")),
        card("Server errors", metricSum(metrics, "http_requests_total", (l) => /status="5/.test(l))),
        card("Failed operations", metricSum(metrics, "failed_operations_total")),
        card("Seeds run", metricSum(metrics, "app_database_seed_duration_seconds_count")),
        card("Rows seeded", metricSum(metrics, "app_database_seeded_rows_total")),
      ]
    : null;
  const parity = status.schema_in_parity
    ? null
    : notice("warn", h("p", {}, "The schema differs:"), h("ul", {}, status.parity_findings.map((f) => h("li", {}, f))));
  const table = models.data.length
    ? h(
        "div",
        { class: "scroll" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, "Models"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Model"),
              h("th", { scope: "col" }, "Id"),
              h("th", { scope: "col", class: "num" }, "Entities"),
              h("th", { scope: "col", class: "num" }, "Rows"),
              h("th", { scope: "col", class: "num" }, "Size"),
              h("th", { scope: "col" }, "Last seed"),
            ),
          ),
          h(
            "tbody",
            {},
            models.data.map((m, i) => {
              const r = reports[i];
              return h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/models/${encodeURIComponent(m.id)}` }, m.name)),
                h("td", { class: "mono" }, m.id),
                h("td", { class: "num" }, m.definition.entities.length),
                h("td", { class: "num" }, r ? r.total_entities : "–"),
                h("td", { class: "num" }, r ? bytes(r.size_bytes) : "–"),
                h("td", {}, when(m.last_seeded_at)),
              );
            }),
          ),
        ),
      )
    : h("p", {}, "No models yet. ", h("a", { href: "#/models/new" }, "Design the first one"), ".");
  return {
    title: "Overview",
    view: "overview",
    node: [
      h("h1", {}, "Overview"),
      h("section", { "aria-labelledby": "status-h" }, h("h2", { id: "status-h" }, "Service"), h("dl", { class: "cards" }, cards), parity),
      figures
        ? h("section", { "aria-labelledby": "fig-h" }, h("h2", { id: "fig-h" }, "Since start"), h("dl", { class: "cards" }, figures))
        : null,
      h(
        "section",
        { "aria-labelledby": "models-h" },
        h("h2", { id: "models-h" }, `Models (${models.count})`),
        h("p", {}, h("a", { class: "button", href: "#/models/new" }, "New model")),
        table,
      ),
    ],
  };
}
