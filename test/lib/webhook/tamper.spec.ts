import { expect } from "chai";
import type * as Crypto from "node:crypto";
import { headersFromObject, verifyPmsRequest } from "../../../lib/legacy/pms-hmac";
import {
  parseSecrets,
  signWebhook,
  verifyWebhook,
  WEBHOOK_SCHEMES,
  type WebhookScheme,
} from "../../../lib/webhook/schemes";

/**
 * A signature is accepted only whole: one bit changed anywhere in its 32 bytes, in any scheme and
 * either encoding, is refused (401). And the comparison is the constant-time one of node:crypto.
 */

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY = Buffer.from('{"type":"patient.updated","resourceId":"pat-00042"}');
const AT = new Date("2026-12-06T08:00:00Z");
const PATH = "/pms/webhooks";

/** Where each scheme carries its signature, and how the digest is written there. */
const CARRIER: Record<
  WebhookScheme,
  { header: string; read(v: string): Buffer; write(v: string, digest: Buffer): string }
> = {
  "pms-hmac": {
    header: "X-Signature",
    read: (v) => Buffer.from(v, "hex"),
    write: (_v, d) => d.toString("hex"),
  },
  "standard-webhooks": {
    header: "webhook-signature",
    read: (v) => Buffer.from(v.slice("v1,".length), "base64"),
    write: (_v, d) => `v1,${d.toString("base64")}`,
  },
  stripe: {
    header: "Stripe-Signature",
    read: (v) => Buffer.from(/v1=([0-9a-f]+)/.exec(v)![1], "hex"),
    write: (v, d) => v.replace(/v1=[0-9a-f]+/, `v1=${d.toString("hex")}`),
  },
  github: {
    header: "X-Hub-Signature-256",
    read: (v) => Buffer.from(v.slice("sha256=".length), "hex"),
    write: (_v, d) => `sha256=${d.toString("hex")}`,
  },
};

function signed(scheme: WebhookScheme): Record<string, string> {
  return signWebhook({
    scheme,
    secret: SECRET,
    body: BODY,
    id: "msg_1",
    timestamp: AT,
    method: "POST",
    pathWithQuery: PATH,
  });
}

function verify(scheme: WebhookScheme, headers: Record<string, string>) {
  return verifyWebhook(
    scheme,
    parseSecrets(scheme, SECRET),
    { method: "POST", pathWithQuery: PATH, headers: headersFromObject(headers), body: BODY },
    { toleranceSeconds: 300, nowMs: AT.getTime() },
  );
}

/** The header's name as signWebhook wrote it (case as sent). */
function headerName(headers: Record<string, string>, name: string): string {
  const found = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  expect(found, `${name} in ${Object.keys(headers).join(", ")}`).to.be.a("string");
  return found!;
}

describe("lib/webhook: tampered signatures", () => {
  for (const scheme of WEBHOOK_SCHEMES) {
    it(`${scheme}: one bit flipped at any of the 32 bytes is refused; the untouched one passes`, () => {
      const headers = signed(scheme);
      expect(verify(scheme, headers).ok).to.equal(true);
      const name = headerName(headers, CARRIER[scheme].header);
      const digest = CARRIER[scheme].read(headers[name]);
      expect(digest).to.have.length(32);
      for (let i = 0; i < digest.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const bad = Buffer.from(digest);
          bad[i] ^= bit;
          const result = verify(scheme, { ...headers, [name]: CARRIER[scheme].write(headers[name], bad) });
          expect(result, `byte ${i} bit ${bit}`).to.deep.equal({ ok: false, reason: "signature" });
        }
      }
    });
  }

  it("pms-hmac requests (the PMS API's own signature, hex and base64): every byte counts", () => {
    for (const encoding of ["hex", "base64"] as const) {
      const headers = signWebhook({
        scheme: "pms-hmac",
        secret: "api-secret",
        body: BODY,
        timestamp: AT,
        method: "POST",
        pathWithQuery: PATH,
        encoding,
      });
      const check = (h: Record<string, string>) =>
        verifyPmsRequest({
          method: "POST",
          pathWithQuery: PATH,
          body: BODY,
          headers: headersFromObject({ ...h, "X-API-Key": "key" }),
          secrets: ["api-secret"],
          apiKey: "key",
          nowMs: AT.getTime(),
        }).ok;
      expect(check(headers), encoding).to.equal(true);
      const digest = Buffer.from(headers["X-Signature"], encoding);
      for (let i = 0; i < digest.length; i++) {
        const bad = Buffer.from(digest);
        bad[i] ^= 0x10;
        expect(
          check({ ...headers, "X-Signature": bad.toString(encoding) }),
          `${encoding} byte ${i}`,
        ).to.equal(false);
      }
    }
  });

  it("compares through crypto.timingSafeEqual, whose answer alone decides", () => {
    // The module object itself (an `import *` would be a read-only copy of it).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const writable = require("node:crypto") as typeof Crypto;
    const original = writable.timingSafeEqual;
    const calls: Array<[number, number]> = [];
    const headers = signed("standard-webhooks");
    const name = headerName(headers, "webhook-signature");
    const forged = CARRIER["standard-webhooks"].write(headers[name], Buffer.alloc(32, 7));
    try {
      writable.timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
        calls.push([a.byteLength, b.byteLength]);
        return original(a, b);
      };
      expect(verify("standard-webhooks", headers).ok).to.equal(true);
      expect(calls.length).to.be.at.least(1);
      expect(calls.every(([a, b]) => a === 32 && b === 32)).to.equal(true);
      // If the primitive says equal, the forged signature passes: no other comparison is made.
      writable.timingSafeEqual = () => true;
      expect(verify("standard-webhooks", { ...headers, [name]: forged }).ok).to.equal(true);
    } finally {
      writable.timingSafeEqual = original;
    }
    expect(verify("standard-webhooks", { ...headers, [name]: forged }).ok).to.equal(false);
  });
});
