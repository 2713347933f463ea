// A standalone page that drives the 3D scene with synthetic avatars: for tests,
// profiling and the benchmark's harness mode. URL parameters:
//   n=200        avatars (one of them "you")
//   webgpu=off   force WebGL (default auto)
//   chat=1000    ms between messages (0: none)
//   portals=3    portals in the room
//   layers=auto  crowds: instanced | merged | auto
//   blank=1      draw nothing but the clear colour (the tests' negative control)
import { createScene, FIRST_FRAME_MARK, type MeshScene } from "../src/scene/index.js";
import type { AvatarInfo, PickHit, PositionSource, Scene, SceneMessage, Trust } from "../src/scene/types.js";

const params = new URLSearchParams(location.search);
const canvas = document.getElementById("c") as HTMLCanvasElement;

const MAX = 4096;
const ids: string[] = [];
const cx = new Float32Array(MAX), cz = new Float32Array(MAX), rad = new Float32Array(MAX);
const spd = new Float32Array(MAX), ph = new Float32Array(MAX);
let n = 0;
let seed = 12345;
function rnd(): number { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 4294967296; }

/** Avatars wander on circles; "you" (index 0) stands still. Allocation-free. */
const source: PositionSource = {
  sample(now: number, visit: (id: string, x: number, z: number, facing: number) => void): void {
    const t = now / 1000;
    for (let i = 0; i < n; i++) {
      const a = ph[i] + spd[i] * t;
      const x = cx[i] + rad[i] * Math.cos(a), z = cz[i] + rad[i] * Math.sin(a);
      // Moving counter-clockwise: the tangent (-sin a, cos a) as a yaw from +z.
      visit(ids[i], x, z, spd[i] === 0 ? 0 : Math.atan2(-Math.sin(a), Math.cos(a)));
    }
  },
};

const trusts: Trust[] = ["local", "local", "local", "federated", "untrusted", "owner"];
function info(i: number): AvatarInfo {
  if (i === 0) return { id: ids[0], name: "you (owner)", kind: "human", trust: "owner", you: true };
  const agent = i % 5 !== 0 && i % 3 !== 0;
  return {
    id: ids[i], name: (agent ? "agent-" : "human-") + i, kind: agent ? "agent" : "human",
    trust: trusts[i % trusts.length], you: false,
  };
}

function setCount(scene: Scene, target: number): void {
  target = Math.max(0, Math.min(MAX, target | 0));
  while (n < target) {
    const i = n;
    ids[i] = i === 0 ? "you" : "a" + i;
    if (i === 0) { cx[i] = 0; cz[i] = 8; rad[i] = 0; spd[i] = 0; ph[i] = 0; }
    else {
      const r = 2 + rnd() * 16, a = rnd() * Math.PI * 2;
      cx[i] = Math.cos(a) * r; cz[i] = Math.sin(a) * r;
      rad[i] = 0.5 + rnd() * 3; spd[i] = (0.2 + rnd() * 0.8) * (rnd() < 0.5 ? -1 : 1); ph[i] = rnd() * 6.28;
    }
    n++;
    scene.upsert(info(i));
  }
  while (n > target) { n--; scene.remove(ids[n]); }
}

const texts = [
  "hello everyone", "running the build now", "tests pass on my side", "who owns the deploy?",
  "I can take the review of the scene module if nobody else has started on it yet",
  "ok", "see the log in data/run.txt", "moving to the design room",
];

async function main(): Promise<void> {
  const layers = params.get("layers");
  const scene = await createScene(canvas, {
    webgpu: params.get("webgpu") === "off" ? "off" : "auto",
    layers: layers === "instanced" || layers === "merged" ? layers : "auto",
  });
  const ms = scene as MeshScene;
  const portals = Number(params.get("portals") ?? 3);
  const portalList = Array.from({ length: portals }, (_, i) => ({ id: "room-" + i, name: ["design", "ops", "random", "support", "research"][i % 5] + (i >= 5 ? "-" + i : "") }));
  scene.setRoom({ id: "lobby", name: "Lobby", size: 40 }, portalList);
  const picks: PickHit[] = [];
  scene.onPick((h) => picks.push(h));
  setCount(scene, Number(params.get("n") ?? 200));
  if (params.get("blank") === "1") ms.scene.visible = false;
  let frames = 0;
  scene.start(source, () => { frames++; });
  window.addEventListener("resize", () => scene.resize(innerWidth, innerHeight));
  scene.resize(innerWidth, innerHeight);

  let k = 0;
  const chat = Number(params.get("chat") ?? 1000);
  const say = () => {
    if (n < 2) return;
    k++;
    const from = ids[1 + (k * 7919) % (n - 1)];
    const m: SceneMessage = { from, kind: "chat", text: texts[k % texts.length], flagged: k % 7 === 0, untrusted: k % 11 === 0 };
    if (k % 5 === 0) { m.from = ids[0]; m.kind = "command"; m.to = from; m.text = "run tests --all"; m.flagged = m.untrusted = false; }
    if (k % 5 === 1 && k > 1) { m.kind = "result"; m.to = ids[0]; m.text = "ok: 42 passed"; }
    scene.message(m);
  };
  if (chat > 0) setInterval(say, chat);

  const api = {
    scene, picks,
    setCount: (c: number) => setCount(scene, c),
    count: () => n,
    say: (m: SceneMessage) => scene.message(m),
    setRoom: (name: string, p: number) => {
      scene.setRoom({ id: name, name, size: 40 }, Array.from({ length: p }, (_, i) => ({ id: name + "-p" + i, name: "portal " + i })));
      const c = n; n = 0; setCount(scene, c);
    },
    memory: () => ms.memory(),
    pulses: () => ms.pulses(),
    project: (x: number, y: number, z: number) => ms.project(x, y, z),
    where: (id: string) => ms.where(id),
    portalAt: (i: number) => ms.portalAt(i),
    firstFrame: () => performance.getEntriesByName(FIRST_FRAME_MARK)[0]?.startTime ?? -1,
  };
  Object.assign(window, {
    __harness: api,
    __mesh: {
      mode: "3d", backend: scene.backend, layers: ms.layers, you: ids[0],
      avatars: () => scene.stats().avatars, stats: () => scene.stats(),
      get frames() { return frames; },
    },
  });
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  document.body.dataset.error = String(err && err.stack || err);
  console.error(err);
});
