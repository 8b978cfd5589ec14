import { api } from "../api.js";
import { h, field, showFieldError } from "../ui.js";
import { signedIn } from "../main.js";

/** signInPage asks for an API token and opens a cookie session. */
export async function signInPage(main) {
  const token = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true, id: "token" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card narrow", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", {}, "Use an API token of this coordinator (printed at start-up, HIL_ADMIN_TOKEN, or made with coordinator token create). The browser keeps only a session ID; the session ends when you sign out, after its time limit (12 hours unless configured), or when the token is revoked or expires."),
    field("API token", token),
    submit,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showFieldError(token, "");
    submit.disabled = true;
    try {
      const s = await api("POST", "/api/v1/session", { token: token.value });
      signedIn(s);
      location.hash = "#/devices";
    } catch (err) {
      const fe = err.fieldErrors ? err.fieldErrors() : [];
      showFieldError(token, fe.length ? fe[0].message : err.message);
      token.focus();
    } finally {
      submit.disabled = false;
    }
  });
  main.appendChild(form);
  token.focus();
}
