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
  /** Authorities seen -> their patterned system (a feed names a handful, over and over). */
  private readonly patterned = new Map<string, string>();

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
    if (!this.placeholder) return this.pattern;
    let system = this.patterned.get(authority);
    if (system === undefined) {
      if (this.patterned.size >= 1024) this.patterned.clear();
      system = this.prefix + encodeURIComponent(authority) + this.suffix;
      this.patterned.set(authority, system);
    }
    return system;
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
  const h = sha1Hex(`${NAMESPACE}\0${kind}\0${key}`);
  // version 5 in the 13th hex digit, variant 10xx in the 17th
  const variant = VARIANT_DIGIT[parseInt(h[16], 16) & 3];
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const VARIANT_DIGIT = "89ab";

type OneShotHash = (algorithm: string, data: string, outputEncoding: "hex") => string;
/** crypto.hash (Node 20.12+, which `engines` requires) is a one-shot several times cheaper than createHash; hex out spares a Buffer. */
export const sha1Hex = (data: string): string =>
  (crypto as unknown as { hash: OneShotHash }).hash("sha1", data, "hex");

const SEARCH_SPECIAL = /[\\|,$]/;
const SEARCH_SPECIAL_ALL = /[\\|,$]/g;

/** `system|value` for a search URL, each part escaped the way FHIR token search expects. */
export function tokenParam(system: string, value: string): string {
  return encodeURIComponent(`${escapeToken(system)}|${escapeToken(value)}`);
}

const escapeToken = (s: string): string =>
  SEARCH_SPECIAL.test(s) ? s.replace(SEARCH_SPECIAL_ALL, "\\$&") : s;
