import { expect } from "chai";
import { createHmac } from "node:crypto";
import { headersFromObject, headersFromRaw } from "../../../lib/legacy/pms-hmac";
import {
  eventTypeOf,
  githubCanonical,
  isWebhookScheme,
  NO_EXPIRY,
  parseSecrets,
  schemeKey,
  signWebhook,
  standardWebhooksCanonical,
  stripeCanonical,
  verifyWebhook,
  WEBHOOK_SCHEMES,
  type Verified,
  type WebhookRequest,
  type WebhookScheme,
} from "../../../lib/webhook/schemes";
import type { PackError } from "../../../lib/errors";
import { codeOf } from "../../support/errors";

function req(
  headers: Record<string, string>,
  body: string | Buffer,
  extra: Partial<WebhookRequest> = {},
): WebhookRequest {
  return {
    method: "POST",
    pathWithQuery: "/hooks/pms",
    headers: headersFromObject(headers),
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
    ...extra,
  };
}

describe("lib/webhook/schemes: published test vectors", () => {
  // https://github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
  // ("sign function works") and the other reference libraries.
  const SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const SW_TS = 1614265330;
  const SW_BODY = '{"test": 2432232314}';
  const SW_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
  const swHeaders = (over: Record<string, string> = {}) => ({
    "webhook-id": SW_ID,
    "webhook-timestamp": String(SW_TS),
    "webhook-signature": SW_SIG,
    ...over,
  });
  const swKeys = [schemeKey("standard-webhooks", SW_SECRET)];
  const swAt = { toleranceSeconds: 300, nowMs: SW_TS * 1000 };

  it("Standard Webhooks: the reference signature is reproduced exactly", () => {
    const headers = signWebhook({
      scheme: "standard-webhooks",
      secret: SW_SECRET,
      id: SW_ID,
      timestamp: new Date(SW_TS * 1000),
      body: SW_BODY,
    });
    expect(headers).to.deep.equal(swHeaders());
    expect(standardWebhooksCanonical(SW_ID, String(SW_TS), SW_BODY).toString()).to.equal(
      `${SW_ID}.${SW_TS}.${SW_BODY}`,
    );
  });

  it("Standard Webhooks: the reference delivery verifies, with and without the whsec_ prefix", () => {
    const r = verifyWebhook("standard-webhooks", swKeys, req(swHeaders(), SW_BODY), swAt) as Verified;
    expect(r.ok).to.equal(true);
    expect(r.id).to.equal(SW_ID);
    expect(r.timestampMs).to.equal(SW_TS * 1000);
    const bare = [schemeKey("standard-webhooks", SW_SECRET.slice("whsec_".length))];
    expect(verifyWebhook("standard-webhooks", bare, req(swHeaders(), SW_BODY), swAt).ok).to.equal(true);
  });

  it("Standard Webhooks: the reference library's negative cases are rejected", () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ["invalid timestamp", swHeaders({ "webhook-timestamp": "hello" }), "malformed"],
      ["invalid signature", swHeaders({ "webhook-signature": "v1,dawfeoifkpqwoekfpqoekf" }), "signature"],
      ["partial signature", swHeaders({ "webhook-signature": SW_SIG.slice(0, 8) }), "signature"],
      ["empty v1", swHeaders({ "webhook-signature": "v1," }), "signature"],
    ];
    for (const [name, headers, reason] of cases) {
      expect(verifyWebhook("standard-webhooks", swKeys, req(headers, SW_BODY), swAt), name).to.deep.equal({
        ok: false,
        reason,
      });
    }
    for (const missing of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const headers = swHeaders();
      delete (headers as Record<string, string>)[missing];
      expect(verifyWebhook("standard-webhooks", swKeys, req(headers, SW_BODY), swAt), missing).to.deep.equal({
        ok: false,
        reason: "missing-headers",
      });
    }
  });

  it("Standard Webhooks: old and new timestamps (tolerance + 1 s) fail", () => {
    const old = verifyWebhook("standard-webhooks", swKeys, req(swHeaders(), SW_BODY), {
      toleranceSeconds: 300,
      nowMs: (SW_TS + 301) * 1000,
    });
    const fresh = verifyWebhook("standard-webhooks", swKeys, req(swHeaders(), SW_BODY), {
      toleranceSeconds: 300,
      nowMs: (SW_TS - 301) * 1000,
    });
    expect(old).to.deep.equal({ ok: false, reason: "stale" });
    expect(fresh).to.deep.equal({ ok: false, reason: "future" });
  });

  it("Standard Webhooks: a multi-signature header with other versions passes on its valid v1", () => {
    const sig = [
      "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
      "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
      SW_SIG,
      "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    ].join(" ");
    expect(
      verifyWebhook("standard-webhooks", swKeys, req(swHeaders({ "webhook-signature": sig }), SW_BODY), swAt)
        .ok,
    ).to.equal(true);
  });

  // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
  // ("Testing the webhook payload validation").
  it("GitHub: the documented secret and payload give the documented signature", () => {
    const headers = signWebhook({
      scheme: "github",
      secret: "It's a Secret to Everybody",
      id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      body: "Hello, World!",
    });
    expect(headers["X-Hub-Signature-256"]).to.equal(
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
    const keys = [schemeKey("github", "It's a Secret to Everybody")];
    const ok = verifyWebhook(
      "github",
      keys,
      req(
        {
          "X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
          "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
          "X-GitHub-Event": "issues",
        },
        "Hello, World!",
      ),
      { toleranceSeconds: 300 },
    ) as Verified;
    expect(ok.ok).to.equal(true);
    expect(ok.id).to.equal("72d3162e-cc78-11e3-81ab-4c9367dc0958");
    expect(ok.timestampMs).to.equal(undefined);
    expect(ok.replayableUntilMs).to.equal(NO_EXPIRY);
    expect(eventTypeOf(ok, { type: "ignored" })).to.equal("issues");
    expect(githubCanonical("Hello, World!").toString()).to.equal("Hello, World!");
  });

  // https://docs.stripe.com/webhooks#verify-manually: the documented header example, and the
  // documented algorithm (signed_payload = t + "." + raw body, HMAC-SHA256 with the endpoint
  // secret as given, hex; only v1 counts).
  it("Stripe: the documented header example parses (t, v1; v0 ignored) and fails only on the signature", () => {
    const header =
      "t=1492774577,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd," +
      "v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";
    const r = verifyWebhook(
      "stripe",
      [schemeKey("stripe", "whsec_test_secret")],
      req({ "Stripe-Signature": header }, "{}"),
      {
        toleranceSeconds: 300,
        nowMs: 1492774577 * 1000,
      },
    );
    expect(r).to.deep.equal({ ok: false, reason: "signature" });
  });

  it("Stripe: the documented algorithm, computed independently, verifies", () => {
    const secret = "whsec_test_secret";
    const body = '{\n  "id": "evt_test_webhook",\n  "object": "event"\n}';
    const t = 1492774577;
    const v1 = createHmac("sha256", secret).update(`${t}.${body}`, "utf8").digest("hex");
    const headers = { "Stripe-Signature": `t=${t},v1=${v1}` };
    expect(signWebhook({ scheme: "stripe", secret, body, timestamp: new Date(t * 1000) })).to.deep.equal(
      headers,
    );
    expect(stripeCanonical(String(t), body).toString()).to.equal(`${t}.${body}`);
    const r = verifyWebhook("stripe", [schemeKey("stripe", secret)], req(headers, body), {
      toleranceSeconds: 300,
      nowMs: t * 1000,
    }) as Verified;
    expect(r.ok).to.equal(true);
    expect(r.id).to.equal(`sig:${v1}`);
    expect(eventTypeOf(r, JSON.parse(body))).to.equal(undefined);
    expect(eventTypeOf(r, { type: "invoice.paid" })).to.equal("invoice.paid");
  });

  it("Stripe: an item without = is passed over, not read as a second t", () => {
    const secret = "whsec_test_secret";
    const body = '{"id":"evt_1"}';
    const t = 1492774577;
    const v1 = createHmac("sha256", secret).update(`${t}.${body}`, "utf8").digest("hex");
    const headers = { "Stripe-Signature": `t=${t},tx,v1=${v1}` };
    const r = verifyWebhook("stripe", [schemeKey("stripe", secret)], req(headers, body), {
      toleranceSeconds: 300,
      nowMs: t * 1000,
    });
    expect(r.ok).to.equal(true);
  });

  it("Stripe: a valid v0 beside a wrong v1 is rejected (no downgrade)", () => {
    const secret = "whsec_test_secret";
    const t = 1492774577;
    const good = createHmac("sha256", secret).update(`${t}.{}`).digest("hex");
    const header = `t=${t},v1=${"0".repeat(64)},v0=${good}`;
    const r = verifyWebhook(
      "stripe",
      [schemeKey("stripe", secret)],
      req({ "Stripe-Signature": header }, "{}"),
      {
        toleranceSeconds: 300,
        nowMs: t * 1000,
      },
    );
    expect(r).to.deep.equal({ ok: false, reason: "signature" });
  });

  it("Stripe: with a rolled secret the header carries two v1 signatures; either secret verifies", () => {
    const t = 1700000000;
    const body = '{"type":"charge.succeeded"}';
    const v1Old = createHmac("sha256", "whsec_old").update(`${t}.${body}`).digest("hex");
    const v1New = createHmac("sha256", "whsec_new").update(`${t}.${body}`).digest("hex");
    const h = { "Stripe-Signature": `t=${t},v1=${v1New},v1=${v1Old}` };
    for (const secret of ["whsec_old", "whsec_new"]) {
      expect(
        verifyWebhook("stripe", [schemeKey("stripe", secret)], req(h, body), {
          toleranceSeconds: 300,
          nowMs: t * 1000,
        }).ok,
      ).to.equal(true);
    }
  });
});

