// @the-mesh/sdk/guard: the injection scanner of the Go node
// (internal/guard), ported to TypeScript for rooms whose message bodies
// the node cannot read (end-to-end encryption): the receiving SDK scans
// instead, with the same verdict, score and findings as Go for the same
// text. A subpath of its own, so that apps that never scan do not load
// its tables or its 128 KiB model.
//
//	import { Scanner, applyScan } from "@the-mesh/sdk/guard";
//	const scanner = await Scanner.load(); // Node: the packaged model
//	const { deliver, flags } = applyScan(room.policy.scan[trust], scanner.scan(text));
//
// In a browser, fetch the model ("@the-mesh/sdk/guard/model.bin") and call
// loadScanner(bytes), or pass its URL to Scanner.load.

export { Scanner, loadScanner, type ScanResult } from "./scan.js";
export { applyScan, flagInjection, type ScanDecision } from "./apply.js";
export { defaultThreshold, findings, unicodeVersion } from "./tables.js";
export type { ScanMode } from "../policy.js";
