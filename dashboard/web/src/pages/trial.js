import { api, on, debounce } from "../api.js";
import { h, fill, badge, fmtParams, fmtNum, fmtInt, fmtTime, layerStrip, mixerLegend } from "../ui.js";
import { exportLinks, objLabel } from "./detail.js";

const STAT_COLS = ["median", "mean", "stddev", "min", "max", "p50", "p95"];

function statRow(label, unit, s) {
  if (!s) return null;
  const samples = s.samples || [];
  return h(
    "tr",
    {},
    h("th", { scope: "row" }, label, h("span", { class: "muted" }, ` ${unit}`)),
    STAT_COLS.map((k) => h("td", { "data-label": k }, fmtNum(s[k]))),
    h("td", { "data-label": "stddev/median" }, s.median ? `${fmtNum((100 * s.stddev) / s.median)} %` : "—"),
    h("td", { "data-label": "median spread" }, s.rel_spread !== undefined ? `${fmtNum(100 * s.rel_spread)} %` : "—"),
    h("td", { "data-label": "samples" }, h("details", {}, h("summary", {}, `${samples.length}`), h("span", { class: "samples" }, samples.map(fmtNum).join(", ")))),
  );
}

function measurementTable(m) {
  const rows = [];
  for (const p of m.prefill || []) {
    rows.push(statRow(`pp${p.prompt_length} prefill`, "tok/s", p.tokens_per_sec));
    rows.push(statRow(`TTFT @${p.prompt_length}`, "ms", p.ttft_ms));
    if (p.energy && p.energy.mj_per_token) rows.push(statRow(`pp${p.prompt_length} energy`, "mJ/token", p.energy.mj_per_token));
  }
  for (const d of m.decode || []) {
    rows.push(statRow(`tg${d.tokens} @ depth ${d.depth}`, "tok/s", d.tokens_per_sec));
    rows.push(statRow(`decode latency @ depth ${d.depth}`, "ms/token", d.ms_per_token));
    if (d.energy && d.energy.mj_per_token) rows.push(statRow(`tg${d.tokens} @ depth ${d.depth} energy`, "mJ/token", d.energy.mj_per_token));
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "measurement" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Metric"), STAT_COLS.map((k) => h("th", { scope: "col" }, k)), h("th", { scope: "col" }, "stddev/median"), h("th", { scope: "col", title: "relative spread of the median, as the agent's repetition rule computes it" }, "median spread"), h("th", { scope: "col" }, "samples"))),
      h("tbody", {}, rows),
    ),
  );
}

// errorBar draws the prediction (dot, ±1 standard deviation as a bar) and
// the measured value (a tick) on one scale spanning both.
function errorBar(measured, mean, sd) {
  const vals = [mean - 2 * sd, mean + 2 * sd].concat(measured === undefined ? [] : [measured]);
  const lo = Math.min(...vals);
  const hi = Math.max(...vals);
  const pct = (v) => (hi > lo ? (100 * (v - lo)) / (hi - lo) : 50).toFixed(1) + "%";
  // Positions are set through the CSSOM: the page's CSP refuses style attributes.
  const at = (cls, left, width) => {
    const el = h("span", { class: cls });
    el.style.left = left;
    if (width) el.style.width = width;
    return el;
  };
  return h(
    "div",
    { class: "errbar", role: "img", "aria-label": `predicted ${fmtNum(mean)} ± ${fmtNum(sd)}${measured === undefined ? "" : `, measured ${fmtNum(measured)}`}` },
    at("errbar-range", pct(mean - sd), `calc(${pct(mean + sd)} - ${pct(mean - sd)})`),
    at("errbar-mean", pct(mean)),
    measured === undefined ? null : at("errbar-measured", pct(measured)),
  );
}

/** measuredText is an objective's measured value with its standard
 * deviation when the measurement gave one ("4.18 ± 0.97"). */
function measuredText(t, i) {
  if (!t.objectives) return "—";
  const sd = t.objectives_std ? t.objectives_std[i] : 0;
  return sd > 0 ? `${fmtNum(t.objectives[i])} ± ${fmtNum(sd)}` : fmtNum(t.objectives[i]);
}

