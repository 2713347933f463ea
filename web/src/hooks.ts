// window.__mesh: what the browser tests read (WEB.md, test hooks).

import type { View } from "./map2d.js";
import type { World } from "./world/model.js";

export interface Hooks {
  mode: "2d" | "3d";
  backend: string;
  you: string;
  frames: number;
  avatars(): number;
  stats(): ReturnType<View["stats"]>;
  pos(): ReturnType<World["pos"]>;
  serverPos(): ReturnType<World["serverPos"]>;
  /** at is where avatar id is drawn now, or null. */
  at(id: string): { x: number; z: number } | null;
}

export function installHooks(o: { mode: "2d" | "3d"; view: View; world: World; you: string }): Hooks {
  const hooks: Hooks = {
    mode: o.mode,
    backend: o.view.backend,
    you: o.you,
    frames: 0,
    avatars: () => o.view.stats().avatars,
    stats: () => o.view.stats(),
    pos: () => o.world.pos(),
    serverPos: () => o.world.serverPos(),
    at: (id) => {
      let found: { x: number; z: number } | null = null;
      o.world.sample(performance.now(), (i, x, z) => {
        if (i === id) found = { x, z };
      });
      return found;
    },
  };
  (window as unknown as { __mesh: Hooks }).__mesh = hooks;
  return hooks;
}
