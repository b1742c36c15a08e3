import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { importPrivateKey } from "../../../lib/fhir/auth";
import { smartKeyProblem } from "../../../lib/fhir/smart-key";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });

const pkcs8 = (k: typeof rsa.privateKey) => k.export({ type: "pkcs8", format: "pem" }).toString();
const RSA_PKCS8 = pkcs8(rsa.privateKey);
const EC_PKCS8 = pkcs8(ec.privateKey);
const RSA_PKCS1 = rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const EC_SEC1 = ec.privateKey.export({ type: "sec1", format: "pem" }).toString();
const RSA_JWK = JSON.stringify({ ...rsa.privateKey.export({ format: "jwk" }), kid: "k1" });
const EC_JWK = JSON.stringify(ec.privateKey.export({ format: "jwk" }));
const PUBLIC_JWK = JSON.stringify(rsa.publicKey.export({ format: "jwk" }));
const PUBLIC_PEM = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
const ENCRYPTED = rsa.privateKey
  .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" })
  .toString();

/** Whether the runtime's import (node:crypto) takes the key at all. */
function runtimeTakes(text: string): boolean {
  try {
    importPrivateKey(text);
    return true;
  } catch {
    return false;
  }
}

describe("lib/fhir/smart-key: the dialog's check of a pasted SMART private key", () => {
  it("passes every form the runtime imports, for the algorithm the key's type serves", () => {
    const good: [string, string, "RS384" | "ES384"][] = [
      ["RSA PKCS#8", RSA_PKCS8, "RS384"],
      ["EC PKCS#8", EC_PKCS8, "ES384"],
      ["RSA PKCS#1", RSA_PKCS1, "RS384"],
      ["EC SEC1", EC_SEC1, "ES384"],
      ["RSA JWK", RSA_JWK, "RS384"],
      ["EC JWK", EC_JWK, "ES384"],
      ["JWK Set", JSON.stringify({ keys: [JSON.parse(PUBLIC_JWK), JSON.parse(RSA_JWK)] }), "RS384"],
      ["PEM with CRLF and spaces around", `  ${RSA_PKCS8.replace(/\n/g, "\r\n")}  `, "RS384"],
    ];
    for (const [what, text, alg] of good) {
      expect(runtimeTakes(text), `${what}: the runtime imports it`).to.equal(true);
      expect(smartKeyProblem(text, alg), what).to.equal(undefined);
    }
  });

  it("names the usual mistakes, each of which the runtime refuses too", () => {
    const bad: [string, string, RegExp][] = [
      ["public PEM", PUBLIC_PEM, /public key: the private key is needed/],
      ["encrypted PEM", ENCRYPTED, /encrypted key cannot be used/],
      ["cut short", RSA_PKCS8.slice(0, 200), /cut short: it must end with -----END PRIVATE KEY-----/],
      ["body not base64", "-----BEGIN PRIVATE KEY-----\nnot*base64\n-----END PRIVATE KEY-----", /not base64/],
      ["a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", /certificate/],
      ["other PEM", "-----BEGIN DH PARAMETERS-----\nAAAA\n-----END DH PARAMETERS-----", /not a private key/],
      ["public JWK", PUBLIC_JWK, /JWK is a public key/],
      ["JWK Set of public keys", JSON.stringify({ keys: [JSON.parse(PUBLIC_JWK)] }), /holds no private key/],
      ["broken JSON", RSA_JWK.slice(0, 40), /not valid JSON/],
      ["JSON array", "[1]", /paste a PEM private key/],
      ["symmetric JWK", JSON.stringify({ kty: "oct", k: "AAAA", d: "x" }), /kty must be "RSA" or "EC"/],
      ["prose", "my key", /paste a PEM private key/],
    ];
    for (const [what, text, reason] of bad) {
      expect(smartKeyProblem(text, "RS384"), what).to.match(reason);
      expect(runtimeTakes(text), `${what}: the runtime refuses it too`).to.equal(false);
      expect(smartKeyProblem(text, "RS384"), `${what}: no key text in the answer`).not.to.include(
        text.trim().slice(30, 60) || "\u0000",
      );
    }
  });

  it("asks for a key when there is none", () => {
    for (const empty of ["", "  \n "])
      expect(smartKeyProblem(empty, "RS384")).to.equal("a private key is required");
  });

  it("refuses a key whose type the algorithm cannot use, where the text says the type", () => {
    expect(smartKeyProblem(RSA_PKCS1, "ES384")).to.equal("the key is RSA, but ES384 needs an EC key");
    expect(smartKeyProblem(EC_SEC1, "RS384")).to.equal("the key is EC, but RS384 needs an RSA key");
    expect(smartKeyProblem(RSA_JWK, "ES384")).to.equal("the key is RSA, but ES384 needs an EC key");
    expect(smartKeyProblem(EC_JWK, "RS384")).to.equal("the key is EC, but RS384 needs an RSA key");
    // PKCS#8 does not say its type in the text: the runtime's import judges it at deploy.
    expect(smartKeyProblem(EC_PKCS8, "RS384")).to.equal(undefined);
  });
});
