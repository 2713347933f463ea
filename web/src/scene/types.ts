// Types shared between the shell and the 3D scene (WEB.md). This file imports
// nothing, so the shell (and the 2D bundle) can use it without three.js.

export type Backend = "webgpu" | "webgl";
export type Kind = "human" | "agent";
export type Trust = "owner" | "local" | "federated" | "untrusted";
export type MessageKind = "chat" | "command" | "result" | "event";

export interface SceneOptions {
  /** "auto": WebGPU where navigator.gpu gives an adapter, WebGL otherwise; "off": WebGL. */
  webgpu: "auto" | "off";
  /** Crowds: "instanced" (InstancedMesh) or "merged" (vertices on the CPU, faster on software
   * rasterizers). "auto" (default): merged when the GPU is a software one, instanced otherwise. */
  layers?: "auto" | "instanced" | "merged";
}

export interface RoomInfo { id: string; name: string; size: number }
export interface PortalInfo { id: string; name: string }

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
  kind: MessageKind;
  text: string;
  flagged: boolean;
  untrusted: boolean;
}

export type PickHit =
  | { kind: "floor"; x: number; z: number }
  | { kind: "portal"; room: string }
  | { kind: "avatar"; id: string };

export interface SceneStats {
  /** Frames per second over the last second or so. */
  fps: number;
  /** Draw calls and triangles of the last frame (renderer.info). */
  drawCalls: number;
  triangles: number;
  /** Avatars present, counted from the instanced meshes (those animating out excluded). */
  avatars: number;
  /** JS time of the last frame: beforeFrame + update + render, in ms. */
  frameMs: number;
}

/** Implemented by world/model.ts; sample must not allocate. */
export interface PositionSource {
  sample(now: number, visit: (id: string, x: number, z: number, facing: number) => void): void;
}

export interface Scene {
  readonly backend: Backend;
  /** Disposes the previous room's objects; avatars, bubbles and pulses are cleared too (upsert the members again). */
  setRoom(room: RoomInfo, portals: PortalInfo[]): void;
  /** Adds (arrival animated) or updates an avatar. */
  upsert(a: AvatarInfo): void;
  /** Departure animated. */
  remove(id: string): void;
  setIdle(id: string, idle: boolean): void;
  /** Bubble over the speaker and a pulse of light to the listeners (or to `to`). */
  message(m: SceneMessage): void;
  /**
   * The animation loop (requestAnimationFrame): beforeFrame, source.sample,
   * update, render. now: performance.now() in ms; dt: ms since the previous
   * frame, at most 100. Calling it again swaps the source and callback.
   */
  start(source: PositionSource, beforeFrame: (now: number, dt: number) => void): void;
  onPick(cb: (hit: PickHit) => void): void;
  stats(): SceneStats;
  resize(w: number, h: number): void;
  dispose(): void;
}

export type CreateScene = (canvas: HTMLCanvasElement, opts: SceneOptions) => Promise<Scene>;
