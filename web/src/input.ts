// Keyboard movement: while the view has focus, arrows and WASD set the
// world's key state (the frame loop consumes it); nothing else happens in
// the handlers.

import { keyBit, type World } from "./world/model.js";

export function bindKeys(target: HTMLElement, world: World, active: () => void): () => void {
  const down = (e: KeyboardEvent): void => {
    const bit = keyBit(e.code);
    if (!bit || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault(); // arrows would scroll the page
    world.setKey(bit, true);
    active();
  };
  const up = (e: KeyboardEvent): void => {
    const bit = keyBit(e.code);
    if (bit) world.setKey(bit, false);
  };
  const blur = (): void => world.releaseKeys();
  const focusOnPoint = (): void => target.focus({ preventScroll: true });
  target.addEventListener("keydown", down);
  target.addEventListener("keyup", up);
  target.addEventListener("blur", blur);
  target.addEventListener("pointerdown", focusOnPoint);
  return () => {
    target.removeEventListener("keydown", down);
    target.removeEventListener("keyup", up);
    target.removeEventListener("blur", blur);
    target.removeEventListener("pointerdown", focusOnPoint);
  };
}
