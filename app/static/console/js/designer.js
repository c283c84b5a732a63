// The model designer: a form (entities, fields, relationships) or the JSON definition itself.
// Creating posts it; editing asks the API for the dry-run plan first and applies it only after
// an explicit confirmation of every destructive step.

import { api, ApiError } from "./api.js";
import { clearProblems, crumbs, field, fill, h, notice, showProblems } from "./dom.js";
import { go } from "./app.js";

const TYPES = ["String", "Text", "Integer", "Float", "Boolean", "DateTime", "Date", "Enum", "Reference", "Array", "Object"];
const REL_TYPES = ["OneToMany", "ManyToMany"];

function blank() {
  return { id: "", name: "", definition: { entities: [newEntity(1)], relationships: [] } };
}

function newEntity(n) {
  return { name: `entity_${n}`, display_name: `Entity ${n}`, fields: [{ name: "title", type: "String" }] };
}

function select(options, value, attrs = {}) {
  return h(
    "select",
    attrs,
    options.map((o) => {
      const [val, label] = Array.isArray(o) ? o : [o, o];
      return h("option", { value: val, selected: val === value }, label);
    }),
  );
}

/** The designer page: {modelId} edits an existing model, {} creates one. */
export async function designer({ modelId }) {
  const editing = Boolean(modelId);
  let doc;
  let version = null;
  if (editing) {
    const model = await api("GET", `/models/${encodeURIComponent(modelId)}`);
    doc = { id: model.id, name: model.name, definition: model.definition };
    version = model.version;
  } else {
    doc = blank();
  }
  const locs = new Map();
  const summary = h("div", { "aria-live": "polite" });
  const formArea = h("div", { id: "designer-form" });
  const jsonText = h("textarea", { class: "json", spellcheck: "false" });
  const jsonError = h("div", { "aria-live": "polite" });
  const jsonArea = h(
    "div",
    { id: "designer-json", hidden: true },
    field("Model definition (JSON)", jsonText, {
      hint: "Paste or edit the whole document: id, name and definition, as POST /api/v1/models/ takes it.",
    }),
    jsonError,
  );
  const result = h("div", { "aria-live": "polite" });
  let tab = "form";

  const formTab = h("button", { type: "button", role: "tab", "aria-selected": "true", "aria-controls": "designer-form", id: "tab-form" }, "Form");
  const jsonTab = h("button", { type: "button", role: "tab", "aria-selected": "false", "aria-controls": "designer-json", id: "tab-json" }, "JSON");
  formArea.setAttribute("role", "tabpanel");
  formArea.setAttribute("aria-labelledby", "tab-form");
  jsonArea.setAttribute("role", "tabpanel");
  jsonArea.setAttribute("aria-labelledby", "tab-json");

  function readJson() {
    // Parse the JSON tab into the document; false (and a message) when it is not JSON.
    jsonError.replaceChildren();
    try {
      const parsed = JSON.parse(jsonText.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("the document must be a JSON object");
      doc = parsed;
      return true;
    } catch (err) {
      jsonError.replaceChildren(notice("bad", `Not valid JSON: ${err.message}`));
      jsonText.setAttribute("aria-invalid", "true");
      jsonText.focus();
      return false;
    }
  }

  function show(which) {
    if (which === tab) return;
    if (which === "form" && !readJson()) return;
    if (which === "json") jsonText.value = JSON.stringify(doc, null, 2);
    tab = which;
    jsonText.removeAttribute("aria-invalid");
    formTab.setAttribute("aria-selected", String(which === "form"));
    jsonTab.setAttribute("aria-selected", String(which === "json"));
    formArea.hidden = which !== "form";
    jsonArea.hidden = which !== "json";
    if (which === "form") drawForm();
  }
  formTab.addEventListener("click", () => show("form"));
  jsonTab.addEventListener("click", () => show("json"));

  function bind(control, obj, key, { kind = "text", redraw = false } = {}) {
    // Keep the document in step with a control; ``redraw`` when the form's shape depends on it.
    const event = control.tagName === "SELECT" || kind === "checkbox" ? "change" : "input";
    control.addEventListener(event, () => {
      if (kind === "checkbox") {
        if (control.checked) obj[key] = true;
        else delete obj[key];
      } else if (kind === "list") {
        obj[key] = control.value.split(",").map((v) => v.trim()).filter((v) => v);
      } else if (kind === "optional" && control.value === "") delete obj[key];
      else obj[key] = control.value;
      if (redraw) drawForm();
    });
    return control;
  }

  function fieldRow(entity, i, fld, j) {
    const base = `definition.entities.${i}.fields.${j}`;
    const entityNames = doc.definition.entities.map((e) => e.name);
    const parts = [
      field("Field name", bind(h("input", { value: fld.name ?? "", autocomplete: "off" }), fld, "name"), { loc: `${base}.name`, locs }),
      field("Type", bind(select(TYPES, fld.type), fld, "type", { redraw: true }), { loc: `${base}.type`, locs }),
      field("Required", bind(h("input", { type: "checkbox", checked: fld.required === true }), fld, "required", { kind: "checkbox" }), { loc: `${base}.required`, locs, inline: true }),
      field("Unique", bind(h("input", { type: "checkbox", checked: fld.unique === true }), fld, "unique", { kind: "checkbox" }), { loc: `${base}.unique`, locs, inline: true }),
    ];
    if (fld.type === "Enum" || fld.values !== undefined) {
      if (fld.type === "Enum" && fld.values === undefined) fld.values = [];
      parts.push(
        field("Values", bind(h("input", { value: (fld.values || []).join(", ") }), fld, "values", { kind: "list" }), {
          loc: `${base}.values`,
          locs,
          hint: "Comma-separated",
        }),
      );
    }
    if (fld.type === "Reference" || fld.target !== undefined) {
      parts.push(
        field("Target entity", bind(select([["", "(choose)"], ...entityNames], fld.target ?? ""), fld, "target", { kind: "optional" }), {
          loc: `${base}.target`,
          locs,
        }),
      );
    }
    if (fld.type !== "Enum" && fld.values !== undefined && !(fld.values || []).length) delete fld.values;
    if (fld.type !== "Reference" && fld.target === undefined) delete fld.target;
    const remove = h("button", { type: "button", class: "secondary", onclick: () => { entity.fields.splice(j, 1); drawForm(); } }, `Remove field ${fld.name || j + 1}`);
    const row = h("div", { class: "fieldrow", role: "group", "aria-label": `Field ${j + 1} of ${entity.name || "entity"}` }, parts, h("div", { class: "field" }, remove));
    locs.set(base, { control: row.querySelector("input"), error: row.querySelector(".error") });
    return row;
  }

  function entityBlock(entity, i) {
    const base = `definition.entities.${i}`;
    entity.fields = entity.fields || [];
    const nameInput = bind(h("input", { value: entity.name ?? "", autocomplete: "off" }), entity, "name");
    nameInput.addEventListener("change", drawForm); // other entities' target lists follow
    return h(
      "fieldset",
      { class: "entity" },
      h("legend", {}, `Entity ${i + 1}: ${entity.display_name || entity.name || ""}`),
      h(
        "div",
        { class: "row" },
        field("Entity name", nameInput, { loc: `${base}.name`, locs }),
        field("Display name", bind(h("input", { value: entity.display_name ?? "" }), entity, "display_name", { kind: "optional" }), { loc: `${base}.display_name`, locs }),
      ),
      h("div", { class: "fields" }, entity.fields.map((f, j) => fieldRow(entity, i, f, j))),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => { entity.fields.push({ name: "", type: "String" }); drawForm(); } }, `Add a field to ${entity.name || `entity ${i + 1}`}`),
        h("button", { type: "button", class: "secondary", onclick: () => { doc.definition.entities.splice(i, 1); drawForm(); } }, `Remove entity ${entity.name || i + 1}`),
      ),
    );
  }

  function relationshipRow(rel, k) {
    const base = `definition.relationships.${k}`;
    const names = ["", ...doc.definition.entities.map((e) => e.name)];
    return h(
      "div",
      { class: "fieldrow", role: "group", "aria-label": `Relationship ${k + 1}` },
      field("Kind", bind(select(REL_TYPES, rel.type), rel, "type"), { loc: `${base}.type`, locs }),
      field("From entity", bind(select(names, rel.from ?? ""), rel, "from"), { loc: `${base}.from`, locs }),
      field("To entity", bind(select(names, rel.to ?? ""), rel, "to"), { loc: `${base}.to`, locs }),
      field("Relationship name", bind(h("input", { value: rel.name ?? "" }), rel, "name"), { loc: `${base}.name`, locs }),
      h("div", { class: "field" }, h("button", { type: "button", class: "secondary", onclick: () => { doc.definition.relationships.splice(k, 1); drawForm(); } }, `Remove relationship ${k + 1}`)),
    );
  }

  function drawForm() {
    locs.clear();
    doc.definition = doc.definition || { entities: [] };
    doc.definition.entities = doc.definition.entities || [];
    doc.definition.relationships = doc.definition.relationships || [];
    const idInput = bind(h("input", { value: doc.id ?? "", readonly: editing, autocomplete: "off" }), doc, "id");
    fill(
      formArea,
      h(
        "div",
        { class: "row" },
        field("Model id", idInput, { loc: "id", locs, hint: "Letters, digits and dashes; it names the database." }),
        field("Model name", bind(h("input", { value: doc.name ?? "" }), doc, "name"), { loc: "name", locs }),
      ),
      h("h2", {}, "Entities"),
      doc.definition.entities.map(entityBlock),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => { doc.definition.entities.push(newEntity(doc.definition.entities.length + 1)); drawForm(); } }, "Add an entity")),
      h("h2", {}, "Relationships"),
      h("p", { class: "hint" }, "OneToMany adds a reference column named after the relationship to the “to” entity; ManyToMany links rows of “from” to many rows of “to”."),
      doc.definition.relationships.map(relationshipRow),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", onclick: () => { doc.definition.relationships.push({ type: "OneToMany", from: "", to: "", name: "" }); drawForm(); } }, "Add a relationship")),
    );
    const defLoc = { control: formArea.querySelector("input"), error: h("p", { class: "error", hidden: true }) };
    formArea.prepend(defLoc.error);
    locs.set("definition", defLoc);
  }

  function showFailure(err) {
    if (err instanceof ApiError && err.problems.length) {
      if (tab === "form") {
        showProblems(locs, summary, err.problems);
      } else {
        showProblems(new Map(), summary, err.problems);
      }
      summary.prepend(notice("bad", `${err.problems.length} problem(s): see the messages next to the fields.`));
    } else {
      summary.replaceChildren(notice("bad", err.message));
    }
  }

  async function submit(event) {
    event.preventDefault();
    if (tab === "json" && !readJson()) return;
    clearProblems(locs, summary);
    result.replaceChildren();
    try {
      if (!editing) {
        const model = await api("POST", "/models/", { body: doc });
        go(`/models/${encodeURIComponent(model.id)}`);
        return;
      }
      // Apply exactly what was planned, even if the form is touched while the plan shows.
      const previewed = JSON.parse(JSON.stringify(doc));
      const planned = await api("PUT", `/models/${encodeURIComponent(modelId)}`, { body: previewed, query: [["dry_run", "true"]] });
      showPlan(planned.sync, previewed);
    } catch (err) {
      showFailure(err);
    }
  }

  function showPlan(plan, previewed) {
    const destructive = new Set(plan.destructive);
    const confirm = h("input", { type: "checkbox" });
    const apply = h("button", { type: "button", disabled: destructive.size > 0 }, "Apply these changes");
    confirm.addEventListener("change", () => { apply.disabled = !confirm.checked; });
    apply.addEventListener("click", async () => {
      apply.disabled = true;
      try {
        const query = destructive.size ? [["allow_destructive", "true"]] : [];
        await api("PUT", `/models/${encodeURIComponent(modelId)}`, { body: previewed, query });
        go(`/models/${encodeURIComponent(modelId)}`);
      } catch (err) {
        apply.disabled = false;
        showFailure(err);
      }
    });
    result.replaceChildren(
      h(
        "section",
        { "aria-labelledby": "plan-h", id: "plan" },
        h("h2", { id: "plan-h" }, "Planned changes (dry run)"),
        plan.operations.length
          ? h("ol", { class: "plan" }, plan.operations.map((op) => h("li", { class: destructive.has(op) ? "destructive" : "" }, op, destructive.has(op) ? " (destroys data)" : "")))
          : h("p", {}, "The database needs no schema change."),
        destructive.size
          ? notice("warn", h("p", {}, `${destructive.size} step(s) delete data that cannot be brought back.`), field("I understand: delete this data", confirm, { inline: true }))
          : null,
        h("div", { class: "actions" }, apply, h("button", { type: "button", class: "secondary", onclick: () => result.replaceChildren() }, "Keep editing")),
      ),
    );
    result.querySelector("h2").tabIndex = -1;
    result.querySelector("h2").focus();
  }

  drawForm();
  const title = editing ? `Edit ${doc.name}` : "New model";
  const form = h(
    "form",
    { novalidate: true, onsubmit: submit },
    h("div", { class: "tabs", role: "tablist", "aria-label": "Design with" }, formTab, jsonTab),
    formArea,
    jsonArea,
    summary,
    h("div", { class: "actions" }, h("button", { type: "submit" }, editing ? "Preview changes" : "Create model")),
  );
  return {
    title,
    view: editing ? "edit-model" : "new-model",
    node: [
      editing
        ? crumbs(["Overview", "#/"], [doc.name, `#/models/${encodeURIComponent(modelId)}`], ["Edit", null])
        : crumbs(["Overview", "#/"], ["New model", null]),
      h("h1", {}, title),
      editing ? h("p", {}, `Version ${version}. Changing the model shows the plan before anything is applied.`) : null,
      form,
      result,
    ],
  };
}
