// DOM helpers: every node is built with createElement and text nodes, never from HTML strings,
// so a value from the database can never become markup.

let counter = 0;

/** A unique element id. */
export function uid(prefix = "c") {
  counter += 1;
  return `${prefix}${counter}`;
}

/** Build an element: h("a", {href: "#/"}, "Home"). on* keys add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "value") value = v;
    else if (key.startsWith("on") && typeof v === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), v);
    } else if (key === "class") el.className = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key === "checked" || key === "selected" || key === "multiple") el[key] = Boolean(v);
    else el.setAttribute(key, v === true ? "" : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

/** Replace an element's children (arrays are flattened, empty values skipped). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** A labelled control with an error slot; ``loc`` registers it for the API's 422 paths. */
export function field(label, control, { hint, loc, locs, inline } = {}) {
  control.id = control.id || uid("f");
  const error = h("p", { class: "error", id: uid("e"), hidden: true });
  const described = [error.id];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: uid("h") }, hint);
    described.push(hintEl.id);
  }
  control.setAttribute("aria-describedby", described.join(" "));
  const wrap = h("div", { class: inline ? "field inline" : "field" });
  if (inline) wrap.append(control, h("label", { for: control.id }, label));
  else wrap.append(h("label", { for: control.id }, label), control);
  if (hintEl) wrap.append(hintEl);
  wrap.append(error);
  if (locs && loc !== undefined) locs.set(loc, { control, error });
  return wrap;
}

/** A notice (role=status, or role=alert when bad). */
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" }, children);
}

/** Forget the errors shown by showProblems. */
export function clearProblems(locs, summary) {
  for (const { control, error } of locs.values()) {
    error.hidden = true;
    error.textContent = "";
    control.removeAttribute("aria-invalid");
  }
  if (summary) summary.replaceChildren();
}

/**
 * Put each problem of a 422 next to the control its path names (the longest registered prefix);
 * the rest go to ``summary``. Returns how many were placed inline.
 */
export function showProblems(locs, summary, problems) {
  clearProblems(locs, summary);
  const loose = [];
  let placed = 0;
  let first = null;
  for (const problem of problems) {
    const path = (problem.loc || []).filter((part, i) => !(i === 0 && part === "body"));
    let target = null;
    for (let n = path.length; n > 0 && !target; n -= 1) target = locs.get(path.slice(0, n).join("."));
    if (!target) {
      loose.push(problem);
      continue;
    }
    target.error.hidden = false;
    target.error.textContent = target.error.textContent
      ? `${target.error.textContent}; ${problem.msg}`
      : problem.msg;
    target.control.setAttribute("aria-invalid", "true");
    first = first || target.control;
    placed += 1;
  }
  if (summary && loose.length) {
    summary.append(
      notice(
        "bad",
        h("p", {}, "The service refused this:"),
        h("ul", {}, loose.map((p) => h("li", {}, `${describeLoc(p.loc)}: ${p.msg}`))),
      ),
    );
  }
  if (first) first.focus();
  return placed;
}

/** "definition › entities[0] › name" for a 422 loc. */
export function describeLoc(loc) {
  const parts = [];
  for (const part of loc || []) {
    if (part === "body") continue;
    if (typeof part === "number") parts.push(`${parts.pop() || ""}[${part}]`);
    else parts.push(String(part));
  }
  return parts.join(" › ") || "request";
}

/** Bytes for people. */
export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

/** A short form of a timestamp, or a dash. */
export function when(text) {
  if (!text) return "–";
  return String(text).replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

/** Breadcrumbs as a nav with an ordered list. */
export function crumbs(...items) {
  return h(
    "nav",
    { class: "crumbs", "aria-label": "Breadcrumb" },
    h(
      "ol",
      {},
      items.map(([label, href], i) =>
        h("li", {}, href && i < items.length - 1 ? h("a", { href }, label) : h("span", {}, label)),
      ),
    ),
  );
}
