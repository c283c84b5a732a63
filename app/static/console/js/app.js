// The console's router: the hash names the page, each page is rendered by a view module.

import { api, ApiError, session } from "./api.js";
import { h, notice } from "./dom.js";
import { overview } from "./overview.js";
import { designer } from "./designer.js";
import { database } from "./database.js";
import { rowsPage, rowPage, newRowPage } from "./rows.js";

const main = document.getElementById("main");
const who = document.getElementById("who");
let me = null; // {status, user}: known once the API answered
let rendering = 0;

const ROUTES = [
  [/^\/$/, () => overview()],
  [/^\/login$/, () => loginPage()],
  [/^\/models\/new$/, () => designer({})],
  [/^\/models\/([^/]+)\/edit$/, (m) => designer({ modelId: m[1] })],
  [/^\/models\/([^/]+)\/rows\/([^/]+)\/new$/, (m) => newRowPage(m[1], m[2])],
  [/^\/models\/([^/]+)\/rows\/([^/]+)\/([^/]+)$/, (m) => rowPage(m[1], m[2], m[3])],
  [/^\/models\/([^/]+)\/rows\/([^/]+)$/, (m, q) => rowsPage(m[1], m[2], q)],
  [/^\/models\/([^/]+)$/, (m) => database(m[1])],
];

/** Where we are: the hash's path and query. */
export function here() {
  const raw = window.location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

/** Go to a console page. */
export function go(path) {
  if (window.location.hash === `#${path}`) render();
  else window.location.hash = path;
}

async function whoAmI() {
  const status = await api("GET", "/utils/status");
  const user = await api("POST", "/login/test-token");
  me = { status, user };
  who.replaceChildren(
    h("span", {}, status.auth_required ? `Signed in as ${user.email}` : "Auth off: local superuser"),
  );
  if (status.auth_required) who.append(h("button", { type: "button", onclick: logout }, "Log out"));
  return me;
}

async function logout() {
  try {
    await api("POST", "/login/logout");
  } catch (err) {
    // The token may be gone already: logging out locally is what matters.
  }
  session.token = null;
  me = null;
  who.replaceChildren();
  go("/login");
}

function loginPage() {
  const email = h("input", { type: "email", name: "username", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const message = h("div", { "aria-live": "assertive" });
  const form = h(
    "form",
    { class: "login", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "login-email" }, "Email"), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password),
    message,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Log in")),
  );
  email.id = "login-email";
  password.id = "login-password";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    try {
      const token = await api("POST", "/login/access-token", {
        form: { username: email.value, password: password.value },
      });
      session.token = token.access_token;
      await whoAmI();
      go("/");
    } catch (err) {
      message.replaceChildren(notice("bad", err.message));
    }
  });
  return { title: "Log in", view: "login", node: [h("h1", {}, "Log in"), form] };
}

async function render() {
  const ticket = ++rendering;
  const { path, query } = here();
  main.setAttribute("aria-busy", "true");
  let page;
  try {
    if (!me && path !== "/login") {
      try {
        await whoAmI();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          go("/login");
          return;
        }
        throw err;
      }
    }
    const route = ROUTES.find(([pattern]) => pattern.test(path));
    page = route
      ? await route[1](path.match(route[0]), query)
      : { title: "Not found", view: "missing", node: [h("h1", {}, "No such page")] };
  } catch (err) {
    page = {
      title: "Error",
      view: "error",
      node: [h("h1", {}, "Something went wrong"), notice("bad", err.message)],
    };
  }
  if (ticket !== rendering) return; // a newer navigation won
  main.replaceChildren(...[page.node].flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
  main.dataset.view = page.view;
  main.dataset.hash = window.location.hash; // which navigation this page answers (tests wait on it)
  document.title = `${page.title} · App Previewer`;
  main.setAttribute("aria-busy", "false");
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

session.onUnauthorized = () => {
  me = null;
  who.replaceChildren();
  if (here().path !== "/login") go("/login");
};
window.addEventListener("hashchange", render);
render();
