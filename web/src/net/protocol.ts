// The wire shapes the shell reads (PROTOCOL.md, WORLD.md). Only what the
// shell uses; the SDK owns the full vocabulary.

import type { Kind, Trust } from "../scene/types.js";

export interface Participant {
  id: string;
  name: string;
  kind: Kind;
  trust: Trust;
  node?: string;
  online?: boolean;
}

export interface Envelope {
  id: string;
  room: string;
  seq: number;
  kind: "chat" | "command" | "result" | "event" | "encrypted";
  from: { id: string; name: string; kind: Kind; node?: string };
  trust: Trust;
  ts: string;
  body: {
    text?: string;
    command?: string;
    args?: unknown;
    ok?: boolean;
    output?: string;
    event?: { type: string; path?: string; action?: string; target?: string; by?: string };
  };
  to?: string;
  ref?: string;
  flags?: string[];
}

export interface Move { id: string; pos: number[]; facing: number; ack?: number }

export interface WorldState { tick?: number; size?: number; speed?: number; moves?: Move[] }

export interface Joined {
  type: "joined";
  room: string;
  members: Participant[];
  history: Envelope[];
  head: number;
  state?: WorldState;
}

export interface Presence { type: "presence"; room: string; event: "join" | "leave" | "update"; participant: Participant }

export interface StateFrame { type: "state"; room: string; tick: number; moves: Move[] }

export interface Welcome { type: "welcome"; you: Participant; node: { id: string; name: string } }

export interface Room { id: string; name: string; topic?: string }

export type Frame = { type: string; [k: string]: unknown };
