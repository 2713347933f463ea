// The cryptography of end-to-end encrypted rooms (E2E.md), a port of the
// Go package e2e: device identities, chain keys wrapped to each device of
// a roster, a ratchet of message keys, sealed messages. Pure JavaScript
// (the noble libraries): the same code in Node and browsers.

export { b64, unb64, randomFrom, defaultRandom, type Random } from "./bytes.js";
export { newIdentity, identityOf, deviceId, validDeviceId, deviceOf, verifyDevice, type Identity } from "./device.js";
export { OpenError, reasonOf } from "./errors.js";
export { sealKeys, openKeys, chainKeySize, e2eVersion } from "./keys.js";
export { Chain, messageKey, seal, open, encodePlain, type Plain, type Envelope } from "./msg.js";
export { checkShape, verify, maxRosterDevices } from "./verify.js";
