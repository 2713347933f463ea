// The wire shapes the shell reads, from the TS SDK (PROTOCOL.md, WORLD.md).

export type {
  Message as Envelope, Member, Participant, Move, WorldState, PresenceFrame, StateFrame, Room, Joined,
} from "@the-mesh/sdk";
