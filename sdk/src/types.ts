// The protocol's vocabulary: participants, envelopes and frames, with the
// exact field names of PROTOCOL.md. Optional fields are absent when empty.

export type Trust = "owner" | "local" | "federated" | "untrusted";
export type Kind = "human" | "agent";
export type MessageKind = "chat" | "command" | "result" | "event" | "encrypted";
export type Capability = "speak" | "listen" | "execute" | "moderate" | "bridge" | "data-read" | "data-write";
export type ModerationAction = "mute" | "unmute" | "kick" | "ban" | "unban";

/** Trust levels, highest first. */
export const trustLevels: readonly Trust[] = ["owner", "local", "federated", "untrusted"];

/** trustRank orders trust levels: owner 3, local 2, federated 1, untrusted 0, anything else -1. */
export function trustRank(t: string): number {
  switch (t) {
    case "owner":
      return 3;
    case "local":
      return 2;
    case "federated":
      return 1;
    case "untrusted":
      return 0;
  }
  return -1;
}

/** isTrust reports whether t is a known trust level. */
export function isTrust(t: unknown): t is Trust {
  return typeof t === "string" && trustRank(t) >= 0;
}

const roomIdPattern = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** validRoomId reports whether id is a well-formed room id (1 to 64 of a-z, 0-9, -; not starting with -). */
export function validRoomId(id: string): boolean {
  return roomIdPattern.test(id);
}

const nodeIdPattern = /^n[a-z2-7]{16}$/;

/** remoteRoom reports whether id is a federated address "room@node" (a room on another node). */
export function remoteRoom(id: string): boolean {
  const at = id.indexOf("@");
  return at > 0 && validRoomId(id.slice(0, at)) && nodeIdPattern.test(id.slice(at + 1));
}

export interface Participant {
  id: string;
  name: string;
  kind: Kind;
  trust: Trust;
  parent?: string;
  webhook?: string;
  node: string;
  created: string;
}

/** Member is a participant of a room, with whether it is online in it. */
export interface Member extends Participant {
  online: boolean;
}

export interface Sender {
  id: string;
  name: string;
  kind: Kind;
  node: string;
}

export interface RoomEvent {
  type: string; // data.put, data.delete, moderation, policy, e2e.epoch
  path?: string;
  size?: number;
  sha256?: string;
  action?: string;
  target?: string;
  by?: string;
  /** e2e.epoch: the room's new epoch and roster. */
  e2e?: Roster;
}

export interface Body {
  text?: string;
  command?: string;
  args?: unknown;
  ok?: boolean;
  output?: string;
  event?: RoomEvent;
  /** Kind encrypted: the sealed body of an end-to-end encrypted room. */
  e2e?: Sealed;
}

// End-to-end encrypted rooms (E2E.md). Binary values are standard base64.

/** Why a message of an E2E room could not be opened by this device. */
export type Undecryptable = "no_key" | "bad_signature" | "not_member" | "corrupt";

/**
 * Device is one client's public keys: sign (Ed25519) and box (X25519). sig
 * is its own signature binding box to sign. In a roster, participant names
 * its owner and sig and created are absent.
 */
export interface Device {
  id: string;
  participant?: string;
  sign: string;
  box: string;
  sig?: string;
  created?: string;
}

/** Roster is an E2E room's epoch: the devices that may read what is sent in it. room is the home address "room@node". */
export interface Roster {
  epoch: number;
  room: string;
  devices: Device[];
  /** The seq of the epoch event, when known. */
  seq?: number;
}

/** Wrap is a chain key sealed to one device. */
export interface Wrap {
  to: string;
  nonce: string;
  ct: string;
}

/** Sealed is the body.e2e of a message of kind encrypted: a keys entry (eph, wraps) or a msg (keys, n, nonce, ct). */
export interface Sealed {
  v: number;
  type: "keys" | "msg";
  epoch: number;
  device: string;
  eph?: string;
  wraps?: Wrap[];
  keys?: number;
  n?: number;
  nonce?: string;
  ct?: string;
  sig: string;
}

export interface Provenance {
  node: string;
  ts: string;
  sig: string;
}

/** Message is the envelope stored in a room's log and delivered to its members. */
export interface Message {
  id: string;
  room: string;
  seq: number;
  kind: MessageKind;
  from: Sender;
  trust: Trust;
  ts: string;
  body: Body;
  to?: string;
  ref?: string;
  flags?: string[];
  provenance?: Provenance[];
  /** The original of a message a bridge carried into this room (from is then the bridge's creator). */
  bridged?: Bridged;
  /** Set by the SDK: the message came end-to-end encrypted (kind and body are what it opened to). */
  e2e?: true;
  /** Set by the SDK: this device could not open the message (kind stays encrypted). */
  undecryptable?: Undecryptable;
}

/** Bridged names a bridged message's original: its room, id, seq, author and trust there. */
export interface Bridged {
  room: string;
  id: string;
  seq: number;
  from: Sender;
  trust: Trust;
}

/** A bridge copies a room's new chat messages into another room, one way (PROTOCOL.md, "Bridges"). */
export interface Bridge {
  id: string;
  from: string;
  to: string;
  by: string;
  created: string;
  state: "active" | "suspended";
  /** Why it is suspended. */
  reason?: string;
  /** The last source seq it dealt with. */
  cursor: number;
}

export interface NodeInfo {
  id: string;
  name: string;
  publicKey: string;
  version?: string;
}

/** WireLimits are the limits a connection is held to (welcome.limits). */
export interface WireLimits {
  maxFrameBytes: number;
  maxTextBytes: number;
  rate: number; // frames per second; 0 = off
  burst: number;
}

