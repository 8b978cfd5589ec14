import { api, on, debounce } from "../api.js";
import { h, fill, button, banner, field, fmtNum } from "../ui.js";
import { chart, disposeChart } from "../charts.js";

// The API bounds one cross-check (two jobs per spec).
const MAX_SPECS = 64;

// METRIC_LABELS names a cross-check metric ("pp512", "tg128@d2048").
function metricLabel(m) {
  let r = /^pp(\d+)$/.exec(m);
  if (r) return `prefill of ${r[1]} tokens (pp${r[1]}), tokens/s`;
  r = /^tg(\d+)@d(\d+)$/.exec(m);
  if (r) return `decode of ${r[1]} tokens at depth ${r[2]} (tg${r[1]}), tokens/s`;
  return m;
}

/** offersLlama reports whether a device's profile lists llama.cpp. */
function offersLlama(d) {
  return ((d.profile && d.profile.runtimes) || []).some((r) => r.name === "llama.cpp");
}

/**
 * crossCheckCard is the search page's "cross-check the front" card: it
 * queues every front point on both runtimes of one device (POST
 * /api/v1/devices/{id}/fidelity with the search's workload) and draws the
 * report (GET /api/v1/fidelity/{id}): native against llama.cpp tokens/s,
 * log-log, one point per spec, with the Spearman rank correlation. The last
 * cross-check of a search is remembered in this browser.
 */