describe("lib/webhook/schemes: every scheme", () => {
  const SECRET: Record<WebhookScheme, string> = {
    "pms-hmac": "pms-webhook-secret",
    "standard-webhooks": "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64"),
    stripe: "whsec_stripe_test",
    github: "gh-secret",
  };
  const NOW = Date.parse("2025-01-06T08:00:00.000Z");
  const BODY = JSON.stringify({
    eventType: "patient.updated",
    resourceId: "pat-00001",
    data: { lastName: "O'Brien" },
  });
  const opts = { toleranceSeconds: 300, nowMs: NOW };

  function delivery(
    scheme: WebhookScheme,
    over: { body?: string; at?: number; secret?: string; id?: string } = {},
  ) {
    const body = over.body ?? BODY;
    const headers = signWebhook({
      scheme,
      secret: over.secret ?? SECRET[scheme],
      body: BODY,
      id: over.id ?? "evt-1",
      timestamp: new Date(over.at ?? NOW),
      method: "POST",
      pathWithQuery: "/hooks/pms?src=sim",
      eventType: "patient.updated",
    });
    return { headers, request: req(headers, body, { pathWithQuery: "/hooks/pms?src=sim" }) };
  }

  for (const scheme of WEBHOOK_SCHEMES) {
    describe(scheme, () => {
      const keys = [schemeKey(scheme, SECRET[scheme])];

      it("verifies its own signature and reports id, timestamp and event type", () => {
        const r = verifyWebhook(scheme, keys, delivery(scheme).request, opts) as Verified;
        expect(r.ok).to.equal(true);
        expect(eventTypeOf(r, JSON.parse(BODY))).to.equal("patient.updated");
        if (scheme === "standard-webhooks" || scheme === "github") expect(r.id).to.equal("evt-1");
        else expect(r.id).to.match(/^sig:[0-9a-f]{64}$/);
        if (scheme === "github") expect(r.timestampMs).to.equal(undefined);
        else {
          expect(r.timestampMs).to.equal(NOW);
          expect(r.replayableUntilMs).to.equal(NOW + 300_000);
        }
      });

      it("rejects a tampered body", () => {
        const r = verifyWebhook(
          scheme,
          keys,
          delivery(scheme, { body: BODY.replace("pat-00001", "pat-00002") }).request,
          opts,
        );
        expect(r).to.deep.equal({ ok: false, reason: "signature" });
      });

      it("rejects a wrong secret", () => {
        const r = verifyWebhook(
          scheme,
          [schemeKey(scheme, scheme === "standard-webhooks" ? "whsec_AAAA" : "nope")],
          delivery(scheme).request,
          opts,
        );
        expect(r).to.deep.equal({ ok: false, reason: "signature" });
      });

      it("accepts a rotated secret: any configured one that matches", () => {
        const keysText = `${scheme === "standard-webhooks" ? "whsec_QUJDRA==" : "old-one"}\n\n  ${SECRET[scheme]}  \n`;
        const r = verifyWebhook(scheme, parseSecrets(scheme, keysText), delivery(scheme).request, opts);
        expect(r.ok).to.equal(true);
      });

      it("rejects a repeated signature header as malformed", () => {
        const { headers } = delivery(scheme);
        const sigName = Object.keys(headers).find((h) => /signature/i.test(h)) as string;
        const raw = Object.entries(headers).flat();
        raw.push(sigName, headers[sigName]);
        const r = verifyWebhook(
          scheme,
          keys,
          { ...delivery(scheme).request, headers: headersFromRaw(raw) },
          opts,
        );
        expect(r).to.deep.equal({ ok: false, reason: "malformed" });
      });

      it("rejects a delivery without its signature header as missing-headers", () => {
        const { headers } = delivery(scheme);
        const kept = Object.fromEntries(Object.entries(headers).filter(([h]) => !/signature/i.test(h)));
        expect(verifyWebhook(scheme, keys, req(kept, BODY), opts)).to.deep.equal({
          ok: false,
          reason: "missing-headers",
        });
      });

      if (scheme !== "github") {
        it("rejects stale and future timestamps, and a tampered timestamp header", () => {
          expect(
            verifyWebhook(scheme, keys, delivery(scheme, { at: NOW - 301_000 }).request, opts),
          ).to.deep.equal({
            ok: false,
            reason: "stale",
          });
          expect(
            verifyWebhook(scheme, keys, delivery(scheme, { at: NOW + 301_000 }).request, opts),
          ).to.deep.equal({
            ok: false,
            reason: "future",
          });
          const { headers } = delivery(scheme);
          const tampered = Object.fromEntries(
            Object.entries(headers).map(([h, v]) => {
              if (/timestamp/i.test(h))
                return [h, scheme === "pms-hmac" ? "2025-01-06T08:00:01.000Z" : String(NOW / 1000 + 1)];
              if (h === "Stripe-Signature") return [h, v.replace(`t=${NOW / 1000}`, `t=${NOW / 1000 + 1}`)];
              return [h, v];
            }),
          );
          expect(
            verifyWebhook(scheme, keys, req(tampered, BODY, { pathWithQuery: "/hooks/pms?src=sim" }), opts),
          ).to.deep.equal({ ok: false, reason: "signature" });
        });
      }
    });
  }

  it("pms-hmac signs the request's original path and query", () => {
    const keys = [schemeKey("pms-hmac", SECRET["pms-hmac"])];
    const { request } = delivery("pms-hmac");
    expect(verifyWebhook("pms-hmac", keys, { ...request, pathWithQuery: "/hooks/pms" }, opts)).to.deep.equal({
      ok: false,
      reason: "signature",
    });
    expect(verifyWebhook("pms-hmac", keys, { ...request, method: "PUT" }, opts)).to.deep.equal({
      ok: false,
      reason: "signature",
    });
  });

  it("GitHub: remembers the delivery under its id and its signature (the id header is not signed)", () => {
    const r = verifyWebhook(
      "github",
      [schemeKey("github", SECRET.github)],
      delivery("github").request,
      opts,
    ) as Verified;
    expect(r.dedupeKeys).to.have.length(2);
    expect(r.dedupeKeys[0]).to.equal("id:evt-1");
    expect(r.dedupeKeys[1]).to.match(/^sig:/);
  });

  it("GitHub: without a delivery id the signature is the id", () => {
    const { headers } = delivery("github");
    delete headers["X-GitHub-Delivery"];
    const r = verifyWebhook(
      "github",
      [schemeKey("github", SECRET.github)],
      req(headers, BODY),
      opts,
    ) as Verified;
    expect(r.ok).to.equal(true);
    expect(r.id).to.match(/^sig:[0-9a-f]{64}$/);
  });

  it("rejects secrets that cannot be keys, naming the line but not the secret", () => {
    for (const [scheme, text] of [
      ["standard-webhooks", "whsec_not base64!"],
      ["standard-webhooks", "whsec_"],
      ["github", "   \n  "],
      ["stripe", undefined],
    ] as const) {
      try {
        parseSecrets(scheme, text);
        expect.fail(`accepted ${String(text)}`);
      } catch (err) {
        expect((err as PackError).code).to.equal("WEBHOOK_CONFIG");
        if (text && text.length > 8) expect((err as Error).message).to.not.contain(text.trim());
      }
    }
  });

  it("Stripe: a header without t or without v1 is malformed", () => {
    const keys = [schemeKey("stripe", SECRET.stripe)];
    for (const header of [
      "v1=" + "a".repeat(64),
      "t=1736150400",
      "t=abc,v1=" + "a".repeat(64),
      "garbage",
      `t=1,t=2,v1=${"a".repeat(64)}`,
    ]) {
      expect(
        verifyWebhook("stripe", keys, req({ "Stripe-Signature": header }, BODY), opts),
        header,
      ).to.deep.equal({
        ok: false,
        reason: "malformed",
      });
    }
  });
});

