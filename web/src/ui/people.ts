// The participant list (role=list) of who is present in the room, with
// their kind, trust and idle state. Someone is idle after a minute without
// moving or speaking (you: also while the page is hidden).

import type { Participant } from "../net/protocol.js";
import { el, homeBadge } from "./dom.js";

export const IDLE_MS = 60_000;

interface Entry { p: Participant; li: HTMLLIElement; state: HTMLElement; active: number; idle: boolean }

export class People {
  readonly root: HTMLElement;
  private list: HTMLUListElement;
  private entries = new Map<string, Entry>();
  private you = "";

  constructor(private onIdle: (id: string, idle: boolean) => void, private onPick: (id: string) => void) {
    this.list = el("ul", { class: "people", role: "list", "aria-labelledby": "people-h", tabindex: "0" });
    this.root = el("section", { class: "panel people-panel", "aria-labelledby": "people-h" },
      el("h2", { id: "people-h" }, "Participants"), this.list);
  }

  reset(you: string): void {
    this.you = you;
    this.entries.clear();
    this.list.replaceChildren();
  }

  /** set adds or updates someone present. */
  set(p: Participant, now: number): void {
    const old = this.entries.get(p.id);
    const state = el("span", { class: "state" }, "active");
    const name = el("button", { type: "button", class: "person", title: "Address a message to " + p.name }, p.name);
    name.addEventListener("click", () => this.onPick(p.id));
    const li = el("li", { class: `kind-${p.kind} trust-${p.trust}` }, name,
      p.id === this.you ? el("span", { class: "you" }, "(you)") : null,
      el("span", { class: `badge kind-${p.kind}` }, p.kind),
      el("span", { class: `badge trust trust-${p.trust}` }, p.trust), homeBadge(p.id), state);
    if (old) old.li.replaceWith(li);
    else this.list.append(li);
    this.entries.set(p.id, { p, li, state, active: now, idle: false });
    this.sort();
  }

  remove(id: string): void {
    this.entries.get(id)?.li.remove();
    this.entries.delete(id);
  }

  has(id: string): boolean { return this.entries.has(id); }
  get(id: string): Participant | undefined { return this.entries.get(id)?.p; }
  all(): Participant[] { return [...this.entries.values()].map((e) => e.p); }
  isIdle(id: string): boolean { return this.entries.get(id)?.idle ?? false; }

  /** touch records activity (a move, a message). */
  touch(id: string, now: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.active = now;
    if (e.idle) this.mark(e, false);
  }

  /** tick marks the idle; call it every few seconds. */
  tick(now: number, youAway: boolean): void {
    for (const e of this.entries.values()) {
      const idle = now - e.active >= IDLE_MS || (e.p.id === this.you && youAway);
      if (idle !== e.idle) this.mark(e, idle);
    }
  }

  private mark(e: Entry, idle: boolean): void {
    e.idle = idle;
    e.state.textContent = idle ? "idle" : "active";
    e.li.classList.toggle("idle", idle);
    this.onIdle(e.p.id, idle);
  }

  private sort(): void {
    const items = [...this.entries.values()].sort((a, b) =>
      Number(b.p.id === this.you) - Number(a.p.id === this.you) || a.p.name.localeCompare(b.p.name));
    items.forEach((e, i) => { if (this.list.children[i] !== e.li) this.list.insertBefore(e.li, this.list.children[i] ?? null); });
  }
}
