// The room list: every room on the node, the current one marked; picking
// one moves you there.

import type { Room } from "../net/protocol.js";
import { el } from "./dom.js";

export class Rooms {
  readonly root: HTMLElement;
  private list: HTMLUListElement;
  private rooms: Room[] = [];
  private current = "";

  constructor(private onPick: (id: string) => void) {
    this.list = el("ul", { class: "rooms" });
    this.root = el("nav", { class: "panel rooms-panel", "aria-labelledby": "rooms-h" }, el("h2", { id: "rooms-h" }, "Rooms"), this.list);
  }

  set(rooms: Room[]): void {
    this.rooms = rooms;
    this.render();
  }

  all(): Room[] { return this.rooms; }
  get(id: string): Room | undefined { return this.rooms.find((r) => r.id === id); }

  select(id: string): void {
    this.current = id;
    this.render();
  }

  private render(): void {
    this.list.replaceChildren(...this.rooms.map((r) => {
      const b = el("button", { type: "button", class: "room", title: r.topic ?? r.name }, r.name);
      if (r.id === this.current) b.setAttribute("aria-current", "true");
      b.addEventListener("click", () => this.onPick(r.id));
      return el("li", {}, b);
    }));
  }
}
