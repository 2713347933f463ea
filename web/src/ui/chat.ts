// The chat panel: the room's transcript (role=log, a polite live region)
// with trust and flags marked in words and colour, commands and results set
// apart, and the message box with an optional addressee.

import type { Envelope, Participant } from "../net/protocol.js";
import { bridgedText } from "./bridged.js";
import { el, hhmm, homeBadge, lockIcon } from "./dom.js";

const MAX_LINES = 500;

export class Chat {
  readonly root: HTMLElement;
  readonly input: HTMLInputElement;
  private list: HTMLOListElement;
  private to: HTMLSelectElement;
  private ids = new Set<string>();

  constructor(private nameOf: (id: string) => string, onSay: (text: string, to: string) => void) {
    this.list = el("ol", { class: "transcript" });
    this.input = el("input", { id: "say-input", autocomplete: "off", maxlength: "8192", placeholder: "Say something…" });
    this.to = el("select", { id: "say-to" }, el("option", { value: "" }, "everyone"));
    const form = el("form", { class: "say", "aria-label": "Send a message" },
      el("label", { for: "say-to", class: "sr-only" }, "To"), this.to,
      el("label", { for: "say-input", class: "sr-only" }, "Message"), this.input,
      el("button", { type: "submit" }, "Send"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      onSay(text, this.to.value);
    });
    this.root = el("section", { class: "panel chat", "aria-labelledby": "chat-h" },
      el("h2", { id: "chat-h" }, "Messages"),
      el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" }, this.list),
      form);
  }

  clear(): void {
    this.list.replaceChildren();
    this.ids.clear();
  }

  /** setMembers lists who a message may be addressed to. */
  setMembers(people: Participant[], you: string): void {
    const keep = this.to.value;
    this.to.replaceChildren(el("option", { value: "" }, "everyone"),
      ...people.filter((p) => p.id !== you).map((p) => el("option", { value: p.id }, p.name)));
    this.to.value = [...this.to.options].some((o) => o.value === keep) ? keep : "";
  }

  /** address picks the addressee (an avatar picked in the scene). */
  address(id: string): void {
    if ([...this.to.options].some((o) => o.value === id)) this.to.value = id;
    this.input.focus();
  }

  /** add shows an envelope once (history, live and resume may repeat it). */
  add(m: Envelope): void {
    if (this.ids.has(m.id)) return;
    this.ids.add(m.id);
    const flagged = !!m.flags?.length;
    const li = el("li", { class: `msg kind-${m.kind} trust-${m.trust}${flagged ? " flagged" : ""}` },
      el("span", { class: "who" },
        el("span", { class: "name" }, m.from.name),
        el("span", { class: `badge kind-${m.from.kind}` }, m.from.kind),
        el("span", { class: `badge trust trust-${m.trust}`, title: "trust set by the node" }, m.trust),
        homeBadge(m.from.id)),
      m.to ? el("span", { class: "to" }, "to " + this.nameOf(m.to)) : null,
      el("time", { datetime: m.ts }, hhmm(m.ts)),
      m.e2e ? lock() : null,
      m.bridged ? el("p", { class: "bridged" }, bridgedText(m)) : null,
      body(m),
      flagged ? el("p", { class: "flags" }, el("strong", {}, "Flagged: "), m.flags!.join(", ")) : null);
    this.append(li);
  }

  /** note shows a line from the client itself (joins, errors, command output). */
  note(text: string, cls = "note"): void {
    this.append(el("li", { class: "msg " + cls }, el("p", { class: "text" }, text)));
  }

  private append(li: HTMLElement): void {
    const box = this.list.parentElement!;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    this.list.append(li);
    while (this.list.childElementCount > MAX_LINES) this.list.firstElementChild!.remove();
    if (atEnd) box.scrollTop = box.scrollHeight;
  }
}

function body(m: Envelope): HTMLElement {
  const b = m.body ?? {};
  switch (m.kind) {
    case "command":
      return el("p", { class: "text" }, el("span", { class: "tag" }, "command "), el("code", {}, b.command ?? ""),
        b.args !== undefined ? el("code", { class: "args" }, " " + JSON.stringify(b.args)) : null);
    case "result":
      return el("div", { class: "text" }, el("span", { class: "tag" }, b.ok ? "result: ok" : "result: failed"),
        b.output ? el("pre", {}, b.output) : null);
    case "event":
      return el("p", { class: "text" }, eventText(b.event));
    case "encrypted":
      return el("p", { class: "text undecryptable" }, m.undecryptable ? `Cannot decrypt (${reasons[m.undecryptable]})` : "(encrypted)");
    default:
      return el("p", { class: "text" }, b.text ?? "");
  }
}

/** Why a message did not open, in words (the SDK's undecryptable reasons). */
const reasons: Record<NonNullable<Envelope["undecryptable"]>, string> = {
  no_key: "this browser was not in the room when it was sent, or lost its key; it needs re-keying",
  bad_signature: "its signature does not check out",
  not_member: "the sending device is not in the room's roster",
  corrupt: "it is damaged",
};

/** lock marks a message that came end-to-end encrypted and opened here. */
function lock(): HTMLElement {
  return el("span", { class: "lock", title: "end-to-end encrypted" }, lockIcon(), el("span", { class: "sr-only" }, "end-to-end encrypted"));
}

function eventText(e: Envelope["body"]["event"]): string {
  if (!e) return "event";
  switch (e.type) {
    case "data.put": return `put ${e.path ?? ""}`;
    case "data.delete": return `deleted ${e.path ?? ""}`;
    case "moderation": return `${e.action ?? "moderated"} ${e.target ?? ""}`;
    case "policy": return "changed the room's policy";
    case "e2e.epoch": return `encryption keys changed (epoch ${e.e2e?.epoch ?? "?"}, ${e.e2e?.devices.length ?? 0} devices)`;
    default: return e.type;
  }
}
