// Small DOM helpers: an element builder that never parses HTML (every text
// goes through textContent), number formatting and the layer strip.

/** h builds an element: h("a", {href: "#/"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** clear empties an element and appends children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** nextID returns a fresh element id with a prefix. */
export function nextID(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** field builds a labelled control: label, control and an error slot. */
export function field(label, control, hint) {
  if (!control.id) control.id = nextID("f");
  const err = h("p", { class: "field-error", id: control.id + "-error", role: "alert", hidden: true });
  const describedBy = [err.id];
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: control.id + "-hint" }, hint);
    describedBy.push(hintEl.id);
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl, err);
}

/** showFieldError puts message in the error slot of control ("" clears it). */
export function showFieldError(control, message) {
  const err = document.getElementById(control.id + "-error");
  if (!err) return false;
  err.textContent = message;
  err.hidden = !message;
  if (message) control.setAttribute("aria-invalid", "true");
  else control.removeAttribute("aria-invalid");
  return true;
}

/** fmtInt formats an integer with thin grouping. */
export function fmtInt(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return "—";
  return Number(n).toLocaleString("en-US");
}

/** fmtParams formats a parameter count as 1.17B, 354.5M or 90.5K. */
export function fmtParams(n) {
  if (!n) return "—";
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "B";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "K";
  return String(n);
}

/** fmtNum formats a measured value with 4 significant digits. */
export function fmtNum(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return "—";
  if (Math.abs(v) >= 1e5) return fmtInt(Math.round(v));
  return Number(v.toPrecision(4)).toString();
}

/** fmtSeconds formats a duration in seconds as "1 h 20 min", "3 min 5 s", "4.2 s" or "310 ms". */
export function fmtSeconds(sec) {
  if (sec === undefined || sec === null || Number.isNaN(sec)) return "—";
  if (sec >= 3600) return `${Math.floor(sec / 3600)} h ${Math.round((sec % 3600) / 60)} min`;
  if (sec >= 60) return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  if (sec >= 1) return `${Number(sec.toPrecision(2))} s`;
  return `${Number((sec * 1000).toPrecision(2))} ms`;
}

/** fmtTime formats an ISO time as a local date and time. */
export function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  return d.toLocaleString();
}

/** ago says how long ago an ISO time was. */
export function ago(s) {
  if (!s) return "never";
  const sec = Math.max(0, Math.round((Date.now() - new Date(s).getTime()) / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.round(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.round(sec / 3600)} h ago`;
  return `${Math.round(sec / 86400)} d ago`;
}

/** MIXERS are the mixer kinds, in legend order, with their colours. */
export const MIXERS = [
  ["conv", "#2a9d8f", "gated short conv"],
  ["gqa", "#e76f51", "grouped-query attention"],
  ["swa", "#f4a261", "sliding-window attention"],
  ["linear_attn", "#8e7dbe", "gated linear attention"],
  ["ssm", "#457b9d", "Mamba2 SSM"],
];
const mixerColour = Object.fromEntries(MIXERS.map(([k, c]) => [k, c]));

/** layerStrip draws one coloured cell per layer, by mixer type. */
export function layerStrip(layers) {
  const ls = layers || [];
  const counts = {};
  for (const l of ls) counts[l] = (counts[l] || 0) + 1;
  const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
  const strip = h("span", { class: "strip", role: "img", "aria-label": `${ls.length} layers: ${summary}`, title: ls.join(" ") });
  for (const l of ls) {
    const cell = h("span", { class: "cell" });
    cell.style.background = mixerColour[l] || "#999";
    strip.appendChild(cell);
  }
  return strip;
}

/** mixerLegend explains the strip colours. */
export function mixerLegend() {
  return h(
    "ul",
    { class: "legend", "aria-label": "Layer colours" },
    MIXERS.map(([k, c, name]) => {
      const sw = h("span", { class: "cell" });
      sw.style.background = c;
      return h("li", {}, sw, ` ${k} (${name})`);
    }),
  );
}

/** badge renders a state as a coloured label. */
export function badge(state) {
  return h("span", { class: `badge badge-${state}` }, state);
}

/** button builds a button. */
export function button(label, onclick, attrs) {
  return h("button", Object.assign({ type: "button", onclick }, attrs || {}), label);
}

/** banner shows a message in the page's message area. */
export function banner(msg, kind) {
  const el = document.getElementById("messages");
  if (!el) return;
  const item = h("p", { class: `banner banner-${kind || "info"}`, role: kind === "error" ? "alert" : "status" }, msg,
    button("×", () => item.remove(), { "aria-label": "Dismiss", class: "link" }));
  el.appendChild(item);
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
}
