// The injection scanner's speed: scans per second of a typical 200-byte
// chat message and of an 8 KiB message (the rows "chat 200 bytes" and
// "long 8 KiB" of testdata/protocol/guard/scan.json, which Go's
// BenchmarkScanChat and BenchmarkScan8KB scan too), and the cost of the
// 64-bit feature hash in 32-bit halves against BigInt. Prints one JSON
// object.
//
//	npm run bench:guard -w sdk [-- --seconds 2]
//	go test -run XXX -bench 'ScanChat|Scan8KB' ./internal/guard

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Scanner } from "../src/guard/index.js";
import { mix } from "../src/guard/hash.js";
import { protocolDir } from "../test/helpers/paths.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "2" } } });
const seconds = Number(values.seconds);

const vectors = JSON.parse(readFileSync(join(protocolDir, "guard", "scan.json"), "utf8")) as {
  input: { texts: { name: string; text: string }[] };
};
const text = (name: string): string => vectors.input.texts.find((t) => t.name === name)!.text;
const scanner = await Scanner.load();

/** rate runs f for about s seconds (after as long a warm-up) and returns calls per second. */
function rate(f: () => void, s = seconds): number {
  for (const until = performance.now() + s * 500; performance.now() < until; ) f();
  let n = 0;
  const start = performance.now();
  let now = start;
  for (; now - start < s * 1000; now = performance.now()) {
    for (let i = 0; i < 10; i++) f();
    n += 10;
  }
  return n / ((now - start) / 1000);
}

function scans(name: string): { bytes: number; scansPerSecond: number; microsPerScan: number; mbPerSecond: number } {
  const t = text(name);
  const bytes = new TextEncoder().encode(t).length;
  const r = rate(() => scanner.scan(t));
  return { bytes, scansPerSecond: Math.round(r), microsPerScan: Number((1e6 / r).toFixed(2)), mbPerSecond: Number(((r * bytes) / 1e6).toFixed(2)) };
}

/** mixBig is Go's mix in BigInt. */
function mixBig(h: bigint): number {
  h ^= h >> 33n;
  h = BigInt.asUintN(64, h * 0xff51afd7ed558ccdn);
  h ^= h >> 33n;
  return Number(h & 0xffffn);
}

// The 4-grams of the 8 KiB message, the bulk of a scan's hashing.
const grams = (() => {
  const b = new TextEncoder().encode(" " + text("long 8 KiB") + " ");
  const out = new Uint32Array(b.length - 3);
  for (let i = 0; i < out.length; i++) out[i] = (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  return out;
})();
let sink = 0;
const split = rate(() => {
  for (const v of grams) sink ^= mix(0x400, v);
}, seconds / 2);
const big = rate(() => {
  for (const v of grams) sink ^= mixBig(BigInt(v) | (0x4n << 40n));
}, seconds / 2);
const ns = (r: number): number => Number((1e9 / r / grams.length).toFixed(2));

console.log(
  JSON.stringify(
    {
      benchmark: "guard scan (@the-mesh/sdk/guard), one scanner, one thread",
      chat200: scans("chat 200 bytes"),
      message8KiB: scans("long 8 KiB"),
      hashNsPerFeature: { split32: ns(split), bigint: ns(big), bigintSlowdown: Number((split / big).toFixed(1)) },
      node: process.version,
      sink: sink & 1,
    },
    null,
    2,
  ),
);
