// The rows browser: a page of an entity's rows (sort, filters, paging), one row, and the
// create / edit / delete forms, all generated from the model's definition.

import { api, ApiError } from "./api.js";
import { clearProblems, crumbs, field, h, notice, showProblems, when } from "./dom.js";
import { go } from "./app.js";

const PAGE = 20;
const OPTION_LIMIT = 200; // a reference becomes a select when the target has at most this many rows
const UNSORTABLE = new Set(["Array", "Object"]);
const ORDERED = new Set(["String", "Text", "Integer", "Float", "DateTime", "Date"]);
const TEXTUAL = new Set(["String", "Text"]);
const SYSTEM = [
  { name: "created_at", type: "DateTime" },
  { name: "updated_at", type: "DateTime" },
];
let flash = null; // a message for the next page drawn (after a save or a delete)

/** What the definition says about an entity: its columns (fields and OneToMany references) and
 * its ManyToMany links. */
export function entityPlan(definition, name) {
  const entity = definition.entities.find((e) => e.name === name);
  if (!entity) throw new Error(`The model has no entity ${name}`);
  const columns = entity.fields.map((f) => ({ ...f }));
  const relationships = definition.relationships || [];
  for (const rel of relationships) {
    if (rel.type === "OneToMany" && rel.to === name) columns.push({ name: rel.name, type: "Reference", target: rel.from });
  }
  const links = relationships.filter((r) => r.type === "ManyToMany" && r.from === name).map((r) => ({ name: r.name, target: r.to }));
  const labelField = entity.fields.find((f) => f.type === "String");
  return { entity, columns, links, label: labelField ? labelField.name : null, title: entity.display_name || entity.name };
}

function operators(type) {
  const ops = ["eq", "ne", "in"];
  if (ORDERED.has(type)) ops.push("gt", "gte", "lt", "lte");
  if (TEXTUAL.has(type)) ops.push("contains", "startswith");
  return ops;
}

const OP_LABELS = { eq: "equals", ne: "is not", in: "is one of (a,b)", gt: ">", gte: "≥", lt: "<", lte: "≤", contains: "contains", startswith: "starts with" };

function shortId(id) {
  return String(id).slice(0, 8);
}

function rowHref(modelId, entity, id) {
  return `#/models/${encodeURIComponent(modelId)}/rows/${entity}/${encodeURIComponent(id)}`;
}

function cell(modelId, column, value) {
  if (value === null || value === undefined || value === "") return h("span", { class: "hint" }, "–");
  if (column.type === "Reference") {
    return h("a", { href: rowHref(modelId, column.target, value), "aria-label": `${column.target} ${value}` }, `${column.target} ${shortId(value)}`);
  }
  if (column.type === "Array" || column.type === "Object") return h("span", { class: "mono" }, JSON.stringify(value));
  if (column.type === "Boolean") return value ? "yes" : "no";
  if (column.type === "DateTime") return when(value);
  return String(value);
}

function chips(modelId, link, ids) {
  if (!ids || !ids.length) return h("span", { class: "hint" }, "none");
  return h(
    "ul",
    { class: "chips", "aria-label": link.name },
    ids.map((v) => h("li", { class: "chip" }, h("a", { href: rowHref(modelId, link.target, v), "aria-label": `${link.target} ${v}` }, shortId(v)))),
  );
}

async function loadModel(modelId, entity) {
  const model = await api("GET", `/models/${encodeURIComponent(modelId)}`);
  return { model, plan: entityPlan(model.definition, entity) };
}

function rowsPath(modelId, entity) {
  return `/models/${encodeURIComponent(modelId)}/app-database/entities/${entity}`;
}

