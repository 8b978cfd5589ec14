// The hilsearch dashboard: a small single-page app with hash routes,
// served by the coordinator (dashboard package) and talking to /api/v1
// with a cookie session. Live updates come from one SSE stream.
import { api, setUnauthorizedHandler, closeStream, onStreamStatus } from "./api.js";
import { h, fill } from "./ui.js";
import { signInPage } from "./pages/signin.js";
import { devicesPage } from "./pages/devices.js";
import { searchesPage } from "./pages/searches.js";
import { newSearchPage } from "./pages/newsearch.js";
import { searchDetailPage } from "./pages/detail.js";
import { trialPage } from "./pages/trial.js";
import { tokensPage } from "./pages/tokens.js";

const routes = [
  [/^#\/signin$/, signInPage, "Sign in"],
  [/^#\/devices$/, devicesPage, "Devices"],
  [/^#\/searches(?:\?[\w.=&%-]*)?$/, searchesPage, "Searches"],
  [/^#\/searches\/new$/, newSearchPage, "New search"],
  [/^#\/searches\/([\w-]+)$/, searchDetailPage, "Search"],
  [/^#\/searches\/([\w-]+)\/trials\/(\d+)$/, trialPage, "Trial"],
  [/^#\/tokens$/, tokensPage, "API tokens"],
];

let session = null; // {name, scope, expires_at, csrf_token}
let cleanup = [];

/** signedIn records the session after sign-in. */
export function signedIn(s) {
  session = s;
  renderNav();
}

function renderNav() {
  const nav = document.getElementById("nav");
  if (!session) {
    fill(nav);
    return;
  }
  const here = location.hash;
  const link = (href, label) => h("a", { href, "aria-current": here.startsWith(href) ? "page" : null }, label);
  fill(
    nav,
    link("#/devices", "Devices"),
    link("#/searches", "Searches"),
    session.scope === "admin" ? link("#/tokens", "Tokens") : null,
    h("span", { class: "who", title: `scope ${session.scope}` }, session.name),
    h("span", { id: "live", class: "live", title: "live updates on", role: "img", "aria-label": "live updates" }, "●"),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  closeStream();
  try {
    await api("DELETE", "/api/v1/session");
  } finally {
    session = null;
    renderNav();
    location.hash = "#/signin";
  }
}

async function route() {
  for (const fn of cleanup) fn();
  cleanup = [];
  let hash = location.hash || "#/devices";
  if (!session && hash !== "#/signin") {
    try {
      session = await api("GET", "/api/v1/session");
    } catch {
      location.hash = "#/signin";
      return;
    }
  }
  if (hash === "#/" || hash === "#") hash = "#/devices";
  const main = document.getElementById("app");
  delete main.dataset.route;
  renderNav();
  for (const [re, page, title] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    document.title = `${title} · hilsearch`;
    main.setAttribute("aria-busy", "true");
    fill(main);
    try {
      await page(main, m.slice(1), (fn) => cleanup.push(fn));
    } catch (err) {
      fill(main, h("h1", {}, title), h("p", { class: "banner banner-error", role: "alert" }, err.message));
    }
    main.removeAttribute("aria-busy");
    main.dataset.route = hash; // rendered: tests and tools wait for this
    main.focus({ preventScroll: true });
    return;
  }
  location.hash = "#/devices";
}

setUnauthorizedHandler(() => {
  session = null;
  closeStream();
  if (location.hash !== "#/signin") location.hash = "#/signin";
});
// After the live stream was down, events may have been missed: render the
// page again from the API (not the form, which would lose what was typed).
let streamWasDown = false;
onStreamStatus((up) => {
  const el = document.getElementById("live");
  if (el) {
    el.classList.toggle("down", !up);
    el.title = up ? "live updates on" : "live updates reconnecting";
  }
  if (!up) streamWasDown = true;
  else if (streamWasDown) {
    streamWasDown = false;
    if (session && !/^#\/(signin|searches\/new)$/.test(location.hash)) route();
  }
});
window.addEventListener("hashchange", route);
route();
