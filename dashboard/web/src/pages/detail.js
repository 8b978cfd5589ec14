import { api, on, debounce } from "../api.js";
import { h, fill, badge, button, banner, fmtParams, fmtNum, fmtInt, layerStrip, mixerLegend, MIXERS, field } from "../ui.js";
import { progressBar, stateButtons, waitingNote } from "./searches.js";
import { chart, disposeChart } from "../charts.js";

function objLabel(o) {
  const dir = o.direction ? ` (${o.direction === "maximize" ? "max" : "min"})` : "";
  return o.at ? `${o.metric} @${o.at}${dir}` : `${o.metric}${dir}`;
}

const FORMAT_LABELS = { json: "JSON spec", hf: "HF config.json", gguf: "GGUF" };

/**
 * exportLinks are the download buttons of one trial. exports are the
 * API's export checks ([{format, exportable, reason}]); a format that
 * cannot express the trial gets a disabled button with the reason as its
 * tooltip (and as its accessible description).
 */
export function exportLinks(id, n, exports) {
  const base = `/api/v1/searches/${id}/export?trial=${n}&format=`;
  const checks = Object.fromEntries((exports || []).map((c) => [c.format, c]));
  return h(
    "span",
    { class: "exports" },
    ["json", "hf", "gguf"].map((f) => {
      const c = checks[f];
      if (c && !c.exportable) {
        const reason = `Cannot export as ${FORMAT_LABELS[f]}: ${c.reason}`;
        return h("span", { class: "export-disabled", title: reason }, h("button", { type: "button", class: "button", disabled: true, "data-format": f, "aria-label": `${FORMAT_LABELS[f]} (unavailable)`, title: reason, "data-reason": c.reason }, FORMAT_LABELS[f]));
      }
      return downloadLink(base + f, FORMAT_LABELS[f], { "data-format": f });
    }),
  );
}

/**
 * downloadLink is a download button for an API export: the file is
 * fetched with the session, and an API error (422 not exportable, 404, ...)
 * is shown in the page instead of being saved as a file.
 */
export function downloadLink(href, label, attrs) {
  const a = h("a", Object.assign({ class: "button", href, download: "" }, attrs || {}), label);
  a.addEventListener("click", async (ev) => {
    ev.preventDefault();
    try {
      const resp = await fetch(href, { credentials: "same-origin" });
      if (!resp.ok) {
        let msg = `HTTP ${resp.status}`;
        try {
          const body = await resp.json();
          if (body && body.message) msg = body.message + (typeof body.details === "string" ? `: ${body.details}` : "");
        } catch {
          // not JSON: keep the status
        }
        banner(`${label}: export failed: ${msg}`, "error");
        return;
      }
      const cd = resp.headers.get("Content-Disposition") || "";
      const m = /filename="([^"]+)"/.exec(cd);
      const url = URL.createObjectURL(await resp.blob());
      const tmp = h("a", { href: url, download: m ? m[1] : "" });
      document.body.appendChild(tmp);
      tmp.click();
      tmp.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      banner(`${label}: export failed: ${err.message}`, "error");
    }
  });
  return a;
}

