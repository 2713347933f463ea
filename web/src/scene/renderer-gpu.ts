// A WebGPU-only three.js Renderer, loaded by dynamic import only when
// navigator.gpu gave an adapter. WebGPURenderer would also bundle the WebGL2
// backend and every node material; this keeps the two materials the scene uses
// (MeshBasicMaterial and LineBasicMaterial, mapped to their node versions).
import Renderer from "three/src/renderers/common/Renderer.js";
import WebGPUBackend from "three/src/renderers/webgpu/WebGPUBackend.js";
import NodeLibrary from "three/src/renderers/common/nodes/NodeLibrary.js";
import MeshBasicNodeMaterial from "three/src/materials/nodes/MeshBasicNodeMaterial.js";
import LineBasicNodeMaterial from "three/src/materials/nodes/LineBasicNodeMaterial.js";
import { Color, LinearSRGBColorSpace } from "./three.js";
import { CLEAR, SOFTWARE, type RendererInfo, type SceneRenderer } from "./renderer.js";
import type { Scene, PerspectiveCamera } from "./three.js";

/** adapterInfo: GPUAdapter.info of the adapter found (vendor, architecture, description). */
export async function createRenderer(canvas: HTMLCanvasElement, adapterInfo = ""): Promise<SceneRenderer> {
  const params = { canvas, antialias: false, alpha: false, stencil: false, depth: true };
  const r = new Renderer(new WebGPUBackend(params), params);
  const lib = new NodeLibrary();
  lib.addMaterial(MeshBasicNodeMaterial, "MeshBasicMaterial");
  lib.addMaterial(LineBasicNodeMaterial, "LineBasicMaterial");
  r.library = lib;
  r.outputColorSpace = LinearSRGBColorSpace;
  r.sortObjects = false; // draw order comes from the scene's groups
  r.setClearColor(new Color(CLEAR), 1);
  await r.init();
  return {
    backend: "webgpu",
    software: SOFTWARE.test(adapterInfo),
    render(scene: Scene, camera: PerspectiveCamera) { r.render(scene, camera); },
    setSize(w: number, h: number, pr: number) { r.setPixelRatio(pr); r.setSize(w, h, false); },
    info(out: RendererInfo) {
      out.calls = r.info.render.drawCalls;
      out.triangles = r.info.render.triangles;
      out.geometries = r.info.memory.geometries;
      out.textures = r.info.memory.textures;
    },
    dispose() { r.dispose(); },
  };
}
