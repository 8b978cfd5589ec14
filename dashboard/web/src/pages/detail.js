import { api, on, debounce } from "../api.js";
import { h, fill, badge, button, banner, fmtParams, fmtNum, fmtInt, fmtSeconds, layerStrip, mixerLegend, MIXERS, field } from "../ui.js";
import { progressBar, stateButtons, waitingNote } from "./searches.js";
import { chart, disposeChart } from "../charts.js";
import { crossCheckCard } from "./crosscheck.js";

// METRICS names each metric, its unit and what its "at" is.
const METRICS = {
  prefill_tps: ["prefill speed", "tokens/s", "prompt"],
  ttft_ms: ["time to first token", "ms", "prompt"],
  decode_ms_p50: ["decode latency p50", "ms/token", "depth"],
  decode_ms_p95: ["decode latency p95", "ms/token", "depth"],
  peak_rss_mb: ["peak memory (RSS)", "MiB", "context"],
  prefill_energy_mj_per_token: ["prefill energy", "mJ/token", "prompt"],
  decode_energy_mj_per_token: ["decode energy", "mJ/token", "depth"],
  params: ["parameters", "count", ""],
};

/** objParts splits an objective into name, target, context, unit and direction. */
export function objParts(o) {
  const [m, target] = o.metric.split("@");
  const [name, unit, atKind] = METRICS[m] || [m, "", ""];
  return { name, target: target || "", at: atKind ? `${atKind} ${o.at || 0}` : "", unit, dir: o.direction === "maximize" ? "maximise" : "minimise" };
}

/** objLabel is "decode latency p50 on phone, depth 512 (ms/token, minimise)". */
export function objLabel(o) {
  const p = objParts(o);
  return `${p.name}${p.target ? " on " + p.target : ""}${p.at ? ", " + p.at : ""} (${p.unit}, ${p.dir})`;
}

/** objHead is objLabel on two lines, for table headers. */
function objHead(o) {
  const p = objParts(o);
  return [`${p.name}${p.target ? " on " + p.target : ""}${p.at ? ", " + p.at : ""}`, h("br"), h("span", { class: "unit" }, `${p.unit}, ${p.dir}`)];
}

// logWorthy reports whether values span more than 10× and are all positive
// (so a log axis can show them); canLog whether they are all positive.
function span(vals) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vals) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}
function canLog(vals) {
  return vals.length > 0 && span(vals)[0] > 0;
}
function logWorthy(vals) {
  const [lo, hi] = span(vals);
  return lo > 0 && hi / lo > 10;
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
    const url = a.getAttribute("href");
    try {
      const resp = await fetch(url, { credentials: "same-origin" });
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
      const blob = URL.createObjectURL(await resp.blob());
      const tmp = h("a", { href: blob, download: m ? m[1] : "" });
      document.body.appendChild(tmp);
      tmp.click();
      tmp.remove();
      setTimeout(() => URL.revokeObjectURL(blob), 10000);
    } catch (err) {
      banner(`${label}: export failed: ${err.message}`, "error");
    }
  });
  return a;
}

/** runtimeOf is the runtime a search's workload names. */
export function runtimeOf(se) {
  return (se.spec && se.spec.workload && se.spec.workload.runtime) || "native";
}

/** guardNote shows the search's fidelity guard (spec "guard"), or null. */
function guardNote(se) {
  const g = se.guard;
  if (!g) return null;
  const rho = (g.metrics || []).map((m) => `${m.metric} ${m.spearman === null || m.spearman === undefined ? "—" : m.spearman.toFixed(2)}`).join(", ");
  if (!g.done) return h("p", { id: "guard", class: "banner banner-warn", role: "status", "data-done": "false" }, `Fidelity guard: the LFM2 presets are being timed on both runtimes of ${g.device_id} (cross-check ${g.check_id}); the search starts its trials when that ends.`);
  if (g.warning) return h("p", { id: "guard", class: "banner banner-warn", role: "status", "data-done": "true" }, `Fidelity guard (Spearman below ${g.min_spearman}): ${g.warning}.`);
  return h("p", { id: "guard", class: "muted", "data-done": "true" }, `Fidelity guard passed on ${g.device_id}: Spearman rank correlation of native and llama.cpp over the LFM2 presets ${rho} (threshold ${g.min_spearman}).`);
}

