// API access for the dashboard: JSON requests with the session cookie (sent
// by the browser) and the CSRF header, and one shared Server-Sent Events
// stream for live updates.

/** ApiError is a failed API call: HTTP status plus the {code,message,details} body. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_" + status;
    this.details = body && body.details;
  }
  /** fieldErrors returns [{field,message}] when the error carries them. */
  fieldErrors() {
    if (Array.isArray(this.details)) return this.details.filter((d) => d && typeof d.message === "string");
    if (this.details && typeof this.details.message === "string") return [this.details];
    return [];
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

let onUnauthorized = () => {};
/** setUnauthorizedHandler sets what happens when the session is gone (401). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** api sends one request and returns the decoded JSON (or null for 204). */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = cookie("hil_csrf");
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data);
    if (resp.status === 401 && path !== "/api/v1/session") onUnauthorized(err);
    throw err;
  }
  return data;
}

// One EventSource per tab (browsers allow few connections per origin).
let source = null;
const listeners = new Map(); // type -> Set(fn)
const statusListeners = new Set();

function ensureSource() {
  if (source) return;
  source = new EventSource("/api/v1/events", { withCredentials: true });
  for (const type of ["trial", "search", "job", "device"]) {
    source.addEventListener(type, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      for (const fn of listeners.get(type) || []) fn(data);
    });
  }
  source.onopen = () => statusListeners.forEach((fn) => fn(true));
  source.onerror = () => statusListeners.forEach((fn) => fn(false));
}

/** on subscribes fn to live events of a type; it returns the unsubscribe function. */
export function on(type, fn) {
  ensureSource();
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

/** onStreamStatus reports whether the live stream is connected. */
export function onStreamStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

/** closeStream ends the live stream (sign-out). */
export function closeStream() {
  if (source) source.close();
  source = null;
}

/**
 * debounce calls fn once calls have paused for wait ms, but no later than
 * maxWait ms after the first call of a burst: a steady stream of live events
 * (a search dispatching a trial every few hundred ms) cannot postpone a
 * refresh forever.
 */
export function debounce(fn, wait, maxWait = 4 * wait) {
  let timer = 0;
  let first = 0;
  return (...args) => {
    const now = Date.now();
    if (!timer) first = now;
    clearTimeout(timer);
    const delay = Math.max(0, Math.min(wait, first + maxWait - now));
    timer = setTimeout(() => {
      timer = 0;
      fn(...args);
    }, delay);
  };
}
