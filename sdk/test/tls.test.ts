// TLS: the SDK reaches a node serving https with its local CA (trusted
// through NODE_EXTRA_CA_CERTS, as the node's start-up message says), and
// refuses it when the CA is not trusted: it never skips verification.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { cleanup, startNode } from "./helpers/node.js";
import { sdkDir } from "./helpers/paths.js";

after(cleanup);

async function client(url: string, env: Record<string, string>): Promise<{ ok: boolean; url?: string; seq?: number; error?: string; cause?: string }> {
  const script = join(sdkDir, "test", "fixtures", "tls-client.ts");
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, url], {
    env: { ...process.env, ...env },
    timeout: 60000,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

test("over https and wss with the node's local CA trusted; refused without it", async () => {
  const n = await startNode({ flags: ["--tls", "auto"] });
  assert.match(n.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const ca = join(n.dir, "tls", "ca.pem");
  const [trusted, untrusted] = await Promise.all([client(n.url, { NODE_EXTRA_CA_CERTS: ca }), client(n.url, { NODE_EXTRA_CA_CERTS: "" })]);
  assert.deepEqual([trusted.ok, trusted.url, trusted.seq! > 0], [true, `wss://127.0.0.1:${n.port}/api/v1/ws`, true], JSON.stringify(trusted));
  assert.equal(untrusted.ok, false);
  assert.match(`${untrusted.error} ${untrusted.cause}`, /certificate|CERT|self.signed|UNABLE_TO_VERIFY/i, JSON.stringify(untrusted));
});
