// The 3D world as the node reports it (specs/WORLD.md): each joined
// room's floor and every present participant's authoritative position.

import type { JoinedFrame, Move, PresenceFrame, StateFrame } from "./types.js";

/** RoomWorld is what the client knows of one room's world. */
export interface RoomWorld {
  /** The floor is a square of size metres centred on 0 (x and z in ±size/2). */
  size: number;
  /** The fastest a participant may walk, in metres per second. */
  speed: number;
  tick: number;
  /** Each present participant's last authoritative move, by id. */
  avatars: Map<string, Move>;
}

export const defaultWorld = { size: 40, speed: 6 };

/** How often moveTo sends a move: the node's default tick, in ms. */
export const stepMs = 50;
/** The longest time the node credits a move with (PROTOCOL.md, "World"), so the most one step of moveTo claims after a stall, in ms. */
export const maxStepMs = 1000;
/** How near its target an avatar has arrived: the node keeps millimetres. */
export const arrival = 0.001;

/** World tracks the rooms' worlds from joined, state and presence frames. */
export class World {
  private rooms = new Map<string, RoomWorld>();

  room(id: string): RoomWorld | undefined {
    return this.rooms.get(id);
  }

  onJoined(f: JoinedFrame): void {
    const s = f.state;
    const w: RoomWorld = {
      size: s?.size || defaultWorld.size,
      speed: s?.speed || defaultWorld.speed,
      tick: s?.tick ?? 0,
      avatars: new Map(),
    };
    for (const m of s?.moves ?? []) w.avatars.set(m.id, m);
    this.rooms.set(f.room, w);
  }

  onState(f: StateFrame): void {
    const w = this.rooms.get(f.room);
    if (!w) return;
    w.tick = f.tick;
    for (const m of f.moves) w.avatars.set(m.id, m);
  }

  onPresence(f: PresenceFrame): void {
    if (f.event === "leave") this.rooms.get(f.room)?.avatars.delete(f.participant.id);
  }

  onLeft(room: string): void {
    this.rooms.delete(room);
  }
}
