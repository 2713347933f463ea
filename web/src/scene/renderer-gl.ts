// WebGLRenderer (WebGL 2 or 1), loaded by dynamic import only on the WebGL path.
import { WebGLRenderer } from "three/src/renderers/WebGLRenderer.js";
import { LinearSRGBColorSpace } from "./three.js";
import { CLEAR, SOFTWARE, type RendererInfo, type SceneRenderer } from "./renderer.js";
import type { Scene, PerspectiveCamera } from "./three.js";

export function createRenderer(canvas: HTMLCanvasElement): SceneRenderer {
  const r = new WebGLRenderer({
    canvas, antialias: false, alpha: false, stencil: false, depth: true,
    powerPreference: "high-performance", preserveDrawingBuffer: false,
  });
  r.outputColorSpace = LinearSRGBColorSpace;
  r.setClearColor(CLEAR, 1);
  r.sortObjects = false; // draw order comes from the scene's groups; sorting allocates every frame
  const gl = r.getContext();
  const dbg = gl.getExtension("WEBGL_debug_renderer_info");
  const name = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER) || "");
  return {
    backend: "webgl",
    software: SOFTWARE.test(name),
    render(scene: Scene, camera: PerspectiveCamera) { r.render(scene, camera); },
    setSize(w: number, h: number, pr: number) { r.setPixelRatio(pr); r.setSize(w, h, false); },
    info(out: RendererInfo) {
      out.calls = r.info.render.calls;
      out.triangles = r.info.render.triangles;
      out.geometries = r.info.memory.geometries;
      out.textures = r.info.memory.textures;
    },
    dispose() { r.dispose(); },
  };
}
