import { api, on, debounce } from "../api.js";
import { h, fill, badge, button, banner, fmtTime, field } from "../ui.js";

/** progressBar shows complete/failed/running of max_trials. */
export function progressBar(p) {
  const max = Math.max(1, p.max_trials || 1);
  const pct = (n) => `${Math.min(100, (100 * n) / max)}%`;
  const bar = h("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": p.max_trials, "aria-valuenow": p.complete, "aria-label": "trials complete" });
  for (const [cls, n] of [["complete", p.complete], ["failed", p.failed], ["running", p.running]]) {
    const seg = h("span", { class: `seg seg-${cls}` });
    seg.style.width = pct(n || 0);
    bar.appendChild(seg);
  }
  return h(
    "div",
    { class: "progress-wrap" },
    bar,
    h("span", { class: "progress-text" }, `${p.complete}/${p.max_trials} complete · ${p.running} running · ${p.failed} failed · ${p.rejected} rejected${p.screened ? ` · ${p.screened} screened out by the predictor` : ""}${p.remeasured ? ` · ${p.remeasured} re-measured` : ""}`),
  );
}

/** waitingNote says which targets a running search waits for (no online
 * device matches them), or is null. */
export function waitingNote(se, tag = "p") {
  const ts = se.waiting_for || [];
  if (!ts.length) return null;
  return h(tag, { class: "banner banner-warn waiting", role: "status" }, ts.map((t) => `waiting for a device of target ${t}`).join("; "));
}

/** stateButtons are pause/resume/cancel for a search in state. */
export function stateButtons(se, after) {
  const act = (verb) => async () => {
    try {
      await api("POST", `/api/v1/searches/${se.id}/${verb}`);
      if (after) after();
    } catch (err) {
      banner(err.message, "error");
    }
  };
  const out = [];
  if (se.state === "running") out.push(button("Pause", act("pause"), { "aria-label": `Pause ${se.name}` }));
  if (se.state === "paused") out.push(button("Resume", act("resume"), { "aria-label": `Resume ${se.name}` }));
  if (se.state === "running" || se.state === "paused") out.push(button("Cancel", act("cancel"), { class: "danger", "aria-label": `Cancel ${se.name}` }));
  return out;
}

/** searchesPage lists searches with live state and progress. */
export async function searchesPage(main, _params, onLeave) {
  const tbody = h("tbody");
  const rows = new Map();
  function row(se) {
    return h(
      "tr",
      { "data-search": se.id, "data-state": se.state },
      h("td", { "data-label": "Name" }, h("a", { href: `#/searches/${se.id}` }, se.name), h("br"), h("code", { class: "muted" }, se.id)),
      h("td", { "data-label": "Runtime", class: "runtime" }, (se.spec && se.spec.workload && se.spec.workload.runtime) || "native"),
      h("td", { "data-label": "State" }, badge(se.state), se.error ? h("p", { class: "muted" }, se.error) : null, waitingNote(se)),
      h("td", { "data-label": "Progress" }, progressBar(se.progress)),
      h("td", { "data-label": "Created" }, fmtTime(se.created_at)),
      h("td", { "data-label": "Actions", class: "actions" }, stateButtons(se, () => refresh(se.id))),
    );
  }
  // The runtime filter is the API's (?runtime=), kept in the page's URL.
  const runtimeSel = h("select", { id: "filter-runtime" }, [["", "any"], ["native", "native"], ["llama.cpp", "llama.cpp"]].map(([v, l]) => h("option", { value: v }, l)));
  runtimeSel.value = new URLSearchParams(location.hash.split("?")[1] || "").get("runtime") || "";
  let loadSeq = 0;
  async function load() {
    const n = ++loadSeq;
    const rt = runtimeSel.value;
    const { searches } = await api("GET", "/api/v1/searches" + (rt ? `?runtime=${encodeURIComponent(rt)}` : ""));
    if (n !== loadSeq) return; // a newer load is under way
    rows.clear();
    fill(tbody);
    tbody.dataset.runtime = rt;
    if (!searches.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 6 }, rt ? `No search on runtime ${rt}.` : "No search yet.")));
    for (const se of searches) {
      const tr = row(se);
      rows.set(se.id, tr);
      tbody.appendChild(tr);
    }
  }
  const pending = new Set();
  // latest[id] numbers the requests per search: flushes may overlap, and a
  // slower, older answer must not overwrite a newer one (a stale "paused"
  // row replacing the "running" one after Resume).
  const latest = new Map();
  const flush = debounce(async () => {
    const ids = [...pending];
    pending.clear();
    for (const id of ids) {
      try {
        const n = (latest.get(id) || 0) + 1;
        latest.set(id, n);
        const se = await api("GET", `/api/v1/searches/${id}`);
        if (latest.get(id) !== n) continue;
        if (runtimeSel.value && ((se.spec && se.spec.workload && se.spec.workload.runtime) || "native") !== runtimeSel.value) continue; // filtered out
        const old = rows.get(id);
        if (!old) {
          await load();
          continue;
        }
        const tr = row(se);
        if (old.dataset.state === se.state) {
          // Same state: refresh the cells in place, so a button the user is
          // about to press is not swapped under the pointer.
          const fresh = [...tr.cells];
          for (let i = 0; i < 5; i++) old.cells[i].replaceWith(fresh[i]);
        } else {
          rows.set(id, tr);
          old.replaceWith(tr);
        }
      } catch (err) {
        banner(err.message, "error");
      }
    }
  }, 400);
  function refresh(id) {
    pending.add(id);
    flush();
  }
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Searches"), h("a", { href: "#/searches/new", class: "button primary" }, "New search")),
    h("div", { class: "toolbar" }, field("Runtime", runtimeSel)),
    h(
      "div",
      { class: "table-wrap" },
      h("table", {}, h("caption", { class: "sr-only" }, "Searches"), h("thead", {}, h("tr", {}, ["Name", "Runtime", "State", "Progress", "Created", "Actions"].map((t) => h("th", { scope: "col" }, t)))), tbody),
    ),
  );
  runtimeSel.addEventListener("change", () => {
    // Keep the filter in the URL without a new history entry or a re-route.
    history.replaceState(null, "", "#/searches" + (runtimeSel.value ? `?runtime=${encodeURIComponent(runtimeSel.value)}` : ""));
    load().catch((err) => banner(err.message, "error"));
  });
  await load();
  onLeave(on("search", (ev) => refresh(ev.id)));
  // A device coming online ends a wait: re-read the waiting searches.
  onLeave(on("device", () => rows.forEach((tr, id) => tr.querySelector(".waiting") && refresh(id))));
  onLeave(on("trial", (ev) => refresh(ev.search_id)));
}
