// Types shared by the shell and the 3D scene (see /work/wt/specs/WEB.md).
// The shell imports only this file from scene/, so the 2D bundle never
// contains three.js.

export type Trust = "owner" | "local" | "federated" | "untrusted";
export type Kind = "human" | "agent";

export interface AvatarInfo {
  id: string;
  name: string;
  kind: Kind;
  trust: Trust;
  you: boolean;
}

export interface SceneMessage {
  from: string;
  to?: string;
  kind: "chat" | "command" | "result" | "event";
  text: string;
  flagged: boolean;
  untrusted: boolean;
}

export type Pick =
  | { kind: "floor"; x: number; z: number }
  | { kind: "portal"; room: string }
  | { kind: "avatar"; id: string };

export interface SceneStats {
  fps: number;
  drawCalls: number;
  triangles: number;
  avatars: number;
  frameMs: number;
}

export interface Scene {
  readonly backend: "webgpu" | "webgl";
  setRoom(room: { id: string; name: string; size: number }, portals: { id: string; name: string }[]): void; // disposes the previous room's objects
  upsert(a: AvatarInfo): void; // arrival animated when new
  remove(id: string): void; // departure animated
  setIdle(id: string, idle: boolean): void; // idle avatars dim
  message(m: SceneMessage): void; // bubble over speaker + pulse of light to listeners (or to `to`)
  start(source: PositionSource, beforeFrame: (now: number, dt: number) => void): void; // THE animation loop
  onPick(cb: (hit: Pick) => void): void;
  stats(): SceneStats; // avatars = count taken from the scene graph
  resize(w: number, h: number): void;
  dispose(): void;
}

// PositionSource is implemented by world/model.ts; sample allocates nothing.
export interface PositionSource {
  sample(now: number, visit: (id: string, x: number, z: number, facing: number) => void): void;
}

export type CreateScene = (canvas: HTMLCanvasElement, opts: { webgpu: "auto" | "off" }) => Promise<Scene>;