// objectivesTable shows each objective's measured value beside what the
// device predictors predicted when screening chose the trial.
function objectivesTable(objs, t) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "predicted" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Objective"), h("th", { scope: "col" }, "Measured"), h("th", { scope: "col" }, "Predicted ± std"), h("th", { scope: "col" }, "Error"), h("th", { scope: "col" }, "Prediction (bar: ±1 std) vs measured (tick)"))),
      h(
        "tbody",
        {},
        objs.map((o, i) => {
          const m = t.objectives ? t.objectives[i] : undefined;
          const p = t.predicted[i];
          const sd = t.predicted_std ? t.predicted_std[i] : 0;
          return h(
            "tr",
            {},
            h("th", { scope: "row" }, objLabel(o)),
            h("td", { "data-label": "measured" }, measuredText(t, i)),
            h("td", { "data-label": "predicted" }, sd > 0 ? `${fmtNum(p)} ± ${fmtNum(sd)}` : fmtNum(p)),
            h("td", { "data-label": "error" }, m === undefined || !m ? "—" : `${fmtNum((100 * (p - m)) / m)} %`),
            h("td", {}, sd > 0 ? errorBar(m, p, sd) : null),
          );
        }),
      ),
    ),
  );
}

// coresText says which cores the workers ran on: "cores 0,1 (pinned;
// auto)", or why they were not placed.
export function coresText(m) {
  const cpus = m.cpus && m.cpus.length ? m.cpus.join(",") : "";
  const rule = m.placement ? `; ${m.placement}` : "";
  if (cpus && m.pinned) return `cores ${cpus} (pinned${rule})`;
  if (cpus) return `cores ${cpus} chosen, not pinned: placement not possible on this OS, the OS scheduled the workers${rule}`;
  if (m.placement) return `placement not possible: ${m.placement}`;
  return "not recorded (measured before thread placement)";
}

// energyText names the energy sources of a measurement's rows, or why
// its rows have no energy figure.
function energyText(m) {
  const rows = [...(m.prefill || []), ...(m.decode || [])];
  const src = [...new Set(rows.filter((r) => r.energy && r.energy.mj_per_token).map((r) => r.energy.source || "unnamed source"))];
  const why = [...new Set(rows.filter((r) => r.energy && !r.energy.mj_per_token).map((r) => r.energy.unavailable || "no reason given"))];
  const parts = [];
  if (src.length) parts.push(`measured by ${src.join(", ")} (mJ/token rows below)`);
  if (why.length) parts.push(`unavailable: ${why.join("; ")}`);
  return parts.length ? parts.join("; ") : "not recorded (measured before energy measurement)";
}

