// Shapes describe the JSON the protocol carries, field by field, so that
// one description serves three decoders: the strict one that mirrors the
// node (unknown keys refused, types checked, in the node's words), and the
// tolerant one for what the node sends (unknown keys dropped, types and
// required fields checked).

import { invalid, MeshError } from "./errors.js";
import type { KeyEvent } from "./json.js";
import { joinPath } from "./json.js";

export type Shape =
  | { t: "string" | "bool" | "uint" | "int" | "number" | "any" }
  | { t: "object"; fields: Record<string, Shape>; required: readonly string[] }
  | { t: "map"; of: Shape }
  | { t: "array"; of: Shape };

export const S = {
  string: { t: "string" } as Shape,
  bool: { t: "bool" } as Shape,
  uint: { t: "uint" } as Shape,
  int: { t: "int" } as Shape,
  number: { t: "number" } as Shape,
  any: { t: "any" } as Shape,
  object(fields: Record<string, Shape>, required: readonly string[] = []): Shape {
    return { t: "object", fields, required };
  },
  map(of: Shape): Shape {
    return { t: "map", of };
  },
  array(of: Shape): Shape {
    return { t: "array", of };
  },
};

const kindWords: Record<string, string> = {
  string: "a string",
  bool: "a boolean",
  uint: "a non-negative integer",
  int: "an integer",
  number: "a number",
  object: "an object",
  map: "an object",
  array: "an array",
};

/** jsonType names the JSON type of v as Go's decoder does ("number", "array", ...). */
function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v; // "string", "number", "object"
}

function childShape(s: Shape | undefined, seg: string): Shape | undefined {
  if (!s) return undefined;
  switch (s.t) {
    case "object":
      return s.fields[seg];
    case "map":
      return s.of;
    case "array":
      return seg === "[]" ? s.of : undefined;
  }
  return undefined;
}

/**
 * refuseKeys checks the object keys of a parsed document, in document
 * order, as the node does: a key given twice anywhere, or a key that is
 * not a field where the shape is an object, is refused (keys are matched
 * with their exact case).
 */
export function refuseKeys(keys: readonly KeyEvent[], root: Shape): void {
  for (const k of keys) {
    if (k.dup) throw invalid(`Field "${k.path}" is given twice.`);
    let s: Shape | undefined = root;
    for (const seg of k.parent) s = childShape(s, seg);
    if (s?.t === "object" && !Object.hasOwn(s.fields, k.key)) throw invalid(`Unknown field "${k.path}".`);
  }
}

/**
 * checkTypes checks that every field of v has its shape's type, as Go's
 * decoder does: null is accepted anywhere (it leaves the field empty), and
 * the first mismatch is refused with "Field "path" must be ...". Struct
 * fields extend the path; map values and array elements do not.
 */
export function checkTypes(v: unknown, s: Shape, path = ""): void {
  if (v === null || s.t === "any") return;
  const mismatch = (): MeshError => {
    let got = jsonType(v);
    if (got === "number" && (s.t === "uint" || s.t === "int")) got = "number " + String(v);
    if (path === "") return invalid(`Expected a JSON object, got ${got}.`);
    return invalid(`Field "${path}" must be ${kindWords[s.t]}, got ${got}.`);
  };
  switch (s.t) {
    case "string":
      if (typeof v !== "string") throw mismatch();
      return;
    case "bool":
      if (typeof v !== "boolean") throw mismatch();
      return;
    case "number":
      if (typeof v !== "number") throw mismatch();
      return;
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v)) throw mismatch();
      return;
    case "uint":
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw mismatch();
      return;
    case "array":
      if (!Array.isArray(v)) throw mismatch();
      for (const e of v) checkTypes(e, s.of, path);
      return;
    case "map":
    case "object":
      if (typeof v !== "object" || Array.isArray(v)) throw mismatch();
      for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
        if (s.t === "map") checkTypes(e, s.of, path);
        else if (Object.hasOwn(s.fields, k)) checkTypes(e, s.fields[k]!, joinPath(path, k));
      }
  }
}

/**
 * pick decodes v, something the node sent, to its shape: it checks types
 * and required fields (what: the name of the thing, for messages), drops
 * unknown keys (clients ignore fields they do not know), and drops null
 * optional fields. The result holds only the shape's fields.
 */
export function pick(v: unknown, s: Shape, what: string, path = ""): unknown {
  const where = path === "" ? what : `${what}: field "${path}"`;
  const fail = (want: string): never => {
    throw invalid(`${where} must be ${want}, got ${v === null ? "null" : jsonType(v)}.`);
  };
  switch (s.t) {
    case "any":
      return v;
    case "string":
      return typeof v === "string" ? v : fail("a string");
    case "bool":
      return typeof v === "boolean" ? v : fail("a boolean");
    case "number":
      return typeof v === "number" ? v : fail("a number");
    case "int":
      return typeof v === "number" && Number.isInteger(v) ? v : fail("an integer");
    case "uint":
      return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : fail("a non-negative integer");
    case "array":
      if (!Array.isArray(v)) return fail("an array");
      return v.map((e, i) => pick(e, s.of, what, `${path}[${i}]`));
    case "map": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return fail("an object");
      const out: Record<string, unknown> = {};
      for (const [k, e] of Object.entries(v)) define(out, k, pick(e, s.of, what, joinPath(path, k)));
      return out;
    }
    case "object": {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return fail("an object");
      const src = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, fs] of Object.entries(s.fields)) {
        const e = Object.hasOwn(src, k) ? src[k] : undefined;
        if (e === undefined || e === null) {
          if (s.required.includes(k)) throw invalid(`${what}: field "${joinPath(path, k)}" is missing.`);
          continue;
        }
        out[k] = pick(e, fs, what, joinPath(path, k));
      }
      return out;
    }
  }
}

/** define sets o[k] = v as an own property, also when k is "__proto__". */
export function define(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === "__proto__") Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}
