// What the scene needs from a renderer, the same for WebGL and WebGPU.
import type { Backend } from "./types.js";
import type { Scene, PerspectiveCamera } from "./three.js";

export interface RendererInfo { calls: number; triangles: number; geometries: number; textures: number }

export interface SceneRenderer {
  readonly backend: Backend;
  /** A software rasterizer (SwiftShader, llvmpipe...): per-instance costs are high there. */
  readonly software: boolean;
  render(scene: Scene, camera: PerspectiveCamera): void;
  setSize(w: number, h: number, pixelRatio: number): void;
  /** Fills out from renderer.info (last frame's calls and triangles, live geometries and textures). */
  info(out: RendererInfo): void;
  dispose(): void;
}

/** Display-space colours: no colour management, linear output, so neither renderer needs an output pass. */
export const CLEAR = 0x05070d;

export const SOFTWARE = /swiftshader|llvmpipe|softpipe|lavapipe|software|basic render/i;