describe("lib/webhook/schemes: header rules", () => {
  const NOW_S = 1736150400;
  const at = { toleranceSeconds: 300, nowMs: NOW_S * 1000 };
  const body = '{"eventType":"x"}';
  const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const swKey = Buffer.from("header-rules-key-0123456789abcdef");
  const swSecret = "whsec_" + swKey.toString("base64");
  /** A Standard Webhooks delivery signed over whatever timestamp text it is given. */
  const sw = (ts: string, over: Record<string, string> = {}) =>
    req(
      {
        "webhook-id": "msg_1",
        "webhook-timestamp": ts,
        "webhook-signature": `v1,${hmac(swKey, `msg_1.${ts}.${body}`).toString("base64")}`,
        ...over,
      },
      body,
    );
  const stripe = (t: string, header?: (sig: string) => string) => {
    const sig = hmac("stripe-secret", `${t}.${body}`).toString("hex");
    return req({ "Stripe-Signature": header ? header(sig) : `t=${t},v1=${sig}` }, body);
  };
  const ghSig = `sha256=${hmac("gh-secret", body).toString("hex")}`;
  const verify = (scheme: WebhookScheme, secret: string, r: WebhookRequest) =>
    verifyWebhook(scheme, [schemeKey(scheme, secret)], r, at);

  it("knows exactly its four scheme names", () => {
    for (const name of WEBHOOK_SCHEMES) expect(isWebhookScheme(name), name).to.equal(true);
    for (const other of ["PMS-HMAC", "", "hmac", 1, null, undefined, ["github"]]) {
      expect(isWebhookScheme(other), String(other)).to.equal(false);
    }
  });

  it("refuses an empty secret for every scheme, and names the line of a bad one", () => {
    for (const scheme of WEBHOOK_SCHEMES) {
      expect(() => schemeKey(scheme, ""), scheme).to.throw("empty webhook secret");
      expect(
        codeOf(() => schemeKey(scheme, "")),
        scheme,
      ).to.equal("WEBHOOK_CONFIG");
    }
    expect(codeOf(() => schemeKey("standard-webhooks", "whsec_%%%"))).to.equal("WEBHOOK_CONFIG");
    expect(() => parseSecrets("github", " \n ")).to.throw("no webhook secret configured");
    expect(() => parseSecrets("standard-webhooks", `${swSecret}\n\n${swSecret}\nwhsec_%%%`)).to.throw(
      "secret on line 3: a standard-webhooks secret must be base64, usually written whsec_<base64>",
    );
  });

  it("signs with the given method and path, POST and / by default (pms-hmac)", () => {
    const sign = (extra: { method?: string; pathWithQuery?: string }) =>
      signWebhook({
        scheme: "pms-hmac",
        secret: "pms-secret",
        body,
        timestamp: new Date(NOW_S * 1000),
        ...extra,
      });
    const put = req(sign({ method: "PUT", pathWithQuery: "/x?y=1" }), body, {
      method: "PUT",
      pathWithQuery: "/x?y=1",
    });
    expect(verify("pms-hmac", "pms-secret", put).ok).to.equal(true);
    const plain = req(sign({}), body, { method: "POST", pathWithQuery: "/" });
    expect(verify("pms-hmac", "pms-secret", plain).ok).to.equal(true);
  });

  it("sends X-GitHub-Event only when there is an event type, and needs a delivery id", () => {
    const base = { scheme: "github" as const, secret: "gh-secret", body, id: "d-1" };
    expect(signWebhook({ ...base, eventType: "push" })["X-GitHub-Event"]).to.equal("push");
    expect(signWebhook(base)).to.not.have.property("X-GitHub-Event");
    for (const scheme of ["github", "standard-webhooks"] as const) {
      expect(
        () => signWebhook({ scheme, secret: scheme === "github" ? "g" : swSecret, body }),
        scheme,
      ).to.throw("this scheme needs a delivery id");
      try {
        signWebhook({ scheme, secret: scheme === "github" ? "g" : swSecret, body });
      } catch (err) {
        expect((err as { code?: string }).code, scheme).to.equal("WEBHOOK_CONFIG");
      }
    }
  });

  it("pms-hmac: a missing timestamp is missing-headers; an unreadable timestamp or signature is malformed", () => {
    const good = signWebhook({
      scheme: "pms-hmac",
      secret: "pms-secret",
      body,
      timestamp: new Date(NOW_S * 1000),
    });
    const r = (headers: Record<string, string>) => verify("pms-hmac", "pms-secret", req(headers, body));
    expect(r({ "X-Signature": good["X-Signature"] })).to.deep.equal({ ok: false, reason: "missing-headers" });
    expect(r({ ...good, "X-Timestamp": "yesterday" })).to.deep.equal({ ok: false, reason: "malformed" });
    expect(r({ ...good, "X-Signature": "not-a-digest" })).to.deep.equal({ ok: false, reason: "malformed" });
  });

  it("Standard Webhooks: the timestamp is whole seconds and nothing else, even when signed", () => {
    expect(verify("standard-webhooks", swSecret, sw(String(NOW_S))).ok).to.equal(true);
    for (const ts of [`${NOW_S}x`, `x${NOW_S}`, `+${NOW_S}`, `${NOW_S}.5`]) {
      expect(verify("standard-webhooks", swSecret, sw(ts)), ts).to.deep.equal({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("Standard Webhooks: an empty id is malformed; a header of no signature entries is malformed", () => {
    expect(verify("standard-webhooks", swSecret, sw(String(NOW_S), { "webhook-id": "" }))).to.deep.equal({
      ok: false,
      reason: "malformed",
    });
    for (const header of ["garbage", "v1 abc", ",", "x1,abc"]) {
      expect(
        verify("standard-webhooks", swSecret, sw(String(NOW_S), { "webhook-signature": header })),
        header,
      ).to.deep.equal({ ok: false, reason: "malformed" });
    }
  });

  it("Standard Webhooks: only v1 entries of strict base64 count", () => {
    const ts = String(NOW_S);
    const v1 = hmac(swKey, `msg_1.${ts}.${body}`).toString("base64");
    const only = (header: string) =>
      verify("standard-webhooks", swSecret, sw(ts, { "webhook-signature": header }));
    expect(only(`v1,${v1}`).ok).to.equal(true);
    expect(only(`v2,${v1}`)).to.deep.equal({ ok: false, reason: "signature" });
    expect(only(`v1,${v1.slice(0, 10)}.${v1.slice(10)}`)).to.deep.equal({ ok: false, reason: "signature" });
    expect(only("v1,")).to.deep.equal({ ok: false, reason: "signature" });
  });

  it("Stripe: items are trimmed, items without = are skipped, and t and v1 are checked whole", () => {
    const t = String(NOW_S);
    expect(
      verify(
        "stripe",
        "stripe-secret",
        stripe(t, (sig) => `t=${t} , v1= ${sig} ,note`),
      ).ok,
    ).to.equal(true);
    for (const bad of [`${t}x`, `x${t}`]) {
      expect(verify("stripe", "stripe-secret", stripe(bad)), bad).to.deep.equal({
        ok: false,
        reason: "malformed",
      });
    }
    for (const header of [(sig: string) => `t=${t},v1=${sig}zz`, (sig: string) => `t=${t},v1=xx${sig}`]) {
      expect(verify("stripe", "stripe-secret", stripe(t, header))).to.deep.equal({
        ok: false,
        reason: "malformed",
      });
    }
  });

  it("GitHub: a repeated delivery or event header is malformed; the signature is checked whole, spaces aside", () => {
    const r = (raw: string[]) =>
      verify("github", "gh-secret", { ...req({}, body), headers: headersFromRaw(raw) });
    const sig = ["X-Hub-Signature-256", ghSig];
    expect(r([...sig, "X-GitHub-Delivery", "d1"]).ok).to.equal(true);
    expect(r(["X-Hub-Signature-256", ` ${ghSig} `]).ok).to.equal(true);
    expect(r([...sig, "X-GitHub-Delivery", "d1", "X-GitHub-Delivery", "d2"])).to.deep.equal({
      ok: false,
      reason: "malformed",
    });
    expect(r([...sig, "X-GitHub-Event", "push", "X-GitHub-Event", "push"])).to.deep.equal({
      ok: false,
      reason: "malformed",
    });
    for (const bad of [`x${ghSig}`, `${ghSig}zz`]) {
      expect(r(["X-Hub-Signature-256", bad]), bad).to.deep.equal({ ok: false, reason: "malformed" });
    }
  });

  it("GitHub without a delivery id de-duplicates on the signature", () => {
    const out = verify("github", "gh-secret", req({ "X-Hub-Signature-256": ghSig }, body)) as Verified;
    expect(out.dedupeKeys).to.deep.equal([`sig:${ghSig.slice("sha256=".length)}`]);
  });

  it("remembers a delivery until the later of now and its timestamp, plus the tolerance", () => {
    const early = verify("standard-webhooks", swSecret, sw(String(NOW_S - 100))) as Verified;
    expect(early.replayableUntilMs).to.equal((NOW_S + 300) * 1000);
    const late = verify("standard-webhooks", swSecret, sw(String(NOW_S + 100))) as Verified;
    expect(late.replayableUntilMs).to.equal((NOW_S + 100 + 300) * 1000);
  });

  it("takes the event type from a JSON object body only, skipping empty strings", () => {
    const v = { headerEventType: undefined } as unknown as Verified;
    for (const payload of [null, undefined, "text", 7, ["eventType"]]) {
      expect(eventTypeOf(v, payload), String(payload)).to.equal(undefined);
    }
    expect(eventTypeOf(v, { eventType: "", type: "t" })).to.equal("t");
    expect(eventTypeOf(v, { eventType: "e", type: "t" })).to.equal("e");
  });
});