/** A page of rows. */
export async function rowsPage(modelId, entity, query) {
  const { model, plan } = await loadModel(modelId, entity);
  const sort = query.get("sort") || "";
  const offset = Math.max(0, Number(query.get("offset")) || 0);
  const filters = [...query.entries()].filter(([k]) => k !== "sort" && k !== "offset");
  const here = (changes) => {
    const next = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    const text = next.toString();
    return `/models/${encodeURIComponent(modelId)}/rows/${entity}${text ? `?${text}` : ""}`;
  };
  let page = { data: [], count: 0 };
  let problem = null;
  try {
    page = await api("GET", rowsPath(modelId, entity), {
      query: [["limit", PAGE], ["offset", offset], ...(sort ? [["sort", sort]] : []), ...filters],
    });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 422) throw err;
    problem = notice("bad", h("p", {}, "The service refused this view:"), h("ul", {}, err.problems.map((p) => h("li", {}, `${p.loc.slice(1).join(".")}: ${p.msg}`))));
  }

  // ---- header with sort buttons
  const [sortKey, descending] = sort.startsWith("-") ? [sort.slice(1), true] : [sort, false];
  const header = (column) => {
    if (UNSORTABLE.has(column.type)) return h("th", { scope: "col" }, column.name);
    const active = sortKey === column.name;
    const next = active && !descending ? `-${column.name}` : column.name;
    return h(
      "th",
      { scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "sortbtn", onclick: () => go(here({ sort: next, offset: null })) }, column.name, active ? (descending ? " ▼" : " ▲") : "", h("span", { class: "visually-hidden" }, active && !descending ? ", sort descending" : ", sort ascending")),
    );
  };
  const table = h(
    "table",
    {},
    h("caption", { class: "visually-hidden" }, `${plan.title} rows`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Row"), plan.columns.map(header), plan.links.map((l) => h("th", { scope: "col" }, l.name)), header({ name: "created_at", type: "DateTime" }))),
    h(
      "tbody",
      {},
      page.data.map((row) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: rowHref(modelId, entity, row.id), "aria-label": `Open row ${row.id}` }, shortId(row.id))),
          plan.columns.map((c) => h("td", {}, cell(modelId, c, row[c.name]))),
          plan.links.map((l) => h("td", {}, chips(modelId, l, row[l.name]))),
          h("td", {}, when(row.created_at)),
        ),
      ),
    ),
  );

  // ---- filters
  const filterable = [...plan.columns.filter((c) => !UNSORTABLE.has(c.type)), ...SYSTEM];
  const fieldSelect = h("select", {}, filterable.map((c) => h("option", { value: c.name }, c.name)));
  const opSelect = h("select", {});
  const valueInput = h("input", { autocomplete: "off" });
  const fillOps = () => {
    const column = filterable.find((c) => c.name === fieldSelect.value);
    opSelect.replaceChildren(...operators(column ? column.type : "String").map((op) => h("option", { value: op }, OP_LABELS[op])));
  };
  fieldSelect.addEventListener("change", fillOps);
  fillOps();
  const filterForm = h(
    "form",
    { class: "row", "aria-label": "Add a filter" },
    field("Filter field", fieldSelect),
    field("Operator", opSelect),
    field("Value", valueInput),
    h("div", { class: "field" }, h("button", { type: "submit" }, "Add filter")),
  );
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    go(here({ [`${fieldSelect.value}.${opSelect.value}`]: valueInput.value, offset: null }));
  });
  const active = filters.length
    ? h(
        "ul",
        { class: "chips", "aria-label": "Active filters" },
        filters.map(([k, v]) => h("li", { class: "chip" }, `${k} = ${v} `, h("button", { type: "button", class: "link", onclick: () => go(here({ [k]: null, offset: null })), "aria-label": `Remove filter ${k}` }, "×"))),
      )
    : null;

  // ---- pager
  const last = Math.min(offset + PAGE, page.count);
  const pager = h(
    "div",
    { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => go(here({ offset: Math.max(0, offset - PAGE) || null })) }, "Previous page"),
    h("span", { role: "status" }, page.count ? `Rows ${offset + 1}–${last} of ${page.count}` : "No rows"),
    h("button", { type: "button", class: "secondary", disabled: last >= page.count, onclick: () => go(here({ offset: offset + PAGE })) }, "Next page"),
  );
  const message = flash;
  flash = null;
  return {
    title: `${plan.title} · ${model.name}`,
    view: "rows",
    node: [
      crumbs(["Overview", "#/"], [model.name, `#/models/${encodeURIComponent(modelId)}`], [plan.title, null]),
      h("h1", {}, `${plan.title} rows`),
      message,
      h("p", { class: "actions" }, h("a", { class: "button", href: `#/models/${encodeURIComponent(modelId)}/rows/${entity}/new` }, `New ${plan.title.toLowerCase()}`), sort || filters.length ? h("a", { href: `#/models/${encodeURIComponent(modelId)}/rows/${entity}` }, "Clear sort and filters") : null),
      h("section", { "aria-labelledby": "filters-h" }, h("h2", { id: "filters-h" }, "Filters"), active, filterForm),
      problem,
      h("div", { class: "scroll" }, table),
      pager,
    ],
  };
}

