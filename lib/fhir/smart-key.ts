import type { JwtAlg } from "./types";

/**
 * What the fhir-server dialog can tell about a SMART backend private key as it is pasted, without
 * a crypto library: the forms `importPrivateKey` (auth.ts) accepts, PEM (PKCS#8, PKCS#1, SEC1) or a
 * private JWK or JWK Set, and the key type `alg` needs where the text names it. The runtime's
 * import stays the judge; this catches the usual mistakes (a public key or certificate, an
 * encrypted key, a key cut short, RSA for ES384) while the analyst is still in the dialog.
 * Answers the problem in words, or undefined. The key text never goes into the answer.
 */
export function smartKeyProblem(text: string, alg: JwtAlg): string | undefined {
  const t = text.trim();
  if (t === "") return "a private key is required";
  if (t.startsWith("{")) return jwkProblem(t, alg);
  const begin = /^-----BEGIN ([A-Z0-9 ]+)-----/.exec(t);
  if (!begin) return "paste a PEM private key (its BEGIN and END lines included) or a private JWK (JSON)";
  const label = begin[1];
  if (label === "ENCRYPTED PRIVATE KEY")
    return "an encrypted key cannot be used: export it without a passphrase";
  if (label.includes("PUBLIC KEY") || label === "CERTIFICATE") {
    return `this is a ${label.toLowerCase()}: the private key is needed (the public key goes to the EHR)`;
  }
  if (!/^(RSA |EC )?PRIVATE KEY$/.test(label)) return `a PEM "${label}" is not a private key`;
  const end = new RegExp(`-----END ${label}-----$`).exec(t);
  if (!end) return `the key is cut short: it must end with -----END ${label}-----`;
  const body = t.slice(begin[0].length, end.index).replace(/\s+/g, "");
  if (body === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return "the key's body is not base64";
  const type = label === "RSA PRIVATE KEY" ? "rsa" : label === "EC PRIVATE KEY" ? "ec" : undefined;
  return typeMismatch(type, alg);
}

function jwkProblem(text: string, alg: JwtAlg): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return "the JWK is not valid JSON";
  }
  const set = (parsed as { keys?: unknown }).keys;
  const candidates = Array.isArray(set) ? set : [parsed];
  const keys = candidates.filter((k): k is Record<string, unknown> => typeof k === "object" && k !== null);
  const privates = keys.filter((k) => "d" in k);
  if (privates.length === 0) {
    return Array.isArray(set)
      ? "the JWK Set holds no private key"
      : "the JWK is a public key: the private key (with its d member) is needed";
  }
  const kty = privates[0].kty;
  if (kty !== "RSA" && kty !== "EC") return 'the JWK\'s kty must be "RSA" or "EC"';
  return typeMismatch(kty === "RSA" ? "rsa" : "ec", alg);
}

function typeMismatch(type: "rsa" | "ec" | undefined, alg: JwtAlg): string | undefined {
  const needs = alg === "ES384" ? "ec" : "rsa";
  if (type === undefined || type === needs) return undefined;
  return `the key is ${type.toUpperCase()}, but ${alg} needs an ${needs.toUpperCase()} key`;
}
