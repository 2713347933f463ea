// The command router: runs a handler for commands addressed to this
// participant, never for a sender below the handler's trust floor, and
// answers exactly as the Go SDK does (agent/command.go).

import { goQuote } from "./codec.js";
import type { Logger } from "./emitter.js";
import type { Message, Trust } from "./types.js";
import { isTrust, trustRank } from "./types.js";
import { utf8Length } from "./json.js";

/**
 * Command is one request to run a handler: a message of kind command
 * addressed to this client, or a chat message to it whose text starts
 * with "/name".
 */
export interface Command {
  name: string;
  /**
   * The arguments: body.args as sent for a command message (undefined
   * when absent); for a chat command, the text after the name (undefined
   * when there is none). Untrusted input, whatever the sender's trust.
   */
  args: unknown;
  /** The arguments as text: the string itself, else its JSON ("" when none). */
  text: string;
  /** The command came as a "/name" chat message. */
  chat: boolean;
  /** The message that carried it. */
  message: Message;
}

/**
 * CommandHandler runs a command and returns its output. A returned value
 * answers ok:true; a thrown error answers ok:false with "error: <message>"
 * (after err.output, if the error carries one). signal is aborted when the
 * client closes.
 */
export type CommandHandler = (cmd: Command, ctx: { signal: AbortSignal }) => string | Promise<string>;

// Go's unicode.IsSpace.
const space = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const trimSpace = (s: string): string => s.replace(new RegExp(`^${space.source}+|${space.source}+$`, "g"), "");

/** parseCommand finds the command in m, a message addressed to this client, or returns null. */
export function parseCommand(m: Message): Command | null {
  if (m.kind === "command") {
    const name = m.body?.command ?? "";
    if (name === "") return null;
    const args = m.body.args;
    return { name, args, text: argsText(args), chat: false, message: m };
  }
  if (m.kind !== "chat") return null;
  const t = m.body?.text ?? "";
  if (!t.startsWith("/")) return null;
  const rest = t.slice(1);
  const i = rest.search(space);
  const name = i < 0 ? rest : rest.slice(0, i);
  if (name === "") return null;
  const argText = i < 0 ? "" : trimSpace(rest.slice(i));
  return { name, args: argText === "" ? undefined : argText, text: argText, chat: true, message: m };
}

function argsText(args: unknown): string {
  if (args === undefined) return "";
  return typeof args === "string" ? args : JSON.stringify(args);
}

/** refusal says why m may not run a handler that needs minTrust, or returns "". */
export function refusal(m: Message, minTrust: Trust): string {
  if (m.flags && m.flags.length > 0) return `the guard flagged this message (${m.flags.join(",")})`;
  if (trustRank(m.trust) < trustRank(minTrust) || trustRank(m.trust) < 0) {
    return `trust ${m.trust} may not run this command; it needs ${minTrust}`;
  }
  return "";
}

/** truncate cuts s to at most n bytes of UTF-8 (0: no limit), ending in "…" when cut. */
export function truncate(s: string, n: number): string {
  if (n <= 0 || utf8Length(s) <= n) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const b = utf8Length(ch);
    if (bytes + b > n - 3) break;
    out += ch;
    bytes += b;
  }
  return out + "…";
}

/** Answerer is what the router needs to answer: the client it serves. */
export interface Answerer {
  me(): string;
  maxTextBytes(): number;
  /** say posts a chat reply addressed to `to`. */
  say(room: string, text: string, to: string): Promise<unknown>;
  /** result answers the command message `command` (its id), sent by `to`. */
  result(room: string, command: string, ok: boolean, output: string, to: string): Promise<unknown>;
  log: Logger;
}

interface Entry {
  minTrust: Trust;
  fn: CommandHandler;
}

/**
 * CommandRouter runs handlers for commands addressed to its client. At
 * most `limit` handlers run at once (a command arriving meanwhile is
 * answered "busy"), and at most `limit` refusals are being sent (more are
 * dropped, so a flood of refused commands cannot pile up answers).
 */
