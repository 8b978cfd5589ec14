import { api, on, debounce } from "../api.js";
import { h, fill, field, showFieldError, badge, button, banner, fmtTime, ago, nextID } from "../ui.js";

function profileSummary(p) {
  if (!p || typeof p !== "object") return "—";
  const parts = [];
  if (p.cpu && p.cpu.model) parts.push(p.cpu.model);
  if (p.cpu && p.cpu.logical_cores) parts.push(`${p.cpu.logical_cores} threads`);
  if (p.memory && p.memory.total_bytes) parts.push(`${Math.round(p.memory.total_bytes / 2 ** 30)} GiB`);
  if (p.os) parts.push(`${p.os}/${p.arch || "?"}`);
  if (p.isa_level) parts.push(p.isa_level);
  return parts.join(" · ") || "—";
}

/** devicesPage lists devices with live status and the enroll dialog. */
export async function devicesPage(main, _params, onLeave) {
  const tbody = h("tbody");
  const thead = h("thead");
  // The measurements column appears when the API reports the count.
  let hasCount = false;
  const showRevoked = h("input", { type: "checkbox", id: "show-revoked" });
  const table = h(
    "table",
    { class: "devices" },
    h("caption", { class: "sr-only" }, "Enrolled devices"),
    thead,
    tbody,
  );
  const rows = new Map(); // id -> {device, tr}

  function row(d) {
    const temp = d.last_temp_c !== undefined && d.last_temp_c !== null ? `${d.last_temp_c.toFixed(1)} °C` : "—";
    const tr = h(
      "tr",
      { "data-device": d.id },
      h("td", { "data-label": "Name" }, h("strong", {}, d.name), h("br"), h("code", { class: "muted" }, d.id)),
      h("td", { "data-label": "Status", class: "status" }, badge(d.status)),
      h("td", { "data-label": "Class" }, h("code", {}, d.class)),
      h("td", { "data-label": "Tags" }, (d.tags || []).map((t) => h("span", { class: "tag" }, t))),
      h("td", { "data-label": "Temperature", class: "temp" }, temp),
      hasCount ? h("td", { "data-label": "Measurements" }, String(d.measurements ?? 0)) : null,
      h("td", { "data-label": "Last seen", title: fmtTime(d.last_seen), class: "seen" }, ago(d.last_seen)),
      h("td", { "data-label": "Profile" }, h("details", {}, h("summary", {}, profileSummary(d.profile)), h("pre", { class: "json" }, JSON.stringify(d.profile, null, 2)))),
      h(
        "td",
        { "data-label": "Actions", class: "actions" },
        d.status === "revoked"
          ? null
          : [
              button("Rename", () => editDialog(d, "name")),
              button("Tags", () => editDialog(d, "tags")),
              button("Revoke", () => revokeDialog(d), { class: "danger" }),
            ],
      ),
    );
    return tr;
  }

  async function load() {
    const q = showRevoked.checked ? "?include_revoked=true" : "";
    const { devices } = await api("GET", "/api/v1/devices" + q);
    rows.clear();
    hasCount = devices.some((d) => d.measurements !== undefined);
    const cols = ["Name", "Status", "Class", "Tags", "Temperature", hasCount ? "Measurements" : null, "Last seen", "Profile", "Actions"].filter(Boolean);
    fill(thead, h("tr", {}, cols.map((t) => h("th", { scope: "col" }, t))));
    fill(tbody);
    if (!devices.length) tbody.appendChild(h("tr", {}, h("td", { colspan: cols.length }, "No device yet: enroll one.")));
    for (const d of devices) {
      const tr = row(d);
      rows.set(d.id, { device: d, tr });
      tbody.appendChild(tr);
    }
  }
  const reload = debounce(() => load().catch((e) => banner(e.message, "error")), 300);

  function editDialog(d, what) {
    const input =
      what === "name"
        ? h("input", { type: "text", value: d.name, required: true, maxlength: 100 })
        : h("input", { type: "text", value: (d.tags || []).join(", ") });
    const dlg = h(
      "dialog",
      { "aria-labelledby": "dlg-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "dlg-title" }, what === "name" ? `Rename ${d.name}` : `Tags of ${d.name}`),
        field(what === "name" ? "Name" : "Tags (comma-separated)", input, what === "tags" ? "lower-case letters, digits, . _ -" : null),
        h("div", { class: "buttons" }, h("button", { type: "submit", value: "save" }, "Save"), h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel")),
      ),
    );
    dlg.addEventListener("close", () => dlg.remove());
    dlg.querySelector("form").addEventListener("submit", async (ev) => {
      if (ev.submitter && ev.submitter.value === "cancel") return;
      ev.preventDefault();
      const body = what === "name" ? { name: input.value } : { tags: input.value.split(",").map((t) => t.trim()).filter(Boolean) };
      try {
        await api("PATCH", `/api/v1/devices/${d.id}`, body);
        dlg.close();
        banner("Saved.", "info");
        await load();
      } catch (err) {
        const fe = err.fieldErrors();
        showFieldError(input, fe.length ? fe.map((f) => `${f.field}: ${f.message}`).join("; ") : err.message);
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  }

  function revokeDialog(d) {
    const dlg = h(
      "dialog",
      { "aria-labelledby": "dlg-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "dlg-title" }, `Revoke ${d.name}?`),
        h("p", {}, "The device's NATS key is refused at once and its queued jobs are cancelled. It must enroll again with a new token."),
        h("div", { class: "buttons" }, h("button", { type: "submit", value: "revoke", class: "danger" }, "Revoke"), h("button", { type: "submit", value: "cancel" }, "Cancel")),
      ),
    );
    dlg.addEventListener("close", async () => {
      dlg.remove();
      if (dlg.returnValue !== "revoke") return;
      try {
        const r = await api("DELETE", `/api/v1/devices/${d.id}`);
        banner(`Revoked ${d.name}; ${r.cancelled_jobs} job(s) cancelled.`, "info");
        await load();
      } catch (err) {
        banner(err.message, "error");
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  }

  showRevoked.addEventListener("change", reload);
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Devices"),
      button("Enroll a device", () => enrollDialog(), { class: "primary", id: "enroll" }),
    ),
    h("div", { class: "toolbar" }, h("label", { for: "show-revoked" }, showRevoked, " Show revoked devices")),
    h("div", { class: "table-wrap" }, table),
  );
  await load();

  onLeave(
    on("device", (ev) => {
      const r = rows.get(ev.id);
      if (!r) {
        reload(); // a device this page does not list yet (just enrolled)
        return;
      }
      if (ev.status) {
        r.device.status = ev.status;
        fill(r.tr.querySelector(".status"), badge(ev.status));
      }
      if (typeof ev.temp_c === "number") r.tr.querySelector(".temp").textContent = `${ev.temp_c.toFixed(1)} °C`;
      r.device.last_seen = new Date().toISOString();
      r.tr.querySelector(".seen").textContent = ago(r.device.last_seen);
    }),
  );
}

/** enrollDialog creates a one-time token and shows how to enroll with it. */
async function enrollDialog() {
  const ttl = h("select", { id: "enroll-ttl" }, [
    h("option", { value: "3600" }, "1 hour"),
    h("option", { value: "86400", selected: true }, "24 hours"),
    h("option", { value: "604800" }, "7 days"),
  ]);
  const out = h("div", { class: "enroll-out", "aria-live": "polite" });
  const create = h("button", { type: "button", class: "primary", id: "create-token" }, "Create a one-time token");
  const dlg = h(
    "dialog",
    { class: "wide", "aria-labelledby": "enroll-title" },
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: "enroll-title" }, "Enroll a device"),
      h("ol", { class: "steps" }, [
        h("li", {}, "Download the agent for the device."),
        h("li", {}, "Create a one-time token."),
        h("li", {}, ["Run the command on the device, then ", h("code", {}, "device-agent run"), "."]),
      ]),
      h("div", { class: "downloads" }, "Loading downloads…"),
      field("Token valid for", ttl),
      create,
      out,
      h("div", { class: "buttons" }, h("button", { type: "submit" }, "Close")),
    ),
  );
  dlg.addEventListener("close", () => dlg.remove());
  document.body.appendChild(dlg);
  dlg.showModal();

  // The address devices enroll with is the coordinator's own (its
  // HIL_ADVERTISE or LAN address), not this browser's host: a phone cannot
  // reach "localhost".
  let coordinatorURL = location.origin;
  const manifest = api("GET", "/downloads/manifest.json");
  manifest
    .then((m) => {
      if (m.coordinator_url) coordinatorURL = m.coordinator_url;
      const rows = Object.entries(m.files).map(([target, f]) =>
        h(
          "tr",
          {},
          h("td", { "data-label": "Platform" }, target),
          h("td", { "data-label": "Download" }, h("a", { href: f.url, download: "" }, f.url.split("/").pop())),
          h("td", { "data-label": "SHA-256" }, f.sha256 ? h("code", { class: "hash" }, f.sha256) : h("span", { class: "hint" }, "not built: run make agents on the coordinator")),
        ),
      );
      fill(
        dlg.querySelector(".downloads"),
        h("table", { class: "downloads-table" }, h("caption", {}, `Agent ${m.version}`), h("thead", {}, h("tr", {}, ["Platform", "Download", "SHA-256"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows)),
      );
    })
    .catch((e) => fill(dlg.querySelector(".downloads"), h("p", { class: "banner banner-error" }, e.message)));

  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const t = await api("POST", "/api/v1/enrollment-tokens", { ttl_seconds: Number(ttl.value) });
      await manifest.catch(() => {});
      const cmd = `device-agent enroll --coordinator ${coordinatorURL} --token ${t.token}`;
      const cmdID = nextID("cmd");
      const code = h("code", { id: cmdID, class: "command" }, cmd);
      const copy = button("Copy", async () => {
        try {
          await navigator.clipboard.writeText(cmd);
          copy.textContent = "Copied";
        } catch {
          getSelection().selectAllChildren(code);
        }
      });
      fill(
        out,
        h("p", {}, `Token created; it works once and expires ${fmtTime(t.expires_at)}. It is shown only now.`),
        h("label", { for: cmdID, class: "sr-only" }, "Enroll command"),
        h("pre", { class: "command-box" }, code),
        copy,
        h("p", { class: "hint" }, [
          `The device must reach ${coordinatorURL} (set HIL_ADVERTISE on the coordinator to change it). On Android: adb push the android-arm64 binary to /data/local/tmp; over USB, `,
          h("code", {}, "adb reverse tcp:8080 tcp:8080"),
          " lets the phone use http://127.0.0.1:8080.",
        ]),
      );
    } catch (err) {
      fill(out, h("p", { class: "banner banner-error", role: "alert" }, err.message));
      create.disabled = false;
    }
  });
}
