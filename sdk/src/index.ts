// @the-mesh/sdk: the TypeScript SDK for The Mesh (see README.md).

export * from "./types.js";
export { MeshError, ClosedError, DisconnectedError, ErrorCodes, statusOfCode, errorCode, type ErrorCode } from "./errors.js";
export {
  decodeServerFrame,
  decodeClientFrame,
  encodeClientFrame,
  checkClientFrame,
  decodeMessage,
  decodeBridge,
  decodeParticipant,
  decodeMember,
  decodeInboxItem,
  decodeWebhookEvent,
  goQuote,
  UnknownFrameError,
  maxRefBytes,
  maxCommandNameBytes,
  maxInboxLimit,
  defaultInboxLimit,
} from "./codec.js";
export { parseStrict, utf8Length } from "./json.js";
export { forPrompt, canonicalJSON } from "./prompt.js";
export { parsePolicy, defaultPolicy, capabilities, isCapability, type Policy, type ScanMode } from "./policy.js";
export {
  capabilitiesOf,
  can,
  check,
  mayCommand,
  mayReadData,
  mayWriteData,
  effectiveTrust,
  type Subject,
  type GovernedRoom,
} from "./governance.js";
export { request, decodeResponse, nodeBase, wsEndpoint, Rest, type Room, type RoomFile, type Fetch, type RequestOptions, type Body as ResponseBody } from "./rest.js";
export { splitRoom, qualify, viewParticipant, homeNaming } from "./federation.js";
export { register, type Registration, type Registered } from "./register.js";
export {
  verifyWebhook,
  signWebhook,
  webhookHeaders,
  defaultWebhookTolerance,
  WebhookSignatureError,
  type WebhookRequestHeaders,
  type WebhookBody,
} from "./webhook.js";
export { TokenBucket } from "./limiter.js";
export { Emitter, type Logger, type Listener } from "./emitter.js";
export { resolveWebSocket, type WebSocketLike, type WebSocketConstructor } from "./websocket.js";
export {
  Connection,
  type Status,
  type FrameEvent,
  type ConnectionEvents,
  type ConnectionOptions,
  type CallOptions,
} from "./connection.js";
export { parseCommand, refusal, truncate, CommandRouter, type Command, type CommandHandler, type Answerer } from "./commands.js";
export { World, type RoomWorld } from "./world.js";
export {
  Client,
  inboxQueueLimit,
  type ClientOptions,
  type ClientEvents,
  type Joined,
  type Ack,
  type SayOptions,
  type InboxOptions,
  type E2EInfo,
} from "./client.js";
export type { Scanner, ScanResult, Counts as E2ECounts } from "./e2e/session.js";
export { memoryKeyStore, fileKeyStore, indexedDbKeyStore, isKeyRecord, type KeyStore, type KeyRecord } from "./keystore.js";