export class CommandRouter {
  private handlers = new Map<string, Entry>();
  private running = new Set<Promise<void>>(); // handlers and their answers
  private replies = new Set<Promise<void>>(); // refusals
  private readonly abort = new AbortController();

  constructor(
    private readonly out: Answerer,
    private readonly limit = 8,
  ) {}

  /** register sets the handler of a command name (replacing any earlier one). */
  register(name: string, minTrust: Trust, fn: CommandHandler): void {
    if (!isTrust(minTrust)) throw new TypeError(`mesh: command ${JSON.stringify(name)}: unknown trust level ${JSON.stringify(minTrust)}`);
    if (typeof fn !== "function") throw new TypeError(`mesh: command ${JSON.stringify(name)}: the handler is not a function`);
    if (!name || /\s/.test(name) || name.startsWith("/")) throw new TypeError(`mesh: bad command name ${JSON.stringify(name)}`);
    this.handlers.set(name, { minTrust, fn });
  }

  /**
   * route runs the handler for m if m is a command addressed to this
   * client (to = me, not from me) and its trust meets the handler's floor.
   * A non-empty policy refusal (what the room's execute.from says, which
   * the node cannot check in an end-to-end encrypted room) refuses it too.
   * It never waits: the handler runs on its own.
   */
  route(m: Message, policy = ""): void {
    const me = this.out.me();
    if (this.abort.signal.aborted || m.to !== me || m.from.id === me) return;
    const cmd = parseCommand(m);
    if (!cmd) return;
    const h = this.handlers.get(cmd.name);
    if (!h) {
      if (!cmd.chat) this.reply(cmd, false, `unknown command ${goQuote(cmd.name)}`);
      return; // a chat "/name" nobody handles is just chat
    }
    const why = policy || refusal(m, h.minTrust);
    if (why) {
      this.out.log.warn?.(`mesh: command ${cmd.name} from ${m.from.id} (trust ${m.trust}) refused: ${why}`);
      this.reply(cmd, false, "refused: " + why);
      return;
    }
    if (this.running.size >= this.limit) {
      this.reply(cmd, false, `busy: ${this.limit} commands are running; try again later`);
      return;
    }
    const run = (async () => {
      let ok = true;
      let output: string;
      try {
        output = String(await h.fn(cmd, { signal: this.abort.signal }));
      } catch (err) {
        ok = false;
        const e = err as { message?: unknown; output?: unknown };
        const extra = typeof e?.output === "string" ? e.output : "";
        output = trimSpace(extra + "\nerror: " + (e instanceof Error ? e.message : String(err)));
      }
      await this.send(cmd, ok, output);
    })();
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** close aborts the handlers' signal and waits for the running handlers and answers. */
  async close(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.running, ...this.replies]);
  }

  /** reply answers without running a handler; with too many answers in flight it drops the answer. */
  private reply(cmd: Command, ok: boolean, output: string): void {
    if (this.replies.size >= this.limit) {
      this.out.log.warn?.(`mesh: too many answers in flight; not answering ${cmd.name}`);
      return;
    }
    const p = this.send(cmd, ok, output);
    this.replies.add(p);
    void p.finally(() => this.replies.delete(p));
  }

  /** send answers cmd: a result for a command message, a chat reply to the sender for a chat command. */
  private async send(cmd: Command, ok: boolean, output: string): Promise<void> {
    const m = cmd.message;
    const limit = this.out.maxTextBytes();
    try {
      if (cmd.chat) {
        await this.out.say(m.room, truncate(output || (ok ? "ok" : "error"), limit), m.from.id);
      } else {
        await this.out.result(m.room, m.id, ok, truncate(output, limit), m.from.id);
      }
    } catch (err) {
      this.out.log.warn?.(`mesh: could not answer command ${cmd.name} (${m.id})`, err);
    }
  }
}
