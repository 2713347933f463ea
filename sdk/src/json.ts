// A strict JSON parser: what the node's decoder refuses, this refuses too,
// with the same words. JSON.parse lets keys given twice through silently
// (the last wins); this parser reports them, in document order, so that a
// caller can refuse them as the node does ("Field \"x\" is given twice.").

import { invalid, MeshError } from "./errors.js";

/** A key of an object, in document order. `path` is where its value sits. */
export interface KeyEvent {
  /** The segments above the key: object keys, and "[]" for array elements. */
  parent: string[];
  key: string;
  /** The key's dotted path, e.g. "resume.lobby" or "a[].b". */
  path: string;
  /** The key was already given in the same object. */
  dup: boolean;
}

export interface Parsed {
  value: unknown;
  keys: KeyEvent[];
  /** Something other than whitespace follows the value (only with first: true). */
  trailing: boolean;
}

/** SyntaxFault is malformed JSON: a MeshError (invalid) with the keys read before the fault. */
export class SyntaxFault extends MeshError {
  keys: KeyEvent[] = [];
  /** The input ended too early. */
  eof = false;
}

const maxDepth = 10000;

/** utf8Length returns the number of bytes of s in UTF-8. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** isWellFormed reports whether s has no lone surrogate, so that it is valid UTF-8. */
export function isWellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** toWellFormed replaces every lone surrogate of s with U+FFFD, as Go does with invalid UTF-8. */
export function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

export function joinPath(path: string, key: string): string {
  return path === "" ? key : path + "." + key;
}

/**
 * parseStrict parses exactly one JSON value (whitespace around it allowed)
 * and returns it with its object keys in document order. Malformed JSON is
 * a MeshError with code invalid whose message starts "Malformed JSON".
 * Escaped lone surrogates become U+FFFD, as in Go.
 */
export function parseStrict(text: string, opts: { first?: boolean } = {}): Parsed {
  const p = new Parser(text);
  try {
    p.ws();
    if (p.i >= text.length) throw p.eof();
    const value = p.value([], "", 0);
    p.ws();
    const trailing = p.i < text.length;
    if (trailing && !opts.first) throw p.bad("after top-level value");
    return { value, keys: p.keys, trailing };
  } catch (err) {
    if (err instanceof SyntaxFault) err.keys = p.keys;
    throw err;
  }
}