async function optionsFor(modelId, definition, target) {
  const plan = entityPlan(definition, target);
  const page = await api("GET", rowsPath(modelId, target), { query: [["limit", OPTION_LIMIT], ["sort", plan.label || "created_at"]] });
  if (page.count > OPTION_LIMIT) return null;
  return page.data.map((r) => [r.id, plan.label && r[plan.label] ? `${r[plan.label]} (${shortId(r.id)})` : `${target} ${shortId(r.id)}`]);
}

function toValue(column, text) {
  // The API is the judge of every value: what does not parse here is sent as typed, so its
  // message comes back next to the field.
  if (text === "") return null;
  switch (column.type) {
    case "Integer":
    case "Float":
      return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text) : text;
    case "Boolean":
      return text === "true";
    case "Array":
    case "Object":
      try {
        return JSON.parse(text);
      } catch (err) {
        return text;
      }
    default:
      return text;
  }
}

function asText(column, value) {
  if (value === null || value === undefined) return "";
  if (column.type === "Array" || column.type === "Object") return JSON.stringify(value);
  if (column.type === "Boolean") return value ? "true" : "false";
  return String(value);
}

/** A create or edit form built from the definition; ``row`` is null for a new row. */
async function rowForm(modelId, model, plan, row, onSaved) {
  const locs = new Map();
  const summary = h("div", { "aria-live": "polite" });
  const controls = [];
  for (const column of plan.columns) {
    let control;
    const current = row ? asText(column, row[column.name]) : "";
    if (column.type === "Text" || column.type === "Array" || column.type === "Object") {
      control = h("textarea", { value: current, rows: 3 });
    } else if (column.type === "Boolean") {
      control = h("select", {}, h("option", { value: "" }, "(not set)"), h("option", { value: "true" }, "yes"), h("option", { value: "false" }, "no"));
      control.value = current;
    } else if (column.type === "Enum") {
      control = h("select", {}, h("option", { value: "" }, "(not set)"), (column.values || []).map((v) => h("option", { value: v }, v)));
      control.value = current;
    } else if (column.type === "Reference") {
      const options = await optionsFor(modelId, model.definition, column.target);
      if (options) {
        control = h("select", {}, h("option", { value: "" }, "(none)"), options.map(([v, label]) => h("option", { value: v }, label)));
        control.value = current;
      } else control = h("input", { value: current, autocomplete: "off" });
    } else if (column.type === "Date") {
      control = h("input", { type: "date", value: current });
    } else {
      const mode = column.type === "Integer" ? "numeric" : column.type === "Float" ? "decimal" : null;
      control = h("input", { value: current, inputmode: mode, autocomplete: "off" });
    }
    const hint = {
      DateTime: "ISO 8601, for example 2024-05-01T12:30:00",
      Array: "A JSON array, for example [\"a\", \"b\"]",
      Object: "A JSON object, for example {\"k\": 1}",
    }[column.type];
    const label = `${column.name}${column.required ? " (required)" : ""}`;
    controls.push([column, control, current]);
    control.name = column.name;
    controls.at(-1).push(field(label, control, { loc: column.name, locs, hint }));
  }
  for (const link of plan.links) {
    const options = (await optionsFor(modelId, model.definition, link.target)) || [];
    const chosen = new Set(row ? row[link.name] || [] : []);
    const control = h("select", { multiple: true, size: Math.min(6, Math.max(2, options.length)) }, options.map(([v, label]) => h("option", { value: v, selected: chosen.has(v) }, label)));
    control.name = link.name;
    controls.push([{ ...link, type: "Links" }, control, [...chosen].sort().join(","), field(`${link.name} (${link.target})`, control, { loc: link.name, locs, hint: "Hold Ctrl or Shift to choose several" })]);
  }
  const form = h("form", { novalidate: true }, controls.map((c) => c[3]), summary, h("div", { class: "actions" }, h("button", { type: "submit" }, row ? "Save changes" : "Create row")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblems(locs, summary);
    const body = {};
    for (const [column, control, before] of controls) {
      if (column.type === "Links") {
        const ids = [...control.selectedOptions].map((o) => o.value);
        if (!row || ids.slice().sort().join(",") !== before) body[column.name] = ids;
        continue;
      }
      if (row && control.value === before) continue;
      const value = toValue(column, control.value);
      if (!row && value === null) continue;
      body[column.name] = value;
    }
    try {
      const path = rowsPath(modelId, plan.entity.name);
      const saved = row
        ? await api("PATCH", `${path}/${encodeURIComponent(row.id)}`, { body })
        : await api("POST", path, { body });
      onSaved(saved);
    } catch (err) {
      if (err instanceof ApiError && err.problems.length) showProblems(locs, summary, err.problems);
      else summary.replaceChildren(notice("bad", err.message));
    }
  });
  return form;
}

