import { api, debounce } from "../api.js";
import { h, fill, field, showFieldError, button, banner, fmtParams, nextID } from "../ui.js";

const METRICS = ["decode_ms_p50", "decode_ms_p95", "prefill_tps", "ttft_ms", "peak_rss_mb", "prefill_energy_mj_per_token", "decode_energy_mj_per_token", "params"];
const ALGORITHMS = ["nsga2", "tpe-parego", "random", "sobol"];
const PRECISIONS = ["q4_0", "q8_0", "f16", "f32"];

// Controls carry data-path = the JSON path of the spec field they edit, so
// server errors ("objectives[1].metric", "space.params") land next to them.
function ctl(tag, path, attrs, ...children) {
  return h(tag, Object.assign({ "data-path": path, id: nextID("f") }, attrs || {}), ...children);
}

function list(s) {
  // "512, 1024" -> [512, 1024]; a non-number stays a string for the server to name.
  return s
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((x) => (x !== "" && !Number.isNaN(Number(x)) ? Number(x) : x));
}
function num(s) {
  if (s === "") return undefined;
  return Number.isNaN(Number(s)) ? s : Number(s);
}
function options(values, selected) {
  return values.map((v) => h("option", { value: v, selected: v === selected }, v === "" ? "—" : v));
}

/** newSearchPage is the search form with live validation and preview. */
export async function newSearchPage(main) {
  const [presets, devs] = await Promise.all([api("GET", "/api/v1/search-presets"), api("GET", "/api/v1/devices")]);
  const devices = devs.devices.filter((d) => d.status !== "revoked");
  const presetNames = Object.keys(presets.spaces).sort();

  const general = h("div", { class: "banner banner-error", role: "alert", hidden: true, id: "form-errors" });
  const preview = h("p", { class: "preview", id: "preview", "aria-live": "polite" }, "—");
  const specView = h("pre", { class: "json", id: "spec-json" });

  // General.
  const name = ctl("input", "name", { type: "text", placeholder: "phone latency vs size" });
  const algorithm = ctl("select", "algorithm", {}, options(ALGORITHMS, "nsga2"));
  const seed = ctl("input", "seed", { type: "number", value: 1 });
  const exportFmt = ctl("select", "export", {}, h("option", { value: "" }, "not required"), h("option", { value: "hf" }, "HF (transformers config.json)"), h("option", { value: "gguf" }, "GGUF (llama.cpp)"));
  const exportShares = h("p", { class: "hint", id: "export-shares", "aria-live": "polite" });

  // Space.
  const preset = h("select", { id: "preset" }, options(presetNames, presetNames.includes("lfm2-like") ? "lfm2-like" : presetNames[0]));
  const sp = {
    vocab: ctl("input", "space.vocab", { type: "number", min: 1 }),
    tied: ctl("input", "space.tied_embeddings", { type: "checkbox" }),
    layersMin: ctl("input", "space.layers.min", { type: "number", min: 1 }),
    layersMax: ctl("input", "space.layers.max", { type: "number", min: 1 }),
    hidden: ctl("input", "space.hidden", { type: "text" }),
    paramsMin: ctl("input", "space.params.min", { type: "number", min: 0 }),
    paramsMax: ctl("input", "space.params.max", { type: "number", min: 0 }),
    attnMin: ctl("input", "space.attention_layers.min", { type: "number", min: 0 }),
    attnMax: ctl("input", "space.attention_layers.max", { type: "number", min: 0 }),
    ratios: ctl("input", "space.ffn.ratios", { type: "text" }),
    widths: ctl("input", "space.ffn.widths", { type: "text" }),
    multipleOf: ctl("input", "space.ffn.multiple_of", { type: "number", min: 1 }),
    perLayer: ctl("input", "space.ffn.per_layer", { type: "checkbox" }),
    mixers: ctl("textarea", "space.mixers", { rows: 8, spellcheck: "false", class: "code" }),
    maxContext: ctl("input", "space.max_context", { type: "number", min: 0 }),
  };
  let extraSpace = {}; // preset fields the form has no control for (norm_eps, ...)
  function loadPreset(n) {
    const s = presets.spaces[n];
    if (!s) return;
    sp.vocab.value = s.vocab;
    sp.tied.checked = !!s.tied_embeddings;
    sp.layersMin.value = s.layers.min;
    sp.layersMax.value = s.layers.max;
    sp.hidden.value = (s.hidden || []).join(", ");
    sp.paramsMin.value = s.params.min;
    sp.paramsMax.value = s.params.max;
    sp.attnMin.value = s.attention_layers ? s.attention_layers.min : "";
    sp.attnMax.value = s.attention_layers ? s.attention_layers.max : "";
    sp.ratios.value = (s.ffn.ratios || []).join(", ");
    sp.widths.value = (s.ffn.widths || []).join(", ");
    sp.multipleOf.value = s.ffn.multiple_of || "";
    sp.perLayer.checked = !!s.ffn.per_layer;
    sp.mixers.value = JSON.stringify(s.mixers, null, 2);
    sp.maxContext.value = s.max_context || "";
    extraSpace = {};
    for (const k of ["norm_eps"]) if (s[k] !== undefined) extraSpace[k] = s[k];
  }
  preset.addEventListener("change", () => {
    loadPreset(preset.value);
    check();
  });

  // Workload.
  const wl = {
    precision: ctl("select", "workload.precision", {}, options(PRECISIONS, "q4_0")),
    threads: ctl("input", "workload.threads", { type: "number", value: 2, min: 1 }),
    prompts: ctl("input", "workload.prompt_lengths", { type: "text", value: "128" }),
    depths: ctl("input", "workload.decode_depths", { type: "text", value: "0" }),
    decodeLen: ctl("input", "workload.decode_tokens", { type: "number", value: 16, min: 1 }),
  };

  // Budget.
  const bg = {
    maxTrials: ctl("input", "budget.max_trials", { type: "number", value: 20, min: 1 }),
    wall: ctl("input", "budget.max_wall_time", { type: "text", placeholder: "6h" }),
    inFlight: ctl("input", "budget.max_in_flight_per_device", { type: "number", value: 1, min: 1 }),
  };

  // Repeated rows: targets, objectives, constraints.
  const targetsBox = h("div", { class: "rows", id: "targets" });
  const objectivesBox = h("div", { class: "rows", id: "objectives" });
  const constraintsBox = h("div", { class: "rows", id: "constraints" });
  const targetRows = [];
  const objectiveRows = [];
  const constraintRows = [];

  function targetNames() {
    return targetRows.map((r) => r.name.value).filter(Boolean);
  }
  function refreshTargetSelects() {
    for (const r of [...objectiveRows, ...constraintRows]) {
      const cur = r.target.value;
      fill(r.target, options(["", ...targetNames()], cur));
      r.target.value = cur;
    }
  }
  function renumber() {
    targetRows.forEach((r, i) => {
      r.name.dataset.path = `targets[${i}].name`;
      r.device.dataset.path = `targets[${i}].devices`;
      r.cls.dataset.path = `targets[${i}].class`;
      r.tags.dataset.path = `targets[${i}].tags`;
      r.row.dataset.path = `targets[${i}]`;
    });
    objectiveRows.forEach((r, i) => {
      r.metric.dataset.path = `objectives[${i}].metric`;
      r.at.dataset.path = `objectives[${i}].at`;
      r.direction.dataset.path = `objectives[${i}].direction`;
    });
    constraintRows.forEach((r, i) => {
      r.metric.dataset.path = `constraints[${i}].metric`;
      r.at.dataset.path = `constraints[${i}].at`;
      r.min.dataset.path = `constraints[${i}].min`;
      r.max.dataset.path = `constraints[${i}].max`;
    });
  }
  function addTarget(init) {
    const r = {
      name: ctl("input", "", { type: "text", value: init.name || "", pattern: "[a-z0-9_-]+" }),
      device: ctl("select", "", {}, h("option", { value: "" }, "— any matching device —"), devices.map((d) => h("option", { value: d.id, selected: d.id === init.device }, `${d.name} (${d.status})`))),
      cls: ctl("input", "", { type: "text", value: init.class || "" }),
      tags: ctl("input", "", { type: "text", value: "" }),
    };
    r.row = h(
      "fieldset",
      { class: "row" },
      h("legend", {}, "Target"),
      field("Name", r.name, "used as metric@name"),
      field("Device", r.device),
      field("or class", r.cls),
      field("and tags", r.tags),
      button("Remove", () => {
        targetRows.splice(targetRows.indexOf(r), 1);
        r.row.remove();
        renumber();
        refreshTargetSelects();
        check();
      }, { class: "link" }),
    );
    r.name.addEventListener("input", refreshTargetSelects);
    targetRows.push(r);
    targetsBox.appendChild(r.row);
    renumber();
    refreshTargetSelects();
  }
  function metricRow(kind, init) {
    const r = {
      metric: ctl("select", "", {}, options(METRICS, init.metric || METRICS[0])),
      target: h("select", { id: nextID("f") }, options(["", ...targetNames()], init.target || targetNames()[0] || "")),
      at: ctl("input", "", { type: "number", min: 0, value: init.at ?? "" }),
    };
    if (init.target) r.target.value = init.target;
    const rows = kind === "objective" ? objectiveRows : constraintRows;
    const box = kind === "objective" ? objectivesBox : constraintsBox;
    const extra = [];
    if (kind === "objective") {
      r.direction = ctl("select", "", {}, options(["", "minimize", "maximize"], init.direction || ""));
      extra.push(field("Direction", r.direction, "— = the metric's natural one"));
    } else {
      r.min = ctl("input", "", { type: "number", value: init.min ?? "" });
      r.max = ctl("input", "", { type: "number", value: init.max ?? "" });
      extra.push(field("Min", r.min), field("Max", r.max));
    }
    r.row = h(
      "fieldset",
      { class: "row" },
      h("legend", {}, kind === "objective" ? "Objective" : "Constraint"),
      field("Metric", r.metric),
      field("on target", r.target),
      field("at (tokens)", r.at, "prompt length, depth or context"),
      extra,
      button("Remove", () => {
        rows.splice(rows.indexOf(r), 1);
        r.row.remove();
        renumber();
        check();
      }, { class: "link" }),
    );
    rows.push(r);
    box.appendChild(r.row);
    renumber();
  }

  function metricRef(r) {
    return r.metric.value === "params" ? "params" : `${r.metric.value}@${r.target.value}`;
  }
  function buildSpec() {
    const space = Object.assign({}, extraSpace, {
      vocab: num(sp.vocab.value),
      tied_embeddings: sp.tied.checked,
      layers: { min: num(sp.layersMin.value), max: num(sp.layersMax.value) },
      hidden: list(sp.hidden.value),
      params: { min: num(sp.paramsMin.value), max: num(sp.paramsMax.value) },
      ffn: {},
    });
    if (sp.attnMin.value !== "" || sp.attnMax.value !== "") space.attention_layers = { min: num(sp.attnMin.value), max: num(sp.attnMax.value) };
    if (sp.ratios.value.trim()) space.ffn.ratios = list(sp.ratios.value);
    if (sp.widths.value.trim()) space.ffn.widths = list(sp.widths.value);
    if (sp.multipleOf.value !== "") space.ffn.multiple_of = num(sp.multipleOf.value);
    if (sp.perLayer.checked) space.ffn.per_layer = true;
    if (sp.maxContext.value !== "") space.max_context = num(sp.maxContext.value);
    space.mixers = JSON.parse(sp.mixers.value || "{}"); // checked by the caller
    const spec = {
      space,
      workload: {
        precision: wl.precision.value,
        threads: num(wl.threads.value),
        prompt_lengths: list(wl.prompts.value),
        decode_depths: list(wl.depths.value),
        decode_tokens: num(wl.decodeLen.value),
      },
      targets: targetRows.map((r) => {
        const t = { name: r.name.value };
        if (r.device.value) t.devices = [r.device.value];
        if (r.cls.value) t.class = r.cls.value;
        if (r.tags.value.trim()) t.tags = r.tags.value.split(",").map((x) => x.trim()).filter(Boolean);
        return t;
      }),
      objectives: objectiveRows.map((r) => {
        const o = { metric: metricRef(r) };
        if (r.direction.value) o.direction = r.direction.value;
        if (r.at.value !== "") o.at = num(r.at.value);
        return o;
      }),
      budget: { max_trials: num(bg.maxTrials.value) },
      algorithm: algorithm.value,
      seed: num(seed.value) ?? 0,
    };
    if (name.value) spec.name = name.value;
    if (exportFmt.value) spec.export = exportFmt.value;
    const cons = constraintRows.map((r) => {
      const c = { metric: metricRef(r) };
      if (r.at.value !== "") c.at = num(r.at.value);
      if (r.min.value !== "") c.min = num(r.min.value);
      if (r.max.value !== "") c.max = num(r.max.value);
      return c;
    });
    if (cons.length) spec.constraints = cons;
    if (bg.wall.value) spec.budget.max_wall_time = bg.wall.value;
    if (bg.inFlight.value !== "") spec.budget.max_in_flight_per_device = num(bg.inFlight.value);
    return spec;
  }

  function controls() {
    return [...form.querySelectorAll("[data-path]")].filter((el) => el.dataset.path && el.id);
  }
  function clearErrors() {
    for (const el of controls()) showFieldError(el, "");
    general.hidden = true;
    fill(general);
  }
  function placeErrors(errs) {
    const els = controls();
    const byEl = new Map();
    const unplaced = [];
    for (const fe of errs) {
      const f = fe.field || "";
      let best = null;
      for (const el of els) {
        const p = el.dataset.path;
        if ((f === p || f.startsWith(p + ".") || f.startsWith(p + "[")) && (!best || p.length > best.dataset.path.length)) best = el;
      }
      if (!best && f) best = els.find((el) => el.dataset.path.startsWith(f + ".") || el.dataset.path.startsWith(f + "[")) || null;
      if (best) {
        if (!byEl.has(best)) byEl.set(best, []);
        byEl.get(best).push(fe.message);
      } else unplaced.push(f ? `${f}: ${fe.message}` : fe.message);
    }
    for (const [el, msgs] of byEl) showFieldError(el, msgs.join("; "));
    if (unplaced.length) {
      fill(general, unplaced.map((m) => h("div", {}, m)));
      general.hidden = false;
    }
  }

  let seq = 0;
  async function check() {
    const my = ++seq;
    clearErrors();
    let spec;
    try {
      spec = buildSpec();
    } catch (e) {
      showFieldError(sp.mixers, "not valid JSON: " + e.message);
      fill(preview, "—");
      return null;
    }
    specView.textContent = JSON.stringify(spec, null, 2);
    try {
      const p = await api("POST", "/api/v1/searches/validate", spec);
      if (my !== seq) return null;
      if (p.params_min || p.params_max) fill(preview, "Candidates in this space have ", h("strong", { id: "params-range" }, `${fmtParams(p.params_min)} – ${fmtParams(p.params_max)}`), " parameters.");
      else fill(preview, p.errors && p.errors.length ? "Parameter range: fix the errors below to compute it." : "—");
      for (const w of p.warnings || []) preview.appendChild(h("span", { class: "banner banner-warn preview-warning", role: "status" }, w));
      fill(
        exportShares,
        (p.exportable || []).length
          ? [
              "Exportable share of the space (sampled): ",
              p.exportable.map((x, i) => [i ? "; " : "", h("strong", { "data-format": x.format }, `${x.format.toUpperCase()} ${Math.round(100 * x.share)}%`), x.share < 1 && x.reason ? ` (most often: ${x.reason})` : ""]),
              ". With an export format required, the others are rejected before any device time.",
            ]
          : "",
      );
      if (p.errors && p.errors.length) placeErrors(p.errors);
      return spec;
    } catch (err) {
      if (my === seq) banner(err.message, "error");
      return null;
    }
  }
  const checkSoon = debounce(check, 350);

  const submit = h("button", { type: "submit", class: "primary", id: "create-search" }, "Create search");
  const form = h(
    "form",
    { class: "search-form", novalidate: true, id: "search-form" },
    h("div", { class: "page-head" }, h("h1", {}, "New search"), h("a", { href: "#/searches" }, "Back to searches")),
    general,
    h("section", { class: "card" }, h("h2", {}, "General"), h("div", { class: "grid" }, field("Name", name), field("Algorithm", algorithm), field("Seed", seed), field("Require export", exportFmt, "reject candidates this format cannot express")), exportShares),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Search space"),
      h("div", { class: "grid" }, field("Start from preset", preset, "loads the preset's values into the fields below")),
      preview,
      h(
        "div",
        { class: "grid" },
        field("Layers min", sp.layersMin),
        field("Layers max", sp.layersMax),
        field("Hidden sizes", sp.hidden, "comma-separated"),
        field("Vocabulary", sp.vocab),
        field("Parameter budget min", sp.paramsMin),
        field("Parameter budget max", sp.paramsMax),
        field("Attention layers min", sp.attnMin, "optional"),
        field("Attention layers max", sp.attnMax, "optional"),
        field("FFN ratios", sp.ratios, "× hidden, comma-separated; 0 = no FFN"),
        field("FFN widths", sp.widths, "absolute, instead of ratios"),
        field("FFN multiple of", sp.multipleOf),
        field("Max context", sp.maxContext, "the context length exports declare; defaults to 128,000 (LFM2's), or the workload's largest if longer"),
      ),
      h("div", { class: "checks" }, field("Tied embeddings", sp.tied), field("FFN width per layer", sp.perLayer)),
      field("Mixers and their choices (JSON)", sp.mixers, "conv.kernels; gqa/swa heads, kv_heads, head_dims, qk_norm; swa.windows; linear_attn; ssm"),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Workload"),
      h(
        "div",
        { class: "grid" },
        field("Precision", wl.precision),
        field("Threads", wl.threads),
        field("Prompt lengths", wl.prompts, "pp<L>, comma-separated"),
        field("Decode depths", wl.depths, "context before decoding"),
        field("Decode length", wl.decodeLen, "tokens generated per depth"),
      ),
    ),
    h("section", { class: "card" }, h("h2", {}, "Targets"), targetsBox, button("Add target", () => (addTarget({ name: `t${targetRows.length + 1}` }), checkSoon()))),
    h("section", { class: "card" }, h("h2", {}, "Objectives"), objectivesBox, button("Add objective", () => (metricRow("objective", {}), checkSoon()))),
    h("section", { class: "card" }, h("h2", {}, "Constraints"), constraintsBox, button("Add constraint", () => (metricRow("constraint", {}), checkSoon()))),
    h("section", { class: "card" }, h("h2", {}, "Budget"), h("div", { class: "grid" }, field("Max trials", bg.maxTrials), field("Max wall time", bg.wall, "Go duration, e.g. 6h"), field("Jobs in flight per device", bg.inFlight))),
    h("details", { class: "card" }, h("summary", {}, "Spec JSON (what is sent)"), specView),
    h("div", { class: "buttons" }, submit),
  );

  loadPreset(preset.value);
  const first = devices.find((d) => d.status === "online" || d.status === "busy") || devices[0];
  addTarget({ name: "local", device: first ? first.id : "" });
  metricRow("objective", { metric: "decode_ms_p50", target: "local" });
  metricRow("objective", { metric: "params", direction: "maximize" });

  form.addEventListener("input", checkSoon);
  form.addEventListener("change", checkSoon);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    clearErrors();
    try {
      let spec;
      try {
        spec = buildSpec();
      } catch (e) {
        showFieldError(sp.mixers, "not valid JSON: " + e.message);
        return;
      }
      const se = await api("POST", "/api/v1/searches", spec);
      banner(`Search ${se.name} created.`, "info");
      location.hash = `#/searches/${se.id}`;
    } catch (err) {
      const fe = err.fieldErrors ? err.fieldErrors() : [];
      if (fe.length) placeErrors(fe);
      else banner(err.message, "error");
      const bad = form.querySelector("[aria-invalid=true]");
      if (bad) bad.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.appendChild(form);
  check();
}
