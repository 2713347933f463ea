// Which WebSocket to use: the one given, the platform's (browsers, Node
// 22+), or the "ws" package (Node 20), loaded only when needed.

/** WebSocketLike is the part of the standard WebSocket the SDK uses. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export const OPEN = 1;

/**
 * resolveWebSocket returns given, else globalThis.WebSocket, else the
 * "ws" package's. The import's specifier is a variable so that bundlers
 * for the browser leave "ws" out.
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  const platform = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (platform) return platform;
  const name = "ws";
  try {
    const mod = (await import(name)) as { WebSocket?: WebSocketConstructor; default?: WebSocketConstructor };
    const ctor = mod.WebSocket ?? mod.default;
    if (ctor) return ctor;
  } catch {
    // fall through to the error below
  }
  throw new Error('mesh: no WebSocket: pass the WebSocket option, or install the "ws" package (Node 20)');
}

/** onControl calls fn for each WebSocket ping or pong the node sends, where the socket shows them ("ws" does; browsers do not). */
export function onControl(sock: WebSocketLike, fn: () => void): void {
  const on = (sock as { on?: (event: string, fn: () => void) => void }).on;
  if (typeof on !== "function") return;
  on.call(sock, "ping", fn);
  on.call(sock, "pong", fn);
}

/** kill closes sock: gracefully with 1000, or else at once ("ws" sockets are terminated). */
export function kill(sock: WebSocketLike, graceful: boolean): void {
  try {
    const terminate = (sock as { terminate?: () => void }).terminate;
    if (!graceful && typeof terminate === "function") terminate.call(sock);
    else sock.close(1000);
  } catch {
    // already closed, or closed before it opened
  }
}