/** savingsNote shows how many candidates screening kept off the devices
 * and the device time that saved (an estimate), or null. */
function savingsNote(se) {
  const v = se.savings;
  if (!v || !v.screened) return null;
  const est = v.measured_trials
    ? `: about ${fmtSeconds(v.saved_seconds)} of device time saved (${v.screened} × ${fmtSeconds(v.mean_trial_seconds)}, the mean device time of ${v.measured_trials} measured trials; an estimate)`
    : "";
  return h("p", { id: "screening-savings", class: "muted", "data-screened": v.screened, "data-saved-seconds": v.saved_seconds }, `${v.screened} candidates screened out by the predictor${est}.`);
}

/** noiseZ is the interval half-width (standard deviations) of the search's
 * noise-aware front: the spec's remeasure.z, 2 by default. */
function noiseZ(se) {
  return (se.spec && se.spec.remeasure && se.spec.remeasure.z) || 2;
}

/** withStd is a value with its standard deviation ("4.18 ± 0.97"). */
function withStd(v, sd) {
  return sd > 0 ? `${fmtNum(v)} ± ${fmtNum(sd)}` : fmtNum(v);
}

/** searchDetailPage: Pareto scatter, hypervolume, trials table, live. */
export async function searchDetailPage(main, [id], onLeave) {
  let se = await api("GET", `/api/v1/searches/${id}`);
  const head = h("div", { class: "page-head" });
  const progress = h("div");
  let headState = null;
  function renderHead() {
    fill(progress, progressBar(se.progress), se.error ? h("p", { class: "banner banner-error" }, se.error) : null, waitingNote(se), guardNote(se), savingsNote(se));
    // Rebuild the title and buttons only when the state changed, so a
    // button is not swapped under the pointer by a live update.
    if (headState === se.state) return;
    headState = se.state;
    fill(
      head,
      h("h1", {}, se.name, " ", badge(se.state)),
      h("p", { id: "search-runtime", class: "muted" }, `Runtime: ${runtimeOf(se)}`),
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
  const logX = h("input", { type: "checkbox", id: "log-x" });
  const logY = h("input", { type: "checkbox", id: "log-y" });
  // logChoice holds the user's log-scale choice per axis; null follows the
  // data (log when the values span more than 10×). Changing the axis's
  // objective resets it.
  const logChoice = { x: null, y: null };
  const paretoEl = h("div", { class: "chart", id: "pareto-chart", role: "img", "aria-label": "Pareto scatter" });
  const parallelEl = h("div", { class: "chart", id: "parallel-chart", role: "img", "aria-label": "Parallel coordinates" });
  const parallelCard = h("section", { class: "card", hidden: true }, h("h2", {}, "All objectives (parallel coordinates)"), parallelEl, h("p", { class: "hint" }, "One line per complete trial, one axis per objective (log axes where the values span more than 10×). Red: the Pareto front; thick orange: the recommended point; grey: the rest."));
  const hvEl = h("div", { class: "chart small", id: "hv-chart", role: "img", "aria-label": "Hypervolume over trials" });
  const hvNote = h("p", { class: "hint", id: "hv-note" });
  const frontBox = h("div", { id: "front" });
  const refNote = h("span", { class: "muted", id: "reference-note" });
  let pareto = null;
  let refs = [];

  // axisSetup returns the ECharts axis of objective i and sets its toggle.
  function axisSetup(i, which, box) {
    const vals = pareto.points.map((p) => p.values[i]);
    for (const r of refs) if (r.measured) vals.push(r.values[i]);
    const ok = canLog(vals);
    box.disabled = !ok;
    box.title = ok ? "" : "some values are zero or negative";
    const log = ok && (logChoice[which] ?? logWorthy(vals));
    box.checked = log;
    paretoEl.dataset["log" + which.toUpperCase()] = String(log);
    const name = objLabel(pareto.objectives[i]) + (log ? ", log scale" : "");
    return log ? { type: "log", logBase: 10, name } : { type: "value", scale: true, name };
  }

  function drawPareto() {
    if (!pareto) return;
    const xi = Number(xSel.value);
    const yi = Number(ySel.value);
    const pt = (p) => ({ value: [p.values[xi], p.values[yi]], trial: p.trial, params: p.params, layers: p.layers, std: p.std ? [p.std[xi], p.std[yi]] : null, remeasured: p.remeasured });
    const front = pareto.points.filter((p) => p.front);
    const feas = pareto.points.filter((p) => p.feasible && !p.front);
    const infeas = pareto.points.filter((p) => !p.feasible);
    const rec = pareto.points.filter((p) => p.recommended);
    const ox = pareto.objectives[xi];
    const oy = pareto.objectives[yi];
    const refPt = (r) => ({ value: [r.values[xi], r.values[yi]], preset: r.preset, params: r.params, feasible: !!r.feasible, violation: r.violation || 0 });
    const refOK = refs.filter((r) => r.measured && r.feasible).map(refPt);
    const refBad = refs.filter((r) => r.measured && !r.feasible).map(refPt);
    const xAxis = axisSetup(xi, "x", logX);
    const yAxis = axisSetup(yi, "y", logY);
    // Error bars: ± z standard deviations of the measurement, the
    // interval the noise-aware front compares (clipped above zero on a
    // log axis).
    const z = noiseZ(se);
    const sdOf = (p, i) => (p.std && p.std[i] > 0 ? p.std[i] : 0);
    const bars = pareto.points.filter((p) => sdOf(p, xi) > 0 || sdOf(p, yi) > 0).map((p) => ({ value: [p.values[xi], p.values[yi], z * sdOf(p, xi), z * sdOf(p, yi)], trial: p.trial }));
    const lo = (v, d, log) => (log && v - d <= 0 ? v / 100 : v - d);
    const renderBar = (_params, a) => {
      const [x, y, dx, dy] = [a.value(0), a.value(1), a.value(2), a.value(3)];
      const style = { stroke: "#444", lineWidth: 1 };
      const line = (p, q) => ({ type: "line", shape: { x1: p[0], y1: p[1], x2: q[0], y2: q[1] }, style });
      const kids = [];
      if (dx > 0) {
        const p = a.coord([lo(x, dx, xAxis.type === "log"), y]);
        const q = a.coord([x + dx, y]);
        kids.push(line(p, q), line([p[0], p[1] - 3], [p[0], p[1] + 3]), line([q[0], q[1] - 3], [q[0], q[1] + 3]));
      }
      if (dy > 0) {
        const p = a.coord([x, lo(y, dy, yAxis.type === "log")]);
        const q = a.coord([x, y + dy]);
        kids.push(line(p, q), line([p[0] - 3, p[1]], [p[0] + 3, p[1]]), line([q[0] - 3, q[1]], [q[0] + 3, q[1]]));
      }
      return { type: "group", children: kids };
    };
    const c = chart(paretoEl);
    c.setOption(
      {
        animation: false,
        legend: { top: 0 },
        // The legend wraps onto three lines on a phone.
        grid: { left: 72, right: 32, top: paretoEl.clientWidth < 600 ? 110 : 64, bottom: 52, containLabel: true },
        tooltip: {
          trigger: "item",
          formatter: (p) => {
            const d = p.data;
            const who = d.preset ? `${d.preset} (LFM2 reference${d.feasible ? "" : `, breaks a constraint: violation ${fmtNum(d.violation)}`})` : `trial ${d.trial}${p.seriesName.startsWith("Recommended") ? " (recommended)" : ""}`;
            if (p.seriesType === "custom") return `trial ${d.trial}: ± ${z} standard deviations of the measurement`;
            const sd = d.std || [];
            return `${who}<br>${objLabel(ox)}: ${withStd(d.value[0], sd[0])}<br>${objLabel(oy)}: ${withStd(d.value[1], sd[1])}<br>${fmtParams(d.params)} params` + (d.remeasured ? `<br>re-measured ${d.remeasured}×, pooled` : "");
          },
        },
        xAxis: Object.assign(xAxis, { nameLocation: "middle", nameGap: 30 }),
        yAxis: Object.assign(yAxis, { nameLocation: "middle", nameGap: 56, nameRotate: 90 }),
        dataZoom: [{ type: "inside", xAxisIndex: 0 }, { type: "inside", yAxisIndex: 0 }],
        series: [
          { name: `± ${z} σ (measurement spread)`, type: "custom", renderItem: renderBar, data: bars, encode: { x: 0, y: 1 }, z: 1, itemStyle: { color: "#444" } },
          { name: "infeasible", type: "scatter", symbol: "triangle", symbolSize: 7, itemStyle: { color: "#b0b0b0" }, data: infeas.map(pt), large: infeas.length > 2000 },
          { name: "feasible", type: "scatter", symbolSize: 7, itemStyle: { color: "#5b8def" }, data: feas.map(pt), large: feas.length > 2000 },
          { name: "Pareto front", type: "scatter", symbolSize: 12, itemStyle: { color: "#d62828", borderColor: "#000", borderWidth: 1 }, data: front.map(pt), z: 3 },
          { name: "Recommended (knee)", type: "scatter", symbol: "pin", symbolSize: 36, symbolOffset: [0, "-45%"], itemStyle: { color: "#f4a000", borderColor: "#000", borderWidth: 1 }, data: rec.map(pt), z: 5 },
          { name: "LFM2 references", type: "scatter", symbol: "diamond", symbolSize: 14, itemStyle: { color: "#2a9d8f", borderColor: "#000", borderWidth: 1 }, label: { show: true, position: "right", formatter: (p) => p.data.preset }, data: refOK, z: 4 },
          { name: "LFM2 references breaking a constraint", type: "scatter", symbol: "diamond", symbolSize: 14, itemStyle: { color: "#ffffff", borderColor: "#7a7a7a", borderWidth: 2, borderType: "dashed" }, label: { show: true, position: "right", color: "#7a7a7a", formatter: (p) => `${p.data.preset} (infeasible)` }, data: refBad, z: 4 },
        ],
      },
      { notMerge: true },
    );
    c.off("click");
    c.on("click", (p) => {
      if (p.data && p.data.trial !== undefined) location.hash = `#/searches/${id}/trials/${p.data.trial}`;
    });
    paretoEl.dataset.points = String(pareto.points.length);
    paretoEl.dataset.errorBars = String(bars.length);
    paretoEl.dataset.front = String(front.length);
    paretoEl.dataset.references = String(refOK.length + refBad.length);
    paretoEl.dataset.referencesInfeasible = String(refBad.length);
    paretoEl.dataset.recommended = pareto.recommended === null || pareto.recommended === undefined ? "" : String(pareto.recommended);
    paretoEl.dataset.recommendedDrawn = String(rec.length);
    refNote.textContent = refs.length
      ? `LFM2 references measured: ${refOK.length + refBad.length} of ${refs.length}` +
        (refBad.length ? `, ${refBad.length} breaking a constraint (hollow)` : "") +
        (refs.some((r) => !r.measured) ? ` (missing: ${refs.filter((r) => !r.measured).map((r) => r.preset).join(", ")})` : "")
      : "";
    paretoEl.setAttribute(
      "aria-label",
      `Pareto scatter: ${pareto.points.length} trials, ${front.length} on the front` + (rec.length ? `, trial ${rec[0].trial} recommended` : "") + `; ${objLabel(ox)} against ${objLabel(oy)}`,
    );

    // The front as a list with layer strips and exports.
    const recNo = pareto.recommended;
    const rows = front
      .slice()
      .sort((a, b) => a.values[xi] - b.values[xi])
      .map((p) =>
        h(
          "tr",
          { "data-trial": p.trial, class: p.recommended ? "recommended" : null },
          h("td", { "data-label": "Trial" }, h("a", { href: `#/searches/${id}/trials/${p.trial}` }, `#${p.trial}`), p.recommended ? [" ", h("span", { class: "badge badge-recommended" }, "recommended")] : null),
          h("td", { "data-label": "Params" }, fmtParams(p.params)),
          h("td", { "data-label": "Layers" }, layerStrip(p.layers)),
          pareto.objectives.map((o, i) => h("td", { "data-label": objLabel(o) }, withStd(p.values[i], p.std ? p.std[i] : 0))),
          h("td", { "data-label": "Re-measured" }, String(p.remeasured || 0)),
          h("td", { "data-label": "Export" }, exportLinks(id, p.trial, p.exports)),
        ),
      );
    fill(
      frontBox,
      h("h2", {}, `Pareto front (${front.length})`),
      recNo !== null && recNo !== undefined
        ? h("p", { id: "recommended" }, h("strong", {}, `Recommended: trial #${recNo}`), ` — ${pareto.recommended_rule}.`)
        : h("p", { id: "recommended", class: "muted" }, front.length ? "No recommendation: no complete trial meets the constraints." : ""),
      front.length
        ? h(
            "div",
            { class: "table-wrap" },
            h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Trial"), h("th", { scope: "col" }, "Params"), h("th", { scope: "col" }, "Layers"), pareto.objectives.map((o) => h("th", { scope: "col" }, objHead(o))), h("th", { scope: "col", title: "re-measurements pooled into the values (noise-aware front)" }, "Re-measured"), h("th", { scope: "col" }, "Export"))), h("tbody", {}, rows)),
          )
        : h("p", { class: "muted" }, "No complete trial yet."),
    );
    drawParallel();
  }

  // drawParallel draws every trial across all objectives (3 or more).
  function drawParallel() {
    const objs = pareto.objectives;
    parallelCard.hidden = objs.length < 3;
    if (objs.length < 3) return;
    const axes = objs.map((o, i) => {
      const vals = pareto.points.map((p) => p.values[i]);
      const log = logWorthy(vals);
      const p = objParts(o);
      return { dim: i, name: `${p.name}${p.target ? " on " + p.target : ""}\n(${p.unit}${log ? ", log" : ""}, ${p.dir})`, type: log ? "log" : "value", scale: true, nameGap: 22, nameTextStyle: { fontSize: 11 } };
    });
    const line = (p) => ({ value: p.values, trial: p.trial });
    const c = chart(parallelEl);
    c.setOption(
      {
        animation: false,
        parallel: { left: 110, right: 120, top: 80, bottom: 30 },
        parallelAxis: axes,
        tooltip: { trigger: "item", formatter: (p) => `trial ${p.data.trial}<br>` + objs.map((o, i) => `${objLabel(o)}: ${fmtNum(p.data.value[i])}`).join("<br>") },
        series: [
          { name: "other trials", type: "parallel", lineStyle: { color: "#9aa5b1", width: 1, opacity: 0.35 }, data: pareto.points.filter((p) => !p.front).map(line), progressive: 1000 },
          { name: "Pareto front", type: "parallel", lineStyle: { color: "#d62828", width: 2, opacity: 0.8 }, data: pareto.points.filter((p) => p.front && !p.recommended).map(line), z: 3 },
          { name: "Recommended", type: "parallel", lineStyle: { color: "#f4a000", width: 5, opacity: 1 }, data: pareto.points.filter((p) => p.recommended).map(line), z: 4 },
        ],
      },
      { notMerge: true },
    );
    parallelEl.dataset.lines = String(pareto.points.length);
    parallelEl.dataset.axes = String(axes.length);
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
  xSel.addEventListener("change", () => ((logChoice.x = null), drawPareto()));
  ySel.addEventListener("change", () => ((logChoice.y = null), drawPareto()));
  logX.addEventListener("change", () => ((logChoice.x = logX.checked), drawPareto()));
  logY.addEventListener("change", () => ((logChoice.y = logY.checked), drawPareto()));

  async function loadHV() {
    const hv = await api("GET", `/api/v1/searches/${id}/hypervolume`);
    const c = chart(hvEl);
    c.setOption(
      {
        animation: false,
        grid: { left: 64, right: 24, top: 24, bottom: 40, containLabel: true },
        tooltip: { trigger: "axis", valueFormatter: (v) => fmtNum(v) },
        xAxis: { type: "value", name: "complete trials", nameLocation: "middle", nameGap: 26, minInterval: 1 },
        yAxis: { type: "value", name: "fraction of the reference box", nameLocation: "middle", nameGap: 44, nameRotate: 90, min: 0, max: 1 },
        series: [{ type: "line", step: "end", showSymbol: false, data: hv.history.map((p) => [p.complete, p.fraction]) }],
      },
      { notMerge: true },
    );
    hvEl.dataset.points = String(hv.history.length);
    const last = hv.history.length ? hv.history[hv.history.length - 1] : null;
    hvEl.dataset.fraction = last ? String(last.fraction) : "";
    hvNote.textContent = last
      ? hv.box > 0
        ? `Now ${fmtNum(last.fraction)}: the share of the box from the ideal point (the best feasible value of each objective) to the reference point that the front dominates; 1 would be one trial best at everything.`
        : "No feasible trial yet, so no box to measure against."
      : "No complete trial yet.";
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
      button([label, active ? (desc ? " ▼" : " ▲") : ""], () => {
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
        h("td", { "data-label": "On front", class: "on-front" }, t.rank === undefined ? "—" : t.rank === 0 ? (pareto && pareto.recommended === t.number ? "yes, recommended" : "yes") : "no"),
        h("td", { "data-label": "Front rank", class: "rank" }, t.rank === undefined ? "—" : String(t.rank)),
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
          h("thead", {}, h("tr", {}, sortHeader("Trial", "number"), h("th", { scope: "col" }, "State"), sortHeader("Params", "params"), h("th", { scope: "col" }, "Layers"), objs.map((o, i) => sortHeader(objHead(o), `objective:${i}`)), h("th", { scope: "col" }, "Feasible"), h("th", { scope: "col" }, "On front"), h("th", { scope: "col", title: "0 is the Pareto front, 1 the front that remains without it, and so on; infeasible trials come last" }, "Front rank"))),
          h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7 + objs.length }, "No trial matches."))),
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

  const xcheck = crossCheckCard(id, () => se, () => pareto, onLeave);
  main.append(
    head,
    progress,
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Pareto scatter"),
      h("div", { class: "toolbar" }, field("X axis", xSel), field("Y axis", ySel), h("div", { class: "checks" }, field("Log X", logX), field("Log Y", logY))),
      paretoEl,
      h("p", { class: "hint" }, "Red: the constrained Pareto front over all objectives; orange pin: the recommended point (the front's knee); blue: other feasible trials; grey triangles: infeasible; green diamonds: the released LFM2 models measured with this search's workload (hollow when they break a constraint); bars: ± z standard deviations of each measured value (z is the spec's remeasure.z, 2 by default), the interval the noise-aware front compares: a trial whose front membership depends on it is measured again and its repeats pooled. An axis is logarithmic when its values span more than 10×; the boxes switch it. Click a point for its trial. Scroll to zoom."),
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
    parallelCard,
    h("section", { class: "card" }, h("h2", {}, "Hypervolume over trials"), hvEl, hvNote),
    h("section", { class: "card" }, frontBox, mixerLegend()),
    xcheck.card,
    h("section", { class: "card" }, h("h2", {}, "Trials"), h("div", { class: "toolbar" }, field("State", stateSel), field("Layer type", mixerSel), field("Per page", limitSel)), trialsBox, pager),
  );
  renderHead();
  await loadPareto();
  await Promise.all([loadHV(), loadTrials(), xcheck.load()]);

  const refresh = debounce(async () => {
    try {
      await refreshHead();
      await loadPareto();
      await Promise.all([loadHV(), loadTrials(), xcheck.refreshDevices()]);
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
    disposeChart(parallelEl);
    disposeChart(hvEl);
  });
}