/** A new row's form. */
export async function newRowPage(modelId, entity) {
  const { model, plan } = await loadModel(modelId, entity);
  const form = await rowForm(modelId, model, plan, null, (saved) => {
    flash = notice("good", "Row created.");
    go(rowHref(modelId, entity, saved.id).slice(1));
  });
  return {
    title: `New ${plan.title}`,
    view: "new-row",
    node: [
      crumbs(["Overview", "#/"], [model.name, `#/models/${encodeURIComponent(modelId)}`], [plan.title, `#/models/${encodeURIComponent(modelId)}/rows/${entity}`], ["New", null]),
      h("h1", {}, `New ${plan.title.toLowerCase()}`),
      form,
    ],
  };
}

/** One row: its values, the edit form and delete. */
export async function rowPage(modelId, entity, rowId) {
  const { model, plan } = await loadModel(modelId, entity);
  const row = await api("GET", `${rowsPath(modelId, entity)}/${encodeURIComponent(rowId)}`);
  const values = h(
    "dl",
    { class: "values" },
    h("dt", {}, "id"), h("dd", { class: "mono" }, row.id),
    plan.columns.map((c) => [h("dt", {}, c.name), h("dd", {}, cell(modelId, c, row[c.name]))]),
    plan.links.map((l) => [h("dt", {}, l.name), h("dd", {}, chips(modelId, l, row[l.name]))]),
    h("dt", {}, "created_at"), h("dd", {}, when(row.created_at)),
    h("dt", {}, "updated_at"), h("dd", {}, when(row.updated_at)),
  );
  const form = await rowForm(modelId, model, plan, row, () => {
    flash = notice("good", "Saved.");
    go(rowHref(modelId, entity, row.id).slice(1));
  });
  const confirm = h("input", { type: "checkbox" });
  const remove = h("button", { type: "button", class: "danger", disabled: true }, "Delete this row");
  const removeOut = h("div", { "aria-live": "polite" });
  confirm.addEventListener("change", () => { remove.disabled = !confirm.checked; });
  remove.addEventListener("click", async () => {
    try {
      await api("DELETE", `${rowsPath(modelId, entity)}/${encodeURIComponent(row.id)}`);
      flash = notice("good", "Row deleted.");
      go(`/models/${encodeURIComponent(modelId)}/rows/${entity}`);
    } catch (err) {
      removeOut.replaceChildren(notice("bad", err.message));
    }
  });
  const message = flash;
  flash = null;
  return {
    title: `${plan.title} ${shortId(row.id)}`,
    view: "row",
    node: [
      crumbs(["Overview", "#/"], [model.name, `#/models/${encodeURIComponent(modelId)}`], [plan.title, `#/models/${encodeURIComponent(modelId)}/rows/${entity}`], [shortId(row.id), null]),
      h("h1", {}, `${plan.title} ${row[plan.label] || shortId(row.id)}`),
      message,
      values,
      h("section", { "aria-labelledby": "edit-h" }, h("h2", { id: "edit-h" }, "Edit"), form),
      h("section", { "aria-labelledby": "remove-h" }, h("h2", { id: "remove-h" }, "Delete"), field("Yes, delete this row", confirm, { inline: true }), h("div", { class: "actions" }, remove), removeOut),
    ],
  };
}
