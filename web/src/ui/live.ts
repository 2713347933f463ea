// A polite live region for presence (who arrived, who left, room changes);
// messages are announced by the transcript's own role=log region.

import { el } from "./dom.js";

export class Announcer {
  readonly root = el("div", { class: "sr-only", role: "status", "aria-live": "polite", "aria-label": "Presence" });

  say(text: string): void {
    const p = el("p", {}, text);
    this.root.append(p);
    while (this.root.childElementCount > 5) this.root.firstElementChild!.remove();
  }
}