/** searchDetailPage: Pareto scatter, hypervolume, trials table, live. */
export async function searchDetailPage(main, [id], onLeave) {
  let se = await api("GET", `/api/v1/searches/${id}`);
  const head = h("div", { class: "page-head" });
  const progress = h("div");
  let headState = null;
  function renderHead() {
    fill(progress, progressBar(se.progress), se.error ? h("p", { class: "banner banner-error" }, se.error) : null, waitingNote(se));
    // Rebuild the title and buttons only when the state changed, so a
    // button is not swapped under the pointer by a live update.
    if (headState === se.state) return;
    headState = se.state;
    fill(
      head,
      h("h1", {}, se.name, " ", badge(se.state)),
      h("div", { class: "actions" }, stateButtons(se, refreshHead), downloadLink(`/api/v1/searches/${id}/export?format=csv`, "All trials (CSV)", { id: "export-csv" })),
    );
  }
  let headSeq = 0;
  async function refreshHead() {
    const n = ++headSeq;
    const fresh = await api("GET", `/api/v1/searches/${id}`);
    if (n !== headSeq) return; // a newer refresh is under way
    se = fresh;
    renderHead();
  }

  // Pareto scatter.
  const xSel = h("select", { id: "axis-x" });
  const ySel = h("select", { id: "axis-y" });
  const paretoEl = h("div", { class: "chart", id: "pareto-chart", role: "img", "aria-label": "Pareto scatter" });
  const hvEl = h("div", { class: "chart small", id: "hv-chart", role: "img", "aria-label": "Hypervolume over trials" });
  const frontBox = h("div", { id: "front" });
  const refNote = h("span", { class: "muted", id: "reference-note" });
  let pareto = null;
  let refs = [];

  function drawPareto() {
    if (!pareto) return;
    const xi = Number(xSel.value);
    const yi = Number(ySel.value);
    const pt = (p) => ({ value: [p.values[xi], p.values[yi]], trial: p.trial, params: p.params, layers: p.layers });
    const front = pareto.points.filter((p) => p.front);
    const feas = pareto.points.filter((p) => p.feasible && !p.front);
    const infeas = pareto.points.filter((p) => !p.feasible);
    const ox = pareto.objectives[xi];
    const oy = pareto.objectives[yi];
    const refData = refs.filter((r) => r.measured).map((r) => ({ value: [r.values[xi], r.values[yi]], preset: r.preset, params: r.params }));
    const c = chart(paretoEl);
    c.setOption(
      {
        animation: false,
        legend: { top: 0 },
        grid: { left: 64, right: 24, top: 60, bottom: 48, containLabel: true },
        tooltip: {
          trigger: "item",
          formatter: (p) => `${p.data.preset ? p.data.preset + " (reference)" : "trial " + p.data.trial}<br>${objLabel(ox)}: ${fmtNum(p.data.value[0])}<br>${objLabel(oy)}: ${fmtNum(p.data.value[1])}<br>${fmtParams(p.data.params)} params`,
        },
        xAxis: { type: "value", name: objLabel(ox), nameLocation: "middle", nameGap: 28, scale: true },
        yAxis: { type: "value", name: objLabel(oy), nameLocation: "end", scale: true },
        dataZoom: [{ type: "inside", xAxisIndex: 0 }, { type: "inside", yAxisIndex: 0 }],
        series: [
          { name: "infeasible", type: "scatter", symbol: "triangle", symbolSize: 7, itemStyle: { color: "#b0b0b0" }, data: infeas.map(pt), large: infeas.length > 2000 },
          { name: "feasible", type: "scatter", symbolSize: 7, itemStyle: { color: "#5b8def" }, data: feas.map(pt), large: feas.length > 2000 },
          { name: "Pareto front", type: "scatter", symbolSize: 12, itemStyle: { color: "#d62828", borderColor: "#000", borderWidth: 1 }, data: front.map(pt), z: 3 },
          { name: "LFM2 references", type: "scatter", symbol: "diamond", symbolSize: 14, itemStyle: { color: "#2a9d8f", borderColor: "#000", borderWidth: 1 }, label: { show: true, position: "right", formatter: (p) => p.data.preset }, data: refData, z: 4 },
        ],
      },
      { notMerge: true },
    );
    c.off("click");
    c.on("click", (p) => {
      if (p.data && p.data.trial !== undefined) location.hash = `#/searches/${id}/trials/${p.data.trial}`;
    });
    paretoEl.dataset.points = String(pareto.points.length);
    paretoEl.dataset.front = String(front.length);
    paretoEl.dataset.references = String(refData.length);
    refNote.textContent = refs.length
      ? `LFM2 references measured: ${refData.length} of ${refs.length}` + (refs.some((r) => !r.measured) ? ` (missing: ${refs.filter((r) => !r.measured).map((r) => r.preset).join(", ")})` : "")
      : "";
    paretoEl.setAttribute("aria-label", `Pareto scatter: ${pareto.points.length} trials, ${front.length} on the front; ${objLabel(ox)} against ${objLabel(oy)}`);

    // The front as a list with layer strips and exports.
    const rows = front
      .slice()
      .sort((a, b) => a.values[xi] - b.values[xi])
      .map((p) =>
        h(
          "tr",
          { "data-trial": p.trial },
          h("td", { "data-label": "Trial" }, h("a", { href: `#/searches/${id}/trials/${p.trial}` }, `#${p.trial}`)),
          h("td", { "data-label": "Params" }, fmtParams(p.params)),
          h("td", { "data-label": "Layers" }, layerStrip(p.layers)),
          pareto.objectives.map((o, i) => h("td", { "data-label": objLabel(o) }, fmtNum(p.values[i]))),
          h("td", { "data-label": "Export" }, exportLinks(id, p.trial, p.exports)),
        ),
      );
    fill(
      frontBox,
      h("h2", {}, `Pareto front (${front.length})`),
      front.length
        ? h(
            "div",
            { class: "table-wrap" },
            h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Trial"), h("th", { scope: "col" }, "Params"), h("th", { scope: "col" }, "Layers"), pareto.objectives.map((o) => h("th", { scope: "col" }, objLabel(o))), h("th", { scope: "col" }, "Export"))), h("tbody", {}, rows)),
          )
        : h("p", { class: "muted" }, "No complete trial yet."),
    );
  }

  async function loadPareto() {
    pareto = await api("GET", `/api/v1/searches/${id}/pareto`);
    refs = (await api("GET", `/api/v1/searches/${id}/references`)).references;
    if (!xSel.options.length) {
      pareto.objectives.forEach((o, i) => {
        xSel.appendChild(h("option", { value: i }, objLabel(o)));
        ySel.appendChild(h("option", { value: i }, objLabel(o)));
      });
      xSel.value = "0";
      ySel.value = pareto.objectives.length > 1 ? "1" : "0";
    }
    drawPareto();
  }
  xSel.addEventListener("change", drawPareto);
  ySel.addEventListener("change", drawPareto);

  async function loadHV() {
    const hv = await api("GET", `/api/v1/searches/${id}/hypervolume`);
    const c = chart(hvEl);
    c.setOption(
      {
        animation: false,
        grid: { left: 64, right: 24, top: 24, bottom: 40, containLabel: true },
        tooltip: { trigger: "axis" },
        xAxis: { type: "value", name: "complete trials", nameLocation: "middle", nameGap: 26, minInterval: 1 },
        yAxis: { type: "value", name: "hypervolume", scale: true },
        series: [{ type: "line", step: "end", showSymbol: false, data: hv.history.map((p) => [p.complete, p.hypervolume]) }],
      },
      { notMerge: true },
    );
    hvEl.dataset.points = String(hv.history.length);
  }

  // Trials table, paginated and sorted by the server.
  const q = { sort: "-number", state: "", mixer: "", limit: 25, offset: 0 };
  const stateSel = h("select", { id: "filter-state" }, [["", "any"], ["running", "running"], ["complete", "complete"], ["failed", "failed"]].map(([v, l]) => h("option", { value: v }, l)));
  const mixerSel = h("select", { id: "filter-mixer" }, h("option", { value: "" }, "any"), MIXERS.map(([k]) => h("option", { value: k }, k)));
  const limitSel = h("select", { id: "page-size" }, [25, 50, 100].map((n) => h("option", { value: n }, n)));
  const trialsBox = h("div", { id: "trials" });
  const pager = h("div", { class: "pager" });

  function sortHeader(label, key) {
    const active = q.sort === key || q.sort === "-" + key;
    const desc = q.sort === "-" + key;
    return h(
      "th",
      { scope: "col", "aria-sort": active ? (desc ? "descending" : "ascending") : "none" },
      button(label + (active ? (desc ? " ▼" : " ▲") : ""), () => {
        q.sort = q.sort === key ? "-" + key : key;
        q.offset = 0;
        loadTrials();
      }, { class: "link sort", "data-sort": key }),
    );
  }

  async function loadTrials() {
    const params = new URLSearchParams({ sort: q.sort, limit: q.limit, offset: q.offset });
    if (q.state) params.set("state", q.state);
    if (q.mixer) params.set("mixer", q.mixer);
    const res = await api("GET", `/api/v1/searches/${id}/trials?${params}`);
    const objs = pareto ? pareto.objectives : [];
    const rows = res.trials.map((t) =>
      h(
        "tr",
        { "data-trial": t.number },
        h("td", { "data-label": "Trial" }, h("a", { href: `#/searches/${id}/trials/${t.number}` }, `#${t.number}`)),
        h("td", { "data-label": "State" }, badge(t.state)),
        h("td", { "data-label": "Params" }, fmtParams(t.params)),
        h("td", { "data-label": "Layers" }, layerStrip(t.layers)),
        objs.map((o, i) => h("td", { "data-label": objLabel(o) }, t.objectives ? fmtNum(t.objectives[i]) : "—")),
        h("td", { "data-label": "Feasible" }, t.violation === undefined ? "—" : t.violation === 0 ? "yes" : `no (${fmtNum(t.violation)})`),
      ),
    );
    fill(
      trialsBox,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "trials" },
          h("caption", { class: "sr-only" }, "Trials"),
          h("thead", {}, h("tr", {}, sortHeader("Trial", "number"), h("th", { scope: "col" }, "State"), sortHeader("Params", "params"), h("th", { scope: "col" }, "Layers"), objs.map((o, i) => sortHeader(objLabel(o), `objective:${i}`)), h("th", { scope: "col" }, "Feasible"))),
          h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5 + objs.length }, "No trial matches."))),
        ),
      ),
    );
    const from = res.total ? q.offset + 1 : 0;
    const to = Math.min(res.total, q.offset + res.trials.length);
    fill(
      pager,
      button("Previous", () => {
        q.offset = Math.max(0, q.offset - q.limit);
        loadTrials();
      }, { disabled: q.offset === 0 }),
      h("span", { id: "trial-count" }, `${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(res.total)}`),
      button("Next", () => {
        q.offset += q.limit;
        loadTrials();
      }, { disabled: q.offset + q.limit >= res.total }),
    );
    trialsBox.dataset.total = String(res.total);
  }
  stateSel.addEventListener("change", () => ((q.state = stateSel.value), (q.offset = 0), loadTrials()));
  mixerSel.addEventListener("change", () => ((q.mixer = mixerSel.value), (q.offset = 0), loadTrials()));
  limitSel.addEventListener("change", () => ((q.limit = Number(limitSel.value)), (q.offset = 0), loadTrials()));

  main.append(
    head,
    progress,
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Pareto scatter"),
      h("div", { class: "toolbar" }, field("X axis", xSel), field("Y axis", ySel)),
      paretoEl,
      h("p", { class: "hint" }, "Red: the constrained Pareto front over all objectives; grey triangles: infeasible; green diamonds: the released LFM2 models measured with this search's workload. Click a point for its trial. Scroll to zoom."),
      h(
        "div",
        { class: "toolbar" },
        button("Measure LFM2 references", async () => {
          try {
            const res = await api("POST", `/api/v1/searches/${id}/references`);
            banner(res.queued_jobs ? `Queued ${res.queued_jobs} reference measurements.` : "Every LFM2 reference is measured or queued already.", "info");
          } catch (err) {
            banner(err.message, "error");
          }
        }, { id: "measure-references" }),
        refNote,
      ),
    ),
    h("section", { class: "card" }, h("h2", {}, "Hypervolume over trials"), hvEl),
    h("section", { class: "card" }, frontBox, mixerLegend()),
    h("section", { class: "card" }, h("h2", {}, "Trials"), h("div", { class: "toolbar" }, field("State", stateSel), field("Layer type", mixerSel), field("Per page", limitSel)), trialsBox, pager),
  );
  renderHead();
  await loadPareto();
  await Promise.all([loadHV(), loadTrials()]);

  const refresh = debounce(async () => {
    try {
      await refreshHead();
      await loadPareto();
      await Promise.all([loadHV(), loadTrials()]);
    } catch (err) {
      banner(err.message, "error");
    }
  }, 700);
  onLeave(on("trial", (ev) => ev.search_id === id && refresh()));
  onLeave(on("search", (ev) => ev.id === id && refresh()));
  // A device coming online ends a wait for one.
  const headSoon = debounce(() => refreshHead().catch((err) => banner(err.message, "error")), 700);
  onLeave(on("device", () => (se.waiting_for || []).length && headSoon()));
  onLeave(on("job", () => refs.some((r) => !r.measured) && refresh()));
  onLeave(() => {
    disposeChart(paretoEl);
    disposeChart(hvEl);
  });
}
