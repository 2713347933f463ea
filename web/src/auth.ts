// Login: a token from the URL fragment (#token=, as `mesh up` prints it),
// kept in sessionStorage and removed from the address bar; without one, a
// join screen that registers a human from this machine.

import { register } from "./net/api.js";
import { el } from "./ui/dom.js";

const KEY = "mesh.token";

/** takeToken reads #token= into sessionStorage, cleans the URL, and returns the stored token. */
export function takeToken(): string {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY) ?? "";
}

/** forgetToken drops a token the node refused. */
export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** joinScreen asks for a name, registers a human and resolves with its token. */
export function joinScreen(root: HTMLElement, notice = ""): Promise<string> {
  const input = el("input", { id: "join-name", name: "name", autocomplete: "nickname", required: "", maxlength: "64" });
  const error = el("p", { class: "join-error", role: "alert" }, notice);
  const button = el("button", { type: "submit" }, "Enter");
  const form = el("form", { class: "join-card", "aria-labelledby": "join-title" },
    el("h1", { id: "join-title" }, "The Mesh"),
    el("p", {}, "Choose a name to enter as a human participant."),
    el("label", { for: "join-name" }, "Your name"), input, button, error,
    el("p", { class: "hint" }, "From another machine, open the login link printed by ", el("code", {}, "mesh up"), " or an invite."));
  const screen = el("main", { class: "join-screen" }, form);
  root.replaceChildren(screen);
  input.focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      error.textContent = "";
      try {
        const { token } = await register(input.value.trim());
        sessionStorage.setItem(KEY, token);
        screen.remove();
        resolve(token);
      } catch (e) {
        error.textContent = (e as Error).message;
        button.disabled = false;
      }
    });
  });
}
