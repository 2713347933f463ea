// The terminal panel: slash commands (/join, /say, /who, /cmd, /help) and,
// when asked, every raw frame in and out.

import { el } from "./dom.js";

export interface Actions {
  join(room: string): Promise<void>;
  say(text: string): Promise<void>;
  who(): string[];
  rooms(): string[];
  cmd(target: string, name: string, args: unknown): Promise<string>;
}

const MAX_LINES = 400;

export const HELP = [
  "/join ROOM             go to another room",
  "/say TEXT              say TEXT in this room (plain text does the same)",
  "/who                   who is here",
  "/rooms                 every room on the node",
  "/cmd TARGET NAME ARGS  ask TARGET (a name or id) to run NAME; ARGS is JSON or text",
  "/help                  this list",
];

export class Terminal {
  readonly root: HTMLElement;
  private out: HTMLElement;
  private raw: HTMLInputElement;

  constructor(private actions: Actions) {
    this.out = el("div", { class: "term-out", tabindex: "0", "aria-label": "Terminal output" });
    const input = el("input", { id: "term-input", autocomplete: "off", spellcheck: "false", placeholder: "/help" });
    this.raw = el("input", { id: "term-raw", type: "checkbox" });
    const form = el("form", { class: "term-form", "aria-label": "Run a command" },
      el("label", { for: "term-input", class: "prompt" }, "Command"), input, el("button", { type: "submit" }, "Run"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const line = input.value.trim();
      input.value = "";
      if (line) void this.run(line);
    });
    this.root = el("section", { class: "panel terminal", "aria-labelledby": "term-h" },
      el("div", { class: "term-head" }, el("h2", { id: "term-h" }, "Terminal"),
        el("label", { class: "toggle" }, this.raw, " Show raw frames")),
      this.out, form);
  }

  /** frame shows a raw frame when the toggle is on. */
  frame(text: string, dir: "in" | "out"): void {
    if (!this.raw.checked) return;
    this.print((dir === "in" ? "← " : "→ ") + (text.length > 600 ? text.slice(0, 600) + "…" : text), "frame " + dir);
  }

  print(text: string, cls = "line"): void {
    const box = this.out;
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.append(el("div", { class: cls }, text));
    while (box.childElementCount > MAX_LINES) box.firstElementChild!.remove();
    if (atEnd) box.scrollTop = box.scrollHeight;
  }

  async run(line: string): Promise<void> {
    this.print("> " + line, "echo");
    const [word, rest] = split(line);
    try {
      switch (line.startsWith("/") ? word : "/say") {
        case "/help": HELP.forEach((h) => this.print(h)); break;
        case "/join":
          if (!rest) throw new Error("usage: /join ROOM");
          await this.actions.join(rest);
          break;
        case "/say": {
          const text = line.startsWith("/") ? rest : line;
          if (!text) throw new Error("usage: /say TEXT");
          await this.actions.say(text);
          break;
        }
        case "/who": this.actions.who().forEach((w) => this.print(w)); break;
        case "/rooms": this.actions.rooms().forEach((r) => this.print(r)); break;
        case "/cmd": {
          const [target, more] = split(rest);
          const [name, argText] = split(more);
          if (!target || !name) throw new Error("usage: /cmd TARGET NAME ARGS");
          this.print(await this.actions.cmd(target, name, parseArgs(argText)));
          break;
        }
        default: throw new Error(`unknown command ${word}; try /help`);
      }
    } catch (e) {
      this.print((e as Error).message, "err");
    }
  }
}

function split(s: string): [string, string] {
  const t = s.trim();
  const i = t.search(/\s/);
  return i < 0 ? [t, ""] : [t.slice(0, i), t.slice(i + 1).trim()];
}

/** parseArgs reads ARGS as JSON when it is JSON, else as text; none is undefined. */
export function parseArgs(s: string): unknown {
  if (!s) return undefined;
  try { return JSON.parse(s); } catch { return s; }
}
