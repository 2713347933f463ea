// el builds an element: attributes, then children (strings become text).

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  for (const c of children) if (c) e.append(c);
  return e;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  return e;
}

/** time formats an envelope's timestamp as HH:MM. */
export function hhmm(ts: string): string {
  const d = new Date(ts);
  return isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * homeBadge marks a participant of another node (an id "p_…@node", as the
 * node names federated participants) with its home node; null for a local one.
 */
export function homeBadge(id: string): HTMLElement | null {
  const at = id.indexOf("@");
  if (at < 0) return null;
  const node = id.slice(at + 1);
  return el("span", { class: "badge home", title: "home node " + node }, "@" + node.slice(0, 8));
}

/** lockIcon is a small padlock drawn in the text colour (emoji fonts are not everywhere), hidden from screen readers. */
export function lockIcon(): SVGSVGElement {
  const s = svg("svg", { viewBox: "0 0 16 16", width: 12, height: 12, "aria-hidden": "true", focusable: "false", class: "lock-icon" });
  s.append(svg("path", { d: "M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z", fill: "currentColor" }));
  return s;
}
