// Webhooks: verifyWebhook gives the Go helper's answers (signatures
// computed with mesh.SignWebhook), and accepts a real delivery from a node
// to a local server while refusing it tampered with or old.

import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { after, test } from "node:test";
import {
  decodeWebhookEvent,
  MeshError,
  register,
  Rest,
  signWebhook,
  verifyWebhook,
  WebhookSignatureError,
  type WebhookRequestHeaders,
} from "../src/index.js";
import { agent, cleanup, eventually, startNode } from "./helpers/node.js";

after(cleanup);

const refused = (p: Promise<void>, why: RegExp): Promise<void> =>
  assert.rejects(p, (e: unknown) => e instanceof WebhookSignatureError && why.test(e.message));

// Computed with Go's mesh.SignWebhook(secret, ts, body) (PROTOCOL.md, "Webhooks").
const goVectors = [
  {
    secret: "whsec_q3V8nT0yX5kR2mL7pW4zB9cF1dH6jK0sA3eG8uI5oYw",
    ts: 1772366409,
    body: '{"type":"inbox.item","participant":"p_bobq5nd7wvf4ye2r","item":{"n":3,"reason":"to","message":{"id":"m_e2nb6yq3kw7ht4xs"}}}',
    sig: "v1=e94535c1174618142ecb7ce2f7394c33556cb77aa2965f977d735740edf5454a",
  },
  { secret: "whsec_ünï", ts: 17, body: "héllo", sig: "v1=fd6640c89555c9481e7c850cd47a4313e03ec29a62f4ffca2a83dd13b3375406" },
];

test("signWebhook gives the Go helper's signatures; verifyWebhook accepts them", async () => {
  for (const v of goVectors) {
    assert.equal(await signWebhook(v.secret, v.ts, v.body), v.sig);
    assert.equal(await signWebhook(v.secret, BigInt(v.ts), new TextEncoder().encode(v.body)), v.sig);
    const byHand = "v1=" + createHmac("sha256", v.secret).update(`${v.ts}.${v.body}`).digest("hex");
    assert.equal(byHand, v.sig, "the documented scheme, by hand");
    const headers = { "x-mesh-timestamp": String(v.ts), "x-mesh-signature": v.sig };
    await verifyWebhook(v.secret, headers, v.body, 1e12); // old: a wide tolerance
    await refused(verifyWebhook(v.secret, headers, v.body), /from now/);
  }
});

test("verifyWebhook refuses what Go's VerifyWebhook refuses", async () => {
  const secret = "whsec_test";
  const body = '{"type":"inbox.item"}';
  const now = Math.floor(Date.now() / 1000);
  const signed = async (s: string, ts: number, b = body): Promise<Record<string, string>> => ({
    "X-Mesh-Timestamp": String(ts),
    "X-Mesh-Signature": await signWebhook(s, ts, b),
  });
  const sig = await signWebhook(secret, now, body);
  await verifyWebhook(secret, await signed(secret, now), body);
  await verifyWebhook(secret, { "x-mesh-timestamp": String(now), "x-mesh-signature": "v1=00, " + sig }, body, 0);
  await verifyWebhook(secret, new Headers([["X-Mesh-Timestamp", String(now)], ["X-Mesh-Signature", "v1=00"], ["X-Mesh-Signature", sig]]), body);
  await verifyWebhook(secret, { "x-mesh-timestamp": String(now), "x-mesh-signature": ["v1=00", sig] }, new TextEncoder().encode(body));
  await verifyWebhook(secret, await signed(secret, now - 600), body, 3600);

  await refused(verifyWebhook("whsec_other", await signed(secret, now), body), /no matching v1 signature/);
  await refused(verifyWebhook(secret, await signed(secret, now), body + " "), /no matching v1 signature/);
  await refused(verifyWebhook(secret, await signed(secret, now - 600), body), /from now/);
  await refused(verifyWebhook(secret, await signed(secret, now + 600), body), /from now/);
  await refused(verifyWebhook(secret, {}, body), /is not unix seconds/);
  await refused(verifyWebhook(secret, { "X-Mesh-Timestamp": String(now + 1), "X-Mesh-Signature": sig }, body), /no matching/);
  await refused(verifyWebhook(secret, { "X-Mesh-Timestamp": "+" + now, "X-Mesh-Signature": sig }, body), /not unix seconds/);
  await refused(verifyWebhook(secret, { "X-Mesh-Timestamp": "99999999999999999999", "X-Mesh-Signature": sig }, body), /not unix seconds/);
  await refused(verifyWebhook("", await signed("x", now), body), /no secret/);
  await refused(verifyWebhook(secret, { "X-Mesh-Timestamp": String(now), "X-Mesh-Signature": "V1=" + sig.slice(3) }, body), /no matching/);
  await refused(verifyWebhook(secret, { "X-Mesh-Timestamp": String(now), "X-Mesh-Signature": sig.toUpperCase() }, body), /no matching/);
});

