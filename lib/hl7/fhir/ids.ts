import * as crypto from "node:crypto";

/**
 * Identifier systems from v2 assigning authorities (HD), and the deterministic `urn:uuid:`
 * fullUrls that make one message always give the same Bundle.
 */

export const DEFAULT_SYSTEM_PATTERN = "urn:healthbridge:hl7v2:{authority}";

/** An HD (hierarchic designator): namespace ID, universal ID, universal ID type. */
export interface Hd {
  namespace: string;
  universalId: string;
  universalIdType: string;
}

export interface SystemOptions {
  /** Assigning authority (HD-1 namespace ID, or HD-2 universal ID) -> identifier system URI. */
  systems?: Readonly<Record<string, string>>;
  /** For authorities the table lacks: `{authority}` is replaced by the URI-encoded namespace ID. */
  systemPattern?: string;
}

export class IdentifierSystems {
  private readonly table: ReadonlyMap<string, string>;
  private readonly reverse: ReadonlyMap<string, string>;
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly pattern: string;
  private readonly placeholder: boolean;

  constructor(options: SystemOptions = {}) {
    const table = new Map<string, string>();
    const reverse = new Map<string, string>();
    for (const [authority, system] of Object.entries(options.systems ?? {})) {
      if (typeof system !== "string" || system === "") continue;
      table.set(authority, system);
      if (!reverse.has(system)) reverse.set(system, authority);
    }
    this.table = table;
    this.reverse = reverse;
    this.pattern = options.systemPattern || DEFAULT_SYSTEM_PATTERN;
    const at = this.pattern.indexOf("{authority}");
    this.placeholder = at >= 0;
    this.prefix = at < 0 ? this.pattern : this.pattern.slice(0, at);
    this.suffix = at < 0 ? "" : this.pattern.slice(at + "{authority}".length);
  }

  /**
   * The system for an assigning authority. `fallback` names the authority when the HD is
   * empty (the sending facility: identifiers are unique within the sender).
   */
  system(hd: Hd, fallback: string): string {
    if (hd.namespace !== "") {
      const mapped = this.table.get(hd.namespace);
      if (mapped) return mapped;
    }
    if (hd.universalId !== "") {
      const mapped = this.table.get(hd.universalId);
      if (mapped) return mapped;
      switch (hd.universalIdType.toUpperCase()) {
        case "ISO":
          return `urn:oid:${hd.universalId}`;
        case "UUID":
          return `urn:uuid:${hd.universalId.toLowerCase()}`;
        case "URI":
        case "URL":
          return hd.universalId;
      }
    }
    if (hd.namespace !== "") return this.fromPattern(hd.namespace);
    const unnamed = this.table.get("");
    if (unnamed) return unnamed;
    return this.fromPattern(fallback || "local");
  }

  private fromPattern(authority: string): string {
    return this.placeholder ? this.prefix + encodeURIComponent(authority) + this.suffix : this.pattern;
  }

  /** The HD a system URI is written back as (FHIR -> v2); the inverse of `system`. */
  authority(system: string | undefined): Hd {
    const empty: Hd = { namespace: "", universalId: "", universalIdType: "" };
    if (!system) return empty;
    const key = this.reverse.get(system);
    if (key !== undefined) {
      return /^[0-2](\.\d+)+$/.test(key)
        ? { namespace: "", universalId: key, universalIdType: "ISO" }
        : { ...empty, namespace: key };
    }
    if (system.startsWith("urn:oid:")) {
      return { namespace: "", universalId: system.slice(8), universalIdType: "ISO" };
    }
    if (system.startsWith("urn:uuid:")) {
      return { namespace: "", universalId: system.slice(9), universalIdType: "UUID" };
    }
    if (
      this.placeholder &&
      system.length > this.prefix.length + this.suffix.length &&
      system.startsWith(this.prefix) &&
      system.endsWith(this.suffix)
    ) {
      const middle = system.slice(this.prefix.length, system.length - this.suffix.length);
      try {
        return { ...empty, namespace: decodeURIComponent(middle) };
      } catch {
        // not one of ours: fall through to a URI
      }
    }
    return { namespace: "", universalId: system, universalIdType: "URI" };
  }
}

const NAMESPACE = "healthbridge/hl7-fhir";

/**
 * A name-based UUID (version 5 layout over SHA-1) for a business key, so that a message
 * always yields the same fullUrls and the same Bundle.
 */
export function deterministicUuid(kind: string, key: string): string {
  const h = sha1(`${NAMESPACE}\0${kind}\0${key}`);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.toString("hex", 0, 16);
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

type OneShotHash = (algorithm: string, data: string, outputEncoding: "buffer") => Buffer;
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

/** SHA-1 of a string; crypto.hash (Node 20.12+) is a one-shot several times cheaper than createHash. */
function sha1(data: string): Buffer {
  return oneShot ? oneShot("sha1", data, "buffer") : crypto.createHash("sha1").update(data).digest();
}

const SEARCH_SPECIAL = /[\\|,$]/;
const SEARCH_SPECIAL_ALL = /[\\|,$]/g;

/** `system|value` for a search URL, each part escaped the way FHIR token search expects. */
export function tokenParam(system: string, value: string): string {
  const esc = (s: string): string => (SEARCH_SPECIAL.test(s) ? s.replace(SEARCH_SPECIAL_ALL, "\\$&") : s);
  return encodeURIComponent(`${esc(system)}|${esc(value)}`);
}
