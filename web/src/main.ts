// The web client's composition root: log in, connect, build the panels and
// the view (the 3D scene, loaded on demand, or the 2D map), and wire them.

import "./style.css";
import { takeToken, forgetToken, joinScreen } from "./auth.js";
import { Client, indexedDbKeyStore, MeshError, type KeyStore, type Participant } from "@the-mesh/sdk";
import { rooms as listRooms, origin } from "./net/api.js";
import type { CreateScene } from "./scene/types.js";
import { E2E_SENTENCE, Session } from "./session.js";
import { Map2D, type View } from "./map2d.js";
import { Chat } from "./ui/chat.js";
import { People } from "./ui/people.js";
import { Rooms } from "./ui/rooms.js";
import { Announcer } from "./ui/live.js";
import { Terminal } from "./ui/terminal.js";
import { el, lockIcon } from "./ui/dom.js";
import { bindKeys } from "./input.js";
import { installHooks } from "./hooks.js";

type Mode = "2d" | "3d";

async function main(): Promise<void> {
  const body = document.body;
  let token = takeToken() || (await joinScreen(body));
  const params = new URLSearchParams(location.search);
  let client: Client;
  for (;;) {
    // ownMessages: your other tabs' messages, and your own replayed on resume (the chat drops repeats).
    // keys: this browser's device for end-to-end encrypted rooms, kept in IndexedDB per participant.
    client = new Client(origin(), token, { ownMessages: true, keys: deviceKeys(() => client.me.id) });
    try {
      await client.connect();
      break;
    } catch (e) {
      void client.close();
      if (!(e instanceof MeshError) || e.code !== "unauthorized") {
        body.replaceChildren(el("main", { class: "join-screen" }, el("p", { role: "alert" }, `Cannot reach the node: ${(e as Error).message}`)));
        return;
      }
      forgetToken();
      token = await joinScreen(body, "That login is no longer valid; enter a name to join again.");
    }
  }
  const you: Participant = client.me;

  // Panels.
  const live = new Announcer();
  let session: Session | undefined;
  const chat = new Chat((id) => session?.nameOf(id) ?? id, (text, to) => void session?.say(text, to).catch(() => {}));
  const people = new People((id, idle) => view.setIdle(id, idle), (id) => chat.address(id));
  const rooms = new Rooms((id) => void session?.enter(id).catch(() => {}));
  const term = new Terminal({
    join: (r) => session!.join(r), say: (t) => session!.say(t), who: () => session!.who(),
    rooms: () => session!.rooms(), cmd: (t, n, a) => session!.cmd(t, n, a),
  });
  const status = el("p", { class: "status", role: "status", "aria-label": "Connection" }, "connecting");
  const roomName = el("span", { class: "room-name" });
  const e2eNote = el("p", { class: "e2e-note", hidden: "" }, el("span", { class: "lock" }, lockIcon()), E2E_SENTENCE);
  const stage = el("main", { class: "stage", "aria-labelledby": "stage-h" },
    el("h2", { id: "stage-h", class: "sr-only" }, "Room view"),
    el("p", { id: "stage-help", class: "sr-only" }, "Arrow keys or W A S D move you while the view has focus; click the floor to walk there."));
  const switcher = el("a", { class: "switch" });
  body.replaceChildren(el("div", { class: "app" },
    el("header", { class: "bar" }, el("h1", {}, "The Mesh"), roomName, e2eNote, status,
      el("span", { class: "you-are" }, `${you.name} · ${you.trust}`), switcher),
    rooms.root, stage,
    el("aside", { class: "side", "aria-label": "Room activity" }, people.root, chat.root, live.root),
    term.root));

  // The view: 3D unless asked for 2D or the browser can draw neither WebGPU nor WebGL.
  let mode: Mode = params.get("mode") === "2d" || !(await can3D()) ? "2d" : "3d";
  const view: View = mode === "3d" ? (await load3D(stage, params.get("webgpu") === "off")) ?? fallback() : new Map2D(stage);
  function fallback(): View { mode = "2d"; return new Map2D(stage); }
  stage.classList.add("mode-" + mode);
  switcher.textContent = mode === "3d" ? "Switch to 2D" : "Switch to 3D";
  switcher.setAttribute("href", mode === "3d" ? "?mode=2d" : "?mode=3d");
  const focusable = mode === "3d" ? stage.querySelector("canvas")! : stage.appendChild(
    el("div", { class: "map-focus", role: "application", tabindex: "0", "aria-roledescription": "map", "aria-describedby": "stage-help" }));
  if (mode === "2d") focusable.append(stage.querySelector("svg")!);

  let shownRoom = "";
  session = new Session(you, {
    client, view, chat, people, rooms, live,
    e2e(on) { e2eNote.hidden = !on; },
    onRoom(id, name, n) {
      roomName.textContent = name;
      const q = new URLSearchParams(location.search); // a reload, or the mode switch, comes back to this room
      q.set("room", id);
      if (id !== shownRoom) { // not on every arrival: replaceState is slow
        history.replaceState(null, "", "?" + q.toString());
        shownRoom = id;
      }
      q.set("mode", mode === "3d" ? "2d" : "3d");
      switcher.setAttribute("href", "?" + q.toString());
      focusable.setAttribute("aria-label", `${mode === "3d" ? "3D view" : "Map"} of ${name}, ${n} present`);
      document.title = `${name} · The Mesh`;
    },
  });
  const world = session.world;
  client.on("status", (s) => { status.textContent = s; status.className = "status " + s; });
  status.textContent = client.status; status.className = "status " + client.status;
  view.onPick((hit) => {
    if (hit.kind === "floor") world.walkTo(hit.x, hit.z);
    else if (hit.kind === "portal") void session!.enter(hit.room).catch(() => {});
    else chat.address(hit.id);
  });
  bindKeys(focusable as HTMLElement, world, () => people.touch(you.id, performance.now()));
  setInterval(() => people.tick(performance.now(), document.hidden), 5000);
  new ResizeObserver(() => view.resize(stage.clientWidth, stage.clientHeight)).observe(stage);
  const hooks = installHooks({ mode, view, world, you: you.id });
  client.on("frame", (f) => { hooks.frames++; term.frame(f.text, f.dir); });

  rooms.set(await listRooms(token).catch(() => []));
  const want = params.get("room") ?? "lobby";
  const first = rooms.get(want) ? want : rooms.all()[0]?.id ?? "lobby";
  // dt is taken from now here, so the loop's own dt (its units) does not matter.
  let last = 0;
  view.start(world, (now) => { world.step(now, last ? (now - last) / 1000 : 0); last = now; });
  await session.enter(first).catch(() => {});
  term.print(`Connected as ${you.name} (${you.id}). Type /help for commands.`);
}