// sustainedText summarises a sustained-decode run.
function sustainedText(s) {
  const e = s.energy ? (s.energy.mj_per_token ? `, ${fmtNum(s.energy.mj_per_token.median)} mJ/token` : `, energy unavailable: ${s.energy.unavailable}`) : "";
  return `${fmtNum(s.first_tps)} → ${fmtNum(s.last_tps)} tok/s (first vs last ${fmtNum(s.span_seconds)} s of ${fmtNum(s.seconds)} s at depth ${s.depth}): sustained ratio ${fmtNum(s.ratio)}${s.throttled ? ", throttled" : ""}${e}`;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** trialPage shows one trial: architecture, objectives, every measurement. */
export async function trialPage(main, [id, number], onLeave) {
  const box = h("div");
  main.appendChild(box);
  async function load() {
    const [t, se] = await Promise.all([api("GET", `/api/v1/searches/${id}/trials/${number}`), api("GET", `/api/v1/searches/${id}`)]);
    const spec = se.spec || {};
    const objs = spec.objectives || [];
    const targets = (t.targets || []).map((tt) => {
      const m = tt.measurement;
      return h(
        "section",
        { class: "card" },
        h("h2", {}, `Target ${tt.target}`, " ", badge(tt.job_state || "pending")),
        kv([
          ["Device", tt.device_id],
          ["Job", tt.job_id],
          ["Error", tt.job_error],
        ]),
        m
          ? [
              kv([
                ["Runtime", m.runtime || "native"],
                ["llama-bench", m.llama_bench ? `${m.llama_bench.path || ""}${m.llama_bench.build_commit ? ` (build ${m.llama_bench.build_commit})` : ""}` : null],
                ["Not given by this runtime", m.absent && m.absent.length ? m.absent.join(", ") : null],
                ["Agent", m.agent_version],
                ["Kernel variant", m.kernel_variant],
                ["Threads", m.threads],
                ["Cores", h("span", { class: "cores" }, coresText(m))],
                ["Energy", h("span", { class: "energy" }, energyText(m))],
                ["Sustained decode", m.sustained ? h("span", { class: "sustained" }, sustainedText(m.sustained)) : null],
                ["Throttling", m.discarded || m.throttled ? `${m.discarded || 0} repetitions discarded${m.throttled ? ", some samples throttled" : ""}` : null],
                ["Precision", m.precision],
                ["CPU", m.cpu_model],
                ["Governor", m.governor],
                ["Power", m.power],
                ["Peak RSS", `${fmtNum(m.peak_rss_bytes / 2 ** 20)} MiB`],
                ["Analytic memory", m.memory ? `${fmtNum(m.memory.total / 2 ** 20)} MiB at context ${m.memory.context} (weights ${fmtNum(m.memory.weights / 2 ** 20)}, KV ${fmtNum(m.memory.kv / 2 ** 20)}, state ${fmtNum(m.memory.state / 2 ** 20)}, scratch ${fmtNum(m.memory.scratch / 2 ** 20)} MiB)` : null],
                ["Measured", `${fmtTime(m.started_at)} – ${fmtTime(m.finished_at)}`],
                ["Block time share", m.block_time_share ? Object.entries(m.block_time_share).map(([k, v]) => `${k} ${(100 * v).toFixed(1)} %`).join(", ") : null],
              ]),
              measurementTable(m),
            ]
          : h("p", { class: "muted" }, "Not measured yet."),
      );
    });
    const evaluations = (t.evaluations || []).map((e) =>
      h(
        "section",
        { class: "card evaluation", "data-evaluator": e.evaluator },
        h("h2", {}, `Evaluator ${e.evaluator}`, " ", badge(e.state)),
        kv([
          ...Object.entries(e.scores || {})
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([k, v]) => [`${k}@${e.evaluator}`, h("span", { class: "score", "data-score": k }, fmtNum(v))]),
          ["Job", e.job_id],
          ["Evaluator version", e.version],
          ["From the cache", e.cached ? "yes (no job was sent)" : null],
          ["Attempt", e.attempt ? String(e.attempt + 1) : null],
          ["Deadline", e.deadline && (e.state === "queued" || e.state === "dispatched") ? fmtTime(e.deadline) : null],
          ["Error", e.error],
        ]),
        e.details ? h("details", {}, h("summary", {}, "Details"), h("pre", { class: "json" }, JSON.stringify(e.details, null, 2))) : null,
      ),
    );
    fill(
      box,
      h("div", { class: "page-head" }, h("h1", {}, `Trial #${t.number} `, badge(t.state)), h("a", { href: `#/searches/${id}` }, `Back to ${se.name}`)),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Architecture"),
        kv([
          ["Parameters", `${fmtInt(t.params)} (${fmtParams(t.params)})`],
          ["Hash", h("code", {}, t.arch_hash)],
          ["Feasible", t.violation === undefined ? "—" : t.violation === 0 ? "yes" : `no (violation ${fmtNum(t.violation)})`],
          ["Pareto front", t.rank === undefined ? "—" : t.rank === 0 ? "on the front (rank 0)" : `no (front rank ${t.rank})`],
          ["Error", t.error],
        ]),
        h("p", {}, layerStrip(t.layers), " ", `${t.layers.length} layers`),
        mixerLegend(),
        h("p", {}, exportLinks(id, t.number, t.exports)),
        h("details", {}, h("summary", {}, "Architecture JSON"), h("pre", { class: "json" }, JSON.stringify(t.arch, null, 2))),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Objectives"),
        t.predicted
          ? [objectivesTable(objs, t), h("p", { class: "hint" }, "Predicted by the device's predictor when screening chose this trial among the candidates it scored.")]
          : kv(objs.map((o, i) => [objLabel(o), measuredText(t, i)])),
        t.remeasured
          ? h("p", { class: "hint", id: "remeasured" }, `Measured ${t.remeasured + 1} times: its front membership depended on measurement noise, so it was measured again and the repeats pooled (inverse-variance weighted mean; ± one standard deviation).`)
          : null,
      ),
      evaluations,
      targets,
    );
  }
  await load();
  const reload = debounce(() => load(), 500);
  onLeave(on("trial", (ev) => ev.search_id === id && String(ev.number) === String(number) && reload()));
}