class Parser {
  i = 0;
  keys: KeyEvent[] = [];
  constructor(readonly s: string) {}

  ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.i++;
    }
  }

  byteOffset(i: number): number {
    return utf8Length(this.s.slice(0, i));
  }

  eof(): SyntaxFault {
    const e = new SyntaxFault("invalid", `Malformed JSON at byte ${this.byteOffset(this.s.length)}: unexpected end of JSON input.`);
    e.eof = true;
    return e;
  }

  bad(context: string): SyntaxFault {
    if (this.i >= this.s.length) return this.eof();
    const ch = String.fromCodePoint(this.s.codePointAt(this.i)!);
    const shown = ch === "'" ? "'\\''" : ch === '"' ? "'\"'" : `'${ch}'`;
    return new SyntaxFault("invalid", `Malformed JSON at byte ${this.byteOffset(this.i + ch.length)}: invalid character ${shown} ${context}.`);
  }

  value(parent: string[], path: string, depth: number): unknown {
    if (depth > maxDepth) throw invalid(`Malformed JSON at byte ${this.byteOffset(this.i)}: exceeded max depth.`);
    const s = this.s;
    if (this.i >= s.length) throw this.eof();
    const c = s[this.i]!;
    switch (c) {
      case "{":
        return this.object(parent, path, depth);
      case "[":
        return this.array(parent, path, depth);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
    }
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    throw this.bad("looking for beginning of value");
  }

  literal<T>(word: string, v: T): T {
    for (let k = 0; k < word.length; k++, this.i++) {
      if (this.i >= this.s.length) {
        // Go's scanner reads the end of input as a space here.
        throw new SyntaxFault("invalid", `Malformed JSON at byte ${this.byteOffset(this.i)}: invalid character ' ' in literal ${word} (expecting '${word[k]}').`);
      }
      if (this.s[this.i] !== word[k]) throw this.bad(`in literal ${word} (expecting '${word[k]}')`);
    }
    return v;
  }

  number(): number {
    const s = this.s;
    const start = this.i;
    const digit = (): boolean => s[this.i] !== undefined && s[this.i]! >= "0" && s[this.i]! <= "9";
    const digits = (context: string): void => {
      if (!digit()) throw this.bad(context);
      while (digit()) this.i++;
    };
    if (s[this.i] === "-") this.i++;
    if (s[this.i] === "0") this.i++;
    else digits("in numeric literal");
    if (s[this.i] === ".") {
      this.i++;
      digits("after decimal point in numeric literal");
    }
    if (s[this.i] === "e" || s[this.i] === "E") {
      this.i++;
      if (s[this.i] === "+" || s[this.i] === "-") this.i++;
      digits("in exponent of numeric literal");
    }
    return Number(s.slice(start, this.i));
  }

  string(): string {
    const s = this.s;
    this.i++; // opening quote
    let out = "";
    let start = this.i;
    for (;;) {
      if (this.i >= s.length) throw this.eof();
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(start, this.i);
        this.i++;
        return out;
      }
      if (c < 0x20) throw this.bad("in string literal");
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(start, this.i);
      this.i++;
      const e = s[this.i];
      const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e !== undefined && e in simple) {
        out += simple[e];
        this.i++;
      } else if (e === "u") {
        const hi = this.hex4();
        if (hi >= 0xd800 && hi <= 0xdbff && s[this.i] === "\\" && s[this.i + 1] === "u") {
          const save = this.i;
          this.i++;
          const lo = this.hex4();
          if (lo >= 0xdc00 && lo <= 0xdfff) out += String.fromCharCode(hi, lo);
          else {
            out += "\ufffd";
            this.i = save;
          }
        } else if (hi >= 0xd800 && hi <= 0xdfff) out += "\ufffd";
        else out += String.fromCharCode(hi);
      } else {
        throw this.bad("in string escape code");
      }
      start = this.i;
    }
  }

  hex4(): number {
    this.i++; // the u
    let v = 0;
    for (let k = 0; k < 4; k++, this.i++) {
      const d = parseInt(this.s[this.i] ?? "", 16);
      if (Number.isNaN(d)) throw this.bad("in \\u hexadecimal character escape");
      v = v * 16 + d;
    }
    return v;
  }

  object(parent: string[], path: string, depth: number): Record<string, unknown> {
    const s = this.s;
    this.i++;
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.ws();
    if (s[this.i] === "}") {
      this.i++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (s[this.i] !== '"') throw this.bad("looking for beginning of object key string");
      const key = this.string();
      const at = joinPath(path, key);
      this.keys.push({ parent, key, path: at, dup: seen.has(key) });
      seen.add(key);
      this.ws();
      if (s[this.i] !== ":") throw this.bad("after object key");
      this.i++;
      this.ws();
      const v = this.value([...parent, key], at, depth + 1);
      if (key === "__proto__") Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
      else obj[key] = v;
      this.ws();
      const c = s[this.i];
      this.i++;
      if (c === "}") return obj;
      if (c !== ",") {
        this.i--;
        throw this.bad("after object key:value pair");
      }
    }
  }

  array(parent: string[], path: string, depth: number): unknown[] {
    const s = this.s;
    this.i++;
    const arr: unknown[] = [];
    this.ws();
    if (s[this.i] === "]") {
      this.i++;
      return arr;
    }
    const elemParent = [...parent, "[]"];
    for (;;) {
      this.ws();
      arr.push(this.value(elemParent, path + "[]", depth + 1));
      this.ws();
      const c = s[this.i];
      this.i++;
      if (c === "]") return arr;
      if (c !== ",") {
        this.i--;
        throw this.bad("after array element");
      }
    }
  }
}

/** keysOf lists the object keys of an already parsed value, in the order parseStrict would (none is a dup). */
export function keysOf(v: unknown, parent: string[] = [], path = ""): KeyEvent[] {
  const out: KeyEvent[] = [];
  if (Array.isArray(v)) {
    for (const e of v) out.push(...keysOf(e, [...parent, "[]"], path + "[]"));
  } else if (typeof v === "object" && v !== null) {
    for (const [k, e] of Object.entries(v)) {
      const at = joinPath(path, k);
      out.push({ parent, key: k, path: at, dup: false }, ...keysOf(e, [...parent, k], at));
    }
  }
  return out;
}