test("a real delivery from the node verifies; tampered with or old, it does not", async () => {
  const deliveries: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const n = await startNode();
    const hookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    const reg = await register(n.url, { name: "hooked", webhook: hookUrl });
    assert.equal(reg.participant.webhook, hookUrl);
    assert.match(reg.webhookSecret ?? "", /^whsec_[A-Za-z0-9_-]{43}$/);
    const plain = await register(n.url, { name: "no-hook" });
    assert.equal(plain.webhookSecret, undefined, "no webhook, no secret");
    await assert.rejects(register(n.url, { name: "bad", webhook: "ftp://example.com/x" }), (e: unknown) => e instanceof MeshError && e.code === "invalid");

    const alice = await agent(n, "alice");
    const ra = new Rest(n.url, alice.token);
    await ra.join("lobby");
    await new Rest(n.url, reg.token).join("lobby");
    const sent = await ra.say("lobby", { text: "ping the hook", to: reg.participant.id });
    await eventually("a webhook delivery", () => deliveries.length > 0, 10000);
    const [d] = deliveries;
    const secret = reg.webhookSecret!;

    await verifyWebhook(secret, d!.headers, d!.body, 60);
    await verifyWebhook(secret, new Headers(d!.headers as Record<string, string>), new Uint8Array(d!.body));
    assert.match(String(d!.headers["x-mesh-delivery"]), /^dlv_[0-9a-f]{32}$/);
    const ev = decodeWebhookEvent(d!.body);
    assert.deepEqual(
      [ev.type, ev.participant, ev.item.reason, ev.item.message.id, ev.item.message.body.text],
      ["inbox.item", reg.participant.id, "to", sent.id, "ping the hook"],
    );

    // Tampered with: one byte of the body, or the secret.
    const tampered = Buffer.from(d!.body.toString("utf8").replace("ping the hook", "pong the hook"));
    await refused(verifyWebhook(secret, d!.headers, tampered), /no matching v1 signature/);
    await refused(verifyWebhook(secret.slice(0, -1) + "x", d!.headers, d!.body), /no matching v1 signature/);
    // Old: the real body, signed correctly, ten minutes ago; and the real headers a replay later.
    const ts = Number(d!.headers["x-mesh-timestamp"]);
    const old: WebhookRequestHeaders = { "x-mesh-timestamp": String(ts - 600), "x-mesh-signature": await signWebhook(secret, ts - 600, d!.body) };
    await refused(verifyWebhook(secret, old, d!.body), /from now \(tolerance 300s\)/);
    await verifyWebhook(secret, old, d!.body, 3600); // only its age was wrong
    const replay: WebhookRequestHeaders = { ...d!.headers, "x-mesh-timestamp": String(ts - 301) };
    await refused(verifyWebhook(secret, replay, d!.body), /from now/);

    // A delivered item stays in the inbox until acknowledged.
    const page = await new Rest(n.url, reg.token).inbox();
    assert.deepEqual(
      page.items.map((it) => it.n),
      [ev.item.n],
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
