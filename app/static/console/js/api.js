// The JSON API client: one fetch wrapper, the bearer token kept in sessionStorage (this tab
// only, gone when it closes), errors as ApiError with the 422 problems.

const BASE = "/api/v1";
const TOKEN_KEY = "console.token";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.detail;
    const problems = Array.isArray(detail) ? detail : [];
    const text =
      typeof detail === "string"
        ? detail
        : problems.map((p) => p.msg).join("; ") || `The service answered ${status}`;
    super(text);
    this.status = status;
    this.body = body;
    this.problems = problems;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized: () => {},
};

function headers(extra = {}) {
  const all = { ...extra };
  if (session.token) all.Authorization = `Bearer ${session.token}`;
  return all;
}

/** Call the API: api("GET", "/models/", {query: [["limit", 10]]}); JSON in, JSON out. */
export async function api(method, path, { body, query, form } = {}) {
  const url = new URL(BASE + path, window.location.origin);
  for (const [key, value] of query || []) url.searchParams.append(key, value);
  const init = { method, headers: headers(), credentials: "same-origin" };
  if (form) {
    init.body = new URLSearchParams(form);
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => null);
  if (response.status === 401 && !path.startsWith("/login/access-token")) {
    session.token = null;
    session.onUnauthorized();
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** The Prometheus text of /metrics, or null when this user may not read it. */
export async function metricsText() {
  const response = await fetch("/metrics", { headers: headers(), credentials: "same-origin" });
  return response.ok ? response.text() : null;
}

/** Sum the samples of one metric in Prometheus text (optionally those whose labels match). */
export function metricSum(text, name, match = () => true) {
  let total = 0;
  for (const line of (text || "").split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)/);
    if (!m || m[1] !== name || !match(m[3] || "")) continue;
    total += Number(m[4]);
  }
  return total;
}
