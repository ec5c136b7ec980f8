// The REST API, as the pages use it: session cookie plus the CSRF token header.

export function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export class ApiError extends Error {
  constructor(status, data) {
    super(data?.detail || `The server answered ${status}.`);
    this.status = status;
    this.data = data;
  }
}

/** fetch with JSON in and out; {status, data}. Throws ApiError for 4xx/5xx and TypeError
 * (from fetch) when the network is down. */
export async function request(method, url, body, { keepalive = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    keepalive,
    signal,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

export const get = (url) => request("GET", url).then((response) => response.data);
export const post = (url, body) => request("POST", url, body);
export const patch = (url, body) => request("PATCH", url, body).then((response) => response.data);

/** Every row of a paginated list ({count, next, previous, results}), page by page. */
export async function getAll(url) {
  const rows = [];
  for (let next = url; next; ) {
    const page = await get(next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}

/** A key for one answer, the same on every retry. crypto.randomUUID needs a secure
 * context (https or localhost); getRandomValues works everywhere. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