/**
 * deviceKeys is this browser's key store for the participant logged in:
 * one IndexedDB database per participant (a device belongs to one).
 */
function deviceKeys(me: () => string): KeyStore {
  let store: KeyStore | undefined;
  const get = (): KeyStore => (store ??= indexedDbKeyStore("mesh-keys-" + me()));
  return { load: () => get().load(), save: (r) => get().save(r) };
}

/** can3D reports whether WebGL works here, or else whether a WebGPU adapter exists. */
async function can3D(): Promise<boolean> {
  const c = document.createElement("canvas");
  if (c.getContext("webgl2") || c.getContext("webgl")) return true;
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  return !!gpu && !!(await gpu.requestAdapter().catch(() => null));
}

/** load3D downloads the scene (three.js) and starts it; null if it fails. */
async function load3D(stage: HTMLElement, noWebGPU: boolean): Promise<View | null> {
  const canvas = el("canvas", { class: "scene", role: "img", tabindex: "0", "aria-describedby": "stage-help" });
  stage.append(canvas);
  try {
    // Typed by the contract (scene/types.ts); the literal lets esbuild split the scene into its own chunk.
    const { createScene }: { createScene: CreateScene } = await import("./scene/index.js" as string);
    const scene = await createScene(canvas, { webgpu: noWebGPU ? "off" : "auto" });
    scene.resize(stage.clientWidth, stage.clientHeight);
    return scene;
  } catch (e) {
    console.warn("3D view unavailable, using the 2D map:", e);
    canvas.remove();
    return null;
  }
}

void main();