export function crossCheckCard(searchID, getSearch, getPareto, onLeave) {
  const key = `hil-crosscheck-${searchID}`;
  const devSel = h("select", { id: "cross-check-device" });
  const metricSel = h("select", { id: "cross-check-metric" });
  const startBtn = button("Cross-check the front", start, { id: "cross-check", class: "primary" });
  const status = h("p", { id: "cross-check-status", class: "muted", role: "status" });
  const plotEl = h("div", { class: "chart", id: "cross-check-chart", role: "img", "aria-label": "Native against llama.cpp", hidden: true });
  const summary = h("p", { id: "cross-check-summary" });
  const table = h("div", { id: "cross-check-table" });
  let report = null;
  let devices = [];

  async function loadDevices() {
    const [{ devices: all }, se, pareto] = await Promise.all([api("GET", "/api/v1/devices"), Promise.resolve(getSearch()), Promise.resolve(getPareto())]);
    devices = all.filter((d) => !d.revoked_at && offersLlama(d));
    // Devices that measured the search come first.
    const targets = new Set();
    for (const t of (se.spec && se.spec.targets) || []) for (const id of t.devices || []) targets.add(id);
    devices.sort((a, b) => Number(targets.has(b.id)) - Number(targets.has(a.id)) || a.name.localeCompare(b.name));
    fill(devSel, devices.map((d) => h("option", { value: d.id }, `${d.name} (${d.id}, ${d.status})`)));
    const front = pareto ? pareto.points.filter((p) => p.front).length : 0;
    startBtn.disabled = !devices.length || !front;
    startBtn.title = !devices.length ? "no enrolled device offers llama.cpp (its agent finds no llama-bench)" : !front ? "the search has no complete trial yet" : "";
    if (!report) status.textContent = !devices.length ? "No enrolled device offers llama.cpp: an agent reports the runtime when it finds a llama-bench." : `${front} front point${front === 1 ? "" : "s"} to time on both runtimes.`;
  }

  async function start() {
    const se = getSearch();
    const pareto = getPareto();
    const front = pareto.points.filter((p) => p.front).slice(0, MAX_SPECS);
    if (!front.length || !devSel.value) return;
    startBtn.disabled = true;
    try {
      const trials = await Promise.all(front.map((p) => api("GET", `/api/v1/searches/${searchID}/trials/${p.trial}`)));
      const wl = Object.assign({}, se.spec.workload);
      delete wl.runtime; // a cross-check runs each spec on both runtimes
      const check = await api("POST", `/api/v1/devices/${encodeURIComponent(devSel.value)}/fidelity`, {
        workload: wl,
        specs: trials.map((t) => ({ name: `trial #${t.number}`, spec: t.arch })),
      });
      localStorage.setItem(key, check.id);
      banner(`Queued ${check.entries.length} front points on both runtimes of ${check.device_id} (cross-check ${check.id}).`, "info");
      await loadReport();
    } catch (err) {
      banner(`Cross-check: ${err.message}`, "error");
    } finally {
      startBtn.disabled = false;
    }
  }

  async function loadReport() {
    const id = localStorage.getItem(key);
    if (!id) return;
    try {
      report = await api("GET", `/api/v1/fidelity/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status === 404) localStorage.removeItem(key);
      else banner(`Cross-check: ${err.message}`, "error");
      return;
    }
    const cur = metricSel.value;
    fill(metricSel, report.metrics.map((m) => h("option", { value: m.metric }, metricLabel(m.metric))));
    if (report.metrics.some((m) => m.metric === cur)) metricSel.value = cur;
    draw();
  }

  function draw() {
    if (!report) return;
    const mi = report.metrics.findIndex((m) => m.metric === metricSel.value);
    const m = report.metrics[Math.max(0, mi)];
    let n = 0;
    let ended = 0;
    for (const r of report.rows) {
      for (const s of Object.values(r.states)) {
        n++;
        if (["done", "failed", "cancelled"].includes(s)) ended++;
      }
    }
    status.textContent = `Cross-check ${report.id} on ${report.device_id}: ${ended} of ${n} jobs ended${report.done ? "" : ", the plot fills in as they report"}.`;
    plotEl.dataset.check = report.id;
    plotEl.dataset.done = String(report.done);
    if (!m) return;
    const pts = [];
    for (const r of report.rows) {
      const f = r.figures.find((x) => x.metric === m.metric);
      if (f && f.native !== null && f.llama_cpp !== null && f.native > 0 && f.llama_cpp > 0) pts.push({ value: [f.native, f.llama_cpp], name: r.name, ratio: f.ratio });
    }
    plotEl.hidden = false;
    const vals = pts.flatMap((p) => p.value);
    const lo = vals.length ? Math.min(...vals) / 1.5 : 1;
    const hi = vals.length ? Math.max(...vals) * 1.5 : 10;
    const c = chart(plotEl);
    c.setOption(
      {
        animation: false,
        grid: { left: 72, right: 32, top: 24, bottom: 52, containLabel: true },
        tooltip: { trigger: "item", formatter: (p) => (p.data.name ? `${p.data.name}<br>native: ${fmtNum(p.data.value[0])}<br>llama.cpp: ${fmtNum(p.data.value[1])}<br>ratio native/llama.cpp: ${fmtNum(p.data.ratio)}` : "") },
        xAxis: { type: "log", logBase: 10, min: lo, max: hi, name: `native, ${metricLabel(m.metric)}, log scale`, nameLocation: "middle", nameGap: 30 },
        yAxis: { type: "log", logBase: 10, min: lo, max: hi, name: "llama.cpp, log scale", nameLocation: "middle", nameGap: 56, nameRotate: 90 },
        series: [
          { name: "equal speed", type: "line", data: [[lo, lo], [hi, hi]], showSymbol: false, lineStyle: { type: "dashed", color: "#9aa5b1" }, silent: true },
          { name: "front points", type: "scatter", symbolSize: 10, itemStyle: { color: "#d62828", borderColor: "#000", borderWidth: 1 }, data: pts },
        ],
      },
      { notMerge: true },
    );
    plotEl.dataset.points = String(pts.length);
    plotEl.dataset.logX = "true";
    plotEl.dataset.logY = "true";
    plotEl.dataset.spearman = m.spearman === null || m.spearman === undefined ? "" : String(m.spearman);
    plotEl.setAttribute("aria-label", `Native against llama.cpp, ${m.metric}, log-log: ${pts.length} specs` + (m.spearman !== null && m.spearman !== undefined ? `, Spearman ${m.spearman.toFixed(3)}` : ""));
    summary.textContent =
      `${m.metric}: Spearman rank correlation ` +
      (m.spearman === null || m.spearman === undefined ? "— (needs 3 specs measured on both runtimes, with a spread)" : m.spearman.toFixed(3)) +
      ` over ${m.n} spec${m.n === 1 ? "" : "s"}` +
      (m.ratio_median !== null && m.ratio_median !== undefined ? `; ratio native/llama.cpp median ${fmtNum(m.ratio_median)} (${fmtNum(m.ratio_min)}–${fmtNum(m.ratio_max)})` : "") +
      ". Dashed: equal speed.";
    summary.dataset.spearman = plotEl.dataset.spearman;
    fill(
      table,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["Spec", "Native", "llama.cpp", "Ratio", "Jobs"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            report.rows.map((r) => {
              const f = r.figures.find((x) => x.metric === m.metric) || {};
              const jobs = Object.entries(r.states).map(([rt, s]) => `${rt} ${s}` + (r.errors && r.errors[rt] ? `: ${r.errors[rt]}` : "")).join("; ");
              return h("tr", { "data-spec": r.name }, h("td", { "data-label": "Spec" }, r.name), h("td", { "data-label": "Native" }, fmtNum(f.native)), h("td", { "data-label": "llama.cpp" }, fmtNum(f.llama_cpp)), h("td", { "data-label": "Ratio" }, fmtNum(f.ratio)), h("td", { "data-label": "Jobs" }, jobs));
            }),
          ),
        ),
      ),
    );
  }
  metricSel.addEventListener("change", draw);

  const card = h(
    "section",
    { class: "card", id: "cross-check-card" },
    h("h2", {}, "Cross-check on llama.cpp"),
    h("p", { class: "hint" }, "Times every point of the Pareto front with this search's workload on both runtimes of one device, our kernels and llama.cpp's llama-bench, and compares them: one point per spec, log-log, with the Spearman rank correlation. A low correlation means the native runtime ranks candidates differently from the release runtime on that device."),
    h("div", { class: "toolbar" }, field("Device", devSel), startBtn, field("Metric", metricSel)),
    status,
    plotEl,
    summary,
    table,
  );
  const refresh = debounce(() => {
    if (report && !report.done) loadReport();
  }, 700);
  onLeave(on("job", refresh));
  // Jobs of another device's agent may report while the event stream is
  // down: ask again every 5 s until the report is done.
  const poll = setInterval(refresh, 5000);
  onLeave(() => clearInterval(poll));
  onLeave(() => disposeChart(plotEl));
  return {
    card,
    async load() {
      await loadDevices();
      await loadReport();
    },
    refreshDevices: () => loadDevices().catch((err) => banner(err.message, "error")),
  };
}
