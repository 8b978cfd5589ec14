import { api } from "../api.js";
import { h, fill, field, showFieldError, badge, button, banner, fmtTime, ago, nextID } from "../ui.js";

const SCOPES = [
  ["admin", "admin: everything, including tokens"],
  ["read-only", "read-only: read devices, jobs and searches"],
  ["enroll-only", "enroll-only: create enrollment tokens, read devices"],
];

const TTLS = [
  ["2592000", "30 days"],
  ["7776000", "90 days"],
  ["31536000", "1 year"],
  ["0", "never"],
];

/** tokensPage lists API tokens, creates them (showing the secret once) and revokes them. */
export async function tokensPage(main) {
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "tokens" },
    h("caption", { class: "sr-only" }, "API tokens"),
    h("thead", {}, h("tr", {}, ["Name", "Scope", "State", "Created", "Expires", "Last used", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );

  function row(t) {
    return h(
      "tr",
      { "data-token": t.id },
      h("td", { "data-label": "Name" }, h("strong", {}, t.name), h("br"), h("span", { class: "muted" }, `#${t.id}`)),
      h("td", { "data-label": "Scope" }, h("code", {}, t.scope)),
      h("td", { "data-label": "State", class: "state" }, badge(t.state)),
      h("td", { "data-label": "Created", title: fmtTime(t.created_at) }, ago(t.created_at)),
      h("td", { "data-label": "Expires" }, t.expires_at ? fmtTime(t.expires_at) : "never"),
      h("td", { "data-label": "Last used", title: fmtTime(t.last_used_at) }, t.last_used_at ? ago(t.last_used_at) : "never"),
      h(
        "td",
        { "data-label": "Actions", class: "actions" },
        t.state === "active" ? button("Revoke", () => revokeDialog(t), { class: "danger", "aria-label": `Revoke ${t.name}` }) : null,
      ),
    );
  }

  async function load() {
    const { tokens } = await api("GET", "/api/v1/tokens");
    fill(tbody);
    if (!tokens.length) tbody.appendChild(h("tr", {}, h("td", { colspan: 7 }, "No token.")));
    for (const t of tokens) tbody.appendChild(row(t));
  }

  function revokeDialog(t) {
    const dlg = h(
      "dialog",
      { "aria-labelledby": "dlg-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "dlg-title" }, `Revoke ${t.name}?`),
        h("p", {}, "Every client using this token, and every dashboard session opened with it, is refused at once. This cannot be undone."),
        h("div", { class: "buttons" }, h("button", { type: "submit", value: "revoke", class: "danger" }, "Revoke"), h("button", { type: "submit", value: "cancel" }, "Cancel")),
      ),
    );
    dlg.addEventListener("close", async () => {
      dlg.remove();
      if (dlg.returnValue !== "revoke") return;
      try {
        await api("DELETE", `/api/v1/tokens/${t.id}`);
        banner(`Revoked ${t.name}.`, "info");
        await load();
      } catch (err) {
        banner(err.message, "error");
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  }

  // The create form; the secret appears below it once.
  const name = h("input", { type: "text", id: "token-name", required: true, maxlength: 100, autocomplete: "off" });
  const scope = h("select", { id: "token-scope" }, SCOPES.map(([v, label]) => h("option", { value: v, selected: v === "read-only" }, label)));
  const ttl = h("select", { id: "token-ttl" }, TTLS.map(([v, label]) => h("option", { value: v, selected: v === "7776000" }, label)));
  const submit = h("button", { type: "submit", class: "primary", id: "create-api-token" }, "Create token");
  const out = h("div", { class: "token-out", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", id: "new-token" },
    h("h2", {}, "New token"),
    h("div", { class: "grid" }, field("Name", name), field("Scope", scope), field("Expires after", ttl)),
    submit,
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const el of [name, scope, ttl]) showFieldError(el, "");
    submit.disabled = true;
    try {
      const r = await api("POST", "/api/v1/tokens", { name: name.value.trim(), scope: scope.value, ttl_seconds: Number(ttl.value) });
      const id = nextID("secret");
      const code = h("code", { id, class: "command", "data-secret": "" }, r.secret);
      const copy = button("Copy", async () => {
        try {
          await navigator.clipboard.writeText(r.secret);
          copy.textContent = "Copied";
        } catch {
          getSelection().selectAllChildren(code);
        }
      });
      const expires = r.token.expires_at ? `expires ${fmtTime(r.token.expires_at)}` : "does not expire";
      fill(
        out,
        h("p", {}, `Token ${r.token.name} (${r.token.scope}) created; it ${expires}. Its secret is shown only now: copy it.`),
        h("label", { for: id, class: "sr-only" }, "Token secret"),
        h("pre", { class: "command-box" }, code),
        copy,
      );
      name.value = "";
      await load();
    } catch (err) {
      const fe = err.fieldErrors ? err.fieldErrors() : [];
      const byField = { name, scope, ttl_seconds: ttl };
      let shown = false;
      for (const f of fe) if (byField[f.field]) shown = showFieldError(byField[f.field], f.message) || shown;
      if (!shown) fill(out, h("p", { class: "banner banner-error", role: "alert" }, err.message));
    } finally {
      submit.disabled = false;
    }
  });

  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "API tokens")),
    h("p", { class: "hint" }, "Tokens authenticate the API, the hil command and the dashboard. Only a hash of each secret is stored; revoking a token also ends its dashboard sessions. Last use is recorded at most once a minute."),
    form,
    h("div", { class: "table-wrap" }, table),
  );
  await load();
}