/** Vec3 is a position [x, y, z] in metres; y is 0 on the floor. */
export type Vec3 = [number, number, number];

/** Move is one participant's authoritative position in a state frame. */
export interface Move {
  id: string;
  pos: Vec3;
  facing: number;
  ack: number;
}

/** WorldState is joined.state: the room's world when the connection subscribed. */
export interface WorldState {
  tick: number;
  size: number;
  speed: number;
  moves: Move[];
}

// Client frames.

export interface HelloFrame {
  type: "hello";
  token: string;
  resume?: Record<string, number>;
}
export interface JoinFrame {
  type: "join";
  room: string;
  ref?: string;
}
export interface LeaveFrame {
  type: "leave";
  room: string;
  ref?: string;
}
/** SayFrame posts a chat line (text), or in an end-to-end encrypted room a sealed body (kind "encrypted", body.e2e, no text). */
export interface SayFrame {
  type: "say";
  room: string;
  kind?: "chat" | "encrypted";
  text?: string;
  body?: { e2e: Sealed };
  to?: string;
  ref?: string;
}
export interface CommandFrame {
  type: "command";
  room: string;
  target: string;
  name: string;
  args?: unknown;
  ref?: string;
}
export interface ResultFrame {
  type: "result";
  room: string;
  ref: string; // the command message's id
  ok: boolean;
  output: string;
}
export interface ModerateFrame {
  type: "moderate";
  room: string;
  action: ModerationAction;
  target: string;
  ref?: string;
}
export interface PingFrame {
  type: "ping";
  ref?: string;
}
export interface MoveFrame {
  type: "move";
  room: string;
  pos: Vec3;
  facing: number;
  seq: number;
  ref?: string;
}
/** InboxReadFrame reads the inbox (and turns on inbox.item pushes for the connection). */
export interface InboxReadFrame {
  type: "inbox";
  /** Items with n > after (default 0). */
  after?: number;
  /** 1 to 500; 0 or absent: 100. */
  limit?: number;
  ref?: string;
}
/** InboxAckFrame acknowledges every inbox item with n <= upTo (required, 0 or more). */
export interface InboxAckFrame {
  type: "inbox.ack";
  upTo: number;
  ref?: string;
}

export type ClientFrame =
  | HelloFrame
  | JoinFrame
  | LeaveFrame
  | SayFrame
  | CommandFrame
  | ResultFrame
  | ModerateFrame
  | PingFrame
  | MoveFrame
  | InboxReadFrame
  | InboxAckFrame;

// Server frames.

export interface WelcomeFrame {
  type: "welcome";
  you: Participant;
  node: NodeInfo;
  limits: WireLimits;
}
export interface JoinedFrame {
  type: "joined";
  room: string;
  ref?: string;
  members: Member[];
  state?: WorldState;
  history: Message[];
  head: number;
  /** The room's current roster, when it is end-to-end encrypted. */
  e2e?: Roster;
}
export interface LeftFrame {
  type: "left";
  room: string;
  ref?: string;
}
export interface MessageFrame {
  type: "message";
  message: Message;
}
export interface AckFrame {
  type: "ack";
  ref?: string;
  id?: string;
  seq?: number;
}
export interface PresenceFrame {
  type: "presence";
  room: string;
  event: "join" | "leave" | "update";
  participant: Participant;
}
export interface ErrorFrame {
  type: "error";
  ref?: string;
  code: string;
  message: string;
}
export interface PongFrame {
  type: "pong";
  ref?: string;
}
export interface StateFrame {
  type: "state";
  room: string;
  tick: number;
  moves: Move[];
}

/** Why an item is in the inbox: "to" (addressed to the participant), "command" (a command for it); "mention" is reserved. */
export type InboxReason = "to" | "mention" | "command";

/** InboxItem is one item of a participant's inbox: n numbers its items (1, 2, 3, ..., never reused). */
export interface InboxItem {
  n: number;
  reason: InboxReason;
  /** The stored envelope: render it with forPrompt before it goes near a language model. */
  message: Message;
}

/** Inbox is a page of the inbox: the unacknowledged items after a cursor, oldest first. */
export interface Inbox {
  items: InboxItem[];
  /** Pass as after to read on. */
  next: number;
  /** Items waiting for acknowledgement in all. */
  unacked: number;
  /** Unread items the node's bound dropped before these. */
  dropped?: number;
}

/** InboxAcked answers an acknowledgement: the ack cursor and the items left. */
export interface InboxAcked {
  acked: number;
  unacked: number;
}

/** InboxFrame answers an inbox frame. */
export interface InboxFrame extends Inbox {
  type: "inbox";
  ref?: string;
}
/** InboxAckedFrame answers inbox.ack. */
export interface InboxAckedFrame extends InboxAcked {
  type: "inbox.acked";
  ref?: string;
}
/** InboxItemFrame pushes a new item to a connection that has sent an inbox frame. */
export interface InboxItemFrame {
  type: "inbox.item";
  item: InboxItem;
}

/** WebhookEvent is the body of a webhook delivery. */
export interface WebhookEvent {
  type: "inbox.item";
  participant: string;
  item: InboxItem;
}

export type ServerFrame =
  | WelcomeFrame
  | JoinedFrame
  | LeftFrame
  | MessageFrame
  | AckFrame
  | PresenceFrame
  | ErrorFrame
  | PongFrame
  | StateFrame
  | InboxFrame
  | InboxAckedFrame
  | InboxItemFrame;
