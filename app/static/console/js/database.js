// A model's page: its app database (entities and counts, seed, empty, schema sync) and the
// model itself (edit, delete by typing its id).

import { api, ApiError } from "./api.js";
import { bytes, crumbs, field, h, notice, showProblems, when } from "./dom.js";
import { go } from "./app.js";

const SEED_MAX = 10; // the API's max_instances_per_entity

function planList(plan) {
  const destructive = new Set(plan.destructive);
  return plan.operations.length
    ? h("ol", { class: "plan" }, plan.operations.map((op) => h("li", { class: destructive.has(op) ? "destructive" : "" }, op, destructive.has(op) ? " (destroys data)" : "")))
    : h("p", {}, "The live schema already matches the definition.");
}

/** The model page. */
export async function database(modelId) {
  const id = encodeURIComponent(modelId);
  const base = `/models/${id}/app-database`;
  const refresh = () => h("button", { type: "button", class: "link", onclick: () => go(`/models/${id}`) }, "Refresh the counts");
  const [model, status, entities] = await Promise.all([
    api("GET", `/models/${id}`),
    api("GET", `${base}/status`),
    api("GET", `${base}/entities`).catch(() => []),
  ]);

  // ---- entities
  const entityTable = h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, "Entities"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Entity"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, "Rows"), h("th", { scope: "col" }, "Last change"))),
    h(
      "tbody",
      {},
      entities.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/models/${id}/rows/${e.entity_type}` }, e.display_name || e.entity_type)),
          h("td", { class: "mono" }, e.entity_type),
          h("td", { class: "num" }, e.record_count ?? "–"),
          h("td", {}, when(e.last_updated)),
        ),
      ),
    ),
  );

  // ---- seed
  const seedLocs = new Map();
  const seedOut = h("div", { "aria-live": "polite", id: "seed-report" });
  const count = h("input", { type: "number", min: 1, max: SEED_MAX, value: "5", inputmode: "numeric" });
  const seedNumber = h("input", { type: "number", min: 0, value: "", inputmode: "numeric" });
  const locale = h("input", { value: "en_US", autocomplete: "off" });
  const keep = h("input", { type: "checkbox" });
  const choices = model.definition.entities.map((e) => h("input", { type: "checkbox", value: e.name, checked: true }));
  const seedForm = h(
    "form",
    { novalidate: true },
    h(
      "div",
      { class: "row" },
      field(`Rows per entity (1 to ${SEED_MAX})`, count, { loc: "max_instances_per_entity", locs: seedLocs }),
      field("Seed number", seedNumber, { loc: "seed", locs: seedLocs, hint: "The same number gives the same data." }),
      field("Locale", locale, { loc: "locale", locs: seedLocs, hint: "For example en_US, fr_FR, de_DE" }),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Entities to seed"),
      h("div", { class: "row" }, choices.map((box, i) => field(model.definition.entities[i].display_name || model.definition.entities[i].name, box, { inline: true }))),
    ),
    field("Keep existing rows", keep, { loc: "preserve_existing", locs: seedLocs, inline: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Seed")),
    seedOut,
  );
  seedForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      max_instances_per_entity: Number(count.value),
      locale: locale.value,
      preserve_existing: keep.checked,
    };
    if (seedNumber.value !== "") body.seed = Number(seedNumber.value);
    const chosen = choices.filter((c) => c.checked).map((c) => c.value);
    if (chosen.length !== choices.length) body.specific_entities = chosen;
    seedOut.replaceChildren(h("p", {}, "Seeding…"));
    try {
      const report = await api("POST", `${base}/seed`, { body });
      seedOut.replaceChildren(
        notice(
          "good",
          h("p", {}, "Seeded."),
          h(
            "dl",
            { class: "values" },
            h("dt", {}, "Rows created"), h("dd", {}, report.entities_created),
            h("dt", {}, "Links created"), h("dd", {}, report.relationships_created),
            h("dt", {}, "Took"), h("dd", {}, `${report.duration_ms} ms`),
            h("dt", {}, "Seed number"), h("dd", {}, report.seed),
          ),
          h("p", {}, refresh()),
        ),
      );
    } catch (err) {
      seedOut.replaceChildren();
      if (err instanceof ApiError && err.problems.length) showProblems(seedLocs, seedOut, err.problems);
      else seedOut.replaceChildren(notice("bad", err.message));
    }
  });

  // ---- empty
  const emptyOut = h("div", { "aria-live": "polite" });
  const emptyConfirm = h("input", { type: "checkbox" });
  const emptyButton = h("button", { type: "button", class: "danger", disabled: true }, "Empty the database");
  emptyConfirm.addEventListener("change", () => { emptyButton.disabled = !emptyConfirm.checked; });
  emptyButton.addEventListener("click", async () => {
    try {
      await api("DELETE", base);
      emptyOut.replaceChildren(notice("good", "Every row was deleted; the schema stays.", " ", refresh()));
      emptyConfirm.checked = false;
      emptyButton.disabled = true;
    } catch (err) {
      emptyOut.replaceChildren(notice("bad", err.message));
    }
  });

  // ---- schema sync
  const syncOut = h("div", { "aria-live": "polite" });
  const checkButton = h("button", { type: "button", class: "secondary" }, "Check the schema");
  checkButton.addEventListener("click", async () => {
    try {
      const plan = await api("POST", `${base}/sync`, { query: [["dry_run", "true"]] });
      const parts = [h("h3", {}, "Sync plan (dry run)"), planList(plan)];
      if (plan.operations.length) {
        const confirm = h("input", { type: "checkbox" });
        const apply = h("button", { type: "button", disabled: plan.destructive.length > 0 }, "Apply the sync");
        confirm.addEventListener("change", () => { apply.disabled = !confirm.checked; });
        apply.addEventListener("click", async () => {
          try {
            const query = plan.destructive.length ? [["allow_destructive", "true"]] : [];
            const done = await api("POST", `${base}/sync`, { query });
            syncOut.replaceChildren(notice("good", h("p", {}, "Applied."), planList(done)));
          } catch (err) {
            syncOut.append(notice("bad", err.message));
          }
        });
        if (plan.destructive.length) parts.push(field("I understand: delete this data", confirm, { inline: true }));
        parts.push(h("div", { class: "actions" }, apply));
      }
      syncOut.replaceChildren(...parts);
    } catch (err) {
      syncOut.replaceChildren(notice("bad", err.message));
    }
  });

  // ---- delete
  const typed = h("input", { autocomplete: "off" });
  const deleteButton = h("button", { type: "button", class: "danger", disabled: true }, "Delete the model and its data");
  const deleteOut = h("div", { "aria-live": "polite" });
  typed.addEventListener("input", () => { deleteButton.disabled = typed.value !== model.id; });
  deleteButton.addEventListener("click", async () => {
    try {
      await api("DELETE", `/models/${id}`);
      go("/");
    } catch (err) {
      deleteOut.replaceChildren(notice("bad", err.message));
    }
  });

  const facts = [
    ["Id", model.id], ["Version", model.version], ["Rows", status.total_entities], ["Size", bytes(status.size_bytes)],
    ["Schema", status.in_sync ? "in sync" : "differs from the definition"], ["Last seed", when(status.last_seeded)],
  ];
  return {
    title: model.name,
    view: "model",
    node: [
      crumbs(["Overview", "#/"], [model.name, null]),
      h("h1", {}, model.name),
      h("dl", { class: "cards" }, facts.map(([k, v]) => h("div", { class: "card" }, h("dt", {}, k), h("dd", {}, v)))),
      status.in_sync ? null : notice("warn", "The live schema differs from the definition: check the schema below."),
      h("p", { class: "actions" }, h("a", { class: "button", href: `#/models/${id}/edit` }, "Edit the model")),
      h("section", { "aria-labelledby": "ent-h" }, h("h2", { id: "ent-h" }, "Entities"), h("div", { class: "scroll" }, entityTable)),
      h("section", { "aria-labelledby": "seed-h" }, h("h2", { id: "seed-h" }, "Seed with realistic data"), seedForm),
      h("section", { "aria-labelledby": "empty-h" }, h("h2", { id: "empty-h" }, "Empty"), h("p", {}, "Delete every row of every entity and keep the schema."), field("Yes, delete every row", emptyConfirm, { inline: true }), h("div", { class: "actions" }, emptyButton), emptyOut),
      h("section", { "aria-labelledby": "sync-h" }, h("h2", { id: "sync-h" }, "Schema sync"), h("p", {}, "Compare the live database with the definition, then bring it along."), h("div", { class: "actions" }, checkButton), syncOut),
      h("section", { "aria-labelledby": "del-h" }, h("h2", { id: "del-h" }, "Delete the model"), field(`Type the model id (${model.id}) to confirm`, typed), h("div", { class: "actions" }, deleteButton), deleteOut),
    ],
  };
}
