// The only place the scene names three.js modules. Deep imports from three/src
// (not 'three' or 'three/webgpu') let esbuild keep just the classes used: the
// shared part of three is ~43 KB gzipped, WebGLRenderer ~100 KB more, and a
// WebGPU-only Renderer with a two-material node library ~135 KB more (see
// renderer-gl.ts, renderer-gpu.ts). Every file imports three from here or from
// those two, so all use the same class instances.
export { Scene } from "three/src/scenes/Scene.js";
export { PerspectiveCamera } from "three/src/cameras/PerspectiveCamera.js";
export { Object3D } from "three/src/core/Object3D.js";
export { Group } from "three/src/objects/Group.js";
export { Mesh } from "three/src/objects/Mesh.js";
export { InstancedMesh } from "three/src/objects/InstancedMesh.js";
export { LineSegments } from "three/src/objects/LineSegments.js";
export { BufferGeometry } from "three/src/core/BufferGeometry.js";
export { BufferAttribute, Float32BufferAttribute } from "three/src/core/BufferAttribute.js";
export { InstancedBufferAttribute } from "three/src/core/InstancedBufferAttribute.js";
export { MeshBasicMaterial } from "three/src/materials/MeshBasicMaterial.js";
export { LineBasicMaterial } from "three/src/materials/LineBasicMaterial.js";
export { Material } from "three/src/materials/Material.js";
export { DataTexture } from "three/src/textures/DataTexture.js";
export { Color } from "three/src/math/Color.js";
export { Vector3 } from "three/src/math/Vector3.js";
export { Matrix4 } from "three/src/math/Matrix4.js";
export { ColorManagement } from "three/src/math/ColorManagement.js";
export { CylinderGeometry } from "three/src/geometries/CylinderGeometry.js";
export { OctahedronGeometry } from "three/src/geometries/OctahedronGeometry.js";
export { BoxGeometry } from "three/src/geometries/BoxGeometry.js";
export {
  AdditiveBlending, NormalBlending, DoubleSide, LinearSRGBColorSpace, DynamicDrawUsage,
  LinearFilter, LinearMipmapLinearFilter, RGBAFormat, UnsignedByteType,
} from "three/src/constants.js";
