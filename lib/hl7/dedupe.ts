import { createHash } from "node:crypto";
import type { Hl7Header } from "./message";

/**
 * De-duplication of received messages within a window. A message repeats an earlier one when
 * both its identity (sending application MSH-3, sending facility MSH-4 and control ID MSH-10,
 * as written) and its content (the whole message but MSH-7, which some senders set anew when
 * they resend) are the same. A message with a known identity and other content is a
 * conflict: it is processed as new (so nobody can have a sender's next message dropped by
 * sending something else under its control ID first), and the caller flags it. The accepted
 * one of the two is remembered from then on.
 *
 * Only accepted outcomes (AA/CA, or "forwarded" without ACKs) are remembered: a message that
 * was answered AE/AR was not stored, so its resend must be processed again. A repeat that
 * arrives while the original is still with the flow waits for the original's answer and
 * gets the same code.
 *
 * The ACKs sent for an accepted message (the ACK, or in enhanced mode the commit ACK and later
 * the application ACK) are kept with its entry, so that a repeat is answered with the very
 * bytes the sender got the first time (same MSH-7, same MSH-10), and they are saved and
 * restored with it.
 *
 * Identities and contents are kept as SHA-256 digests, so an entry takes the same few hundred
 * bytes whatever the message or its control ID (plus its ACKs, a few hundred bytes each); the
 * cache holds at most `maxEntries`.
 */

function digest(...parts: string[]): string {
  const h = createHash("sha256");
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) h.update("\u0000");
    h.update(parts[i]);
  }
  return h.digest("base64url");
}

/** The identity of a message: a digest of MSH-3, MSH-4 and MSH-10 as written. */
export function dedupeKey(h: Hl7Header): string {
  return digest(h.msh[3] ?? "", h.msh[4] ?? "", h.msh[10] ?? "");
}

/** The content of a message: a digest of its text with MSH-7 (date/time of message) left empty. */
export function contentDigest(text: string, h: Hl7Header): string {
  const sep = h.delimiters.field;
  const start = text.indexOf(`MSH${sep}`);
  if (start < 0) return digest(text);
  const cr = text.indexOf("\r", start);
  const lf = text.indexOf("\n", start);
  const end = cr < 0 ? (lf < 0 ? text.length : lf) : lf < 0 ? cr : Math.min(cr, lf);
  const fields = text.slice(start, end).split(sep);
  // fields[0] is "MSH", fields[1] MSH-2: MSH-n is fields[n - 1].
  if (fields.length > 6) fields[6] = "";
  return digest(text.slice(0, start) + fields.join(sep) + text.slice(end));
}

export type DedupeState =
  | {
      state: "new";
      /** The identity was seen (accepted, or with the flow now) with other content. */
      conflict: boolean;
    }
  | {
      state: "done";
      code: string;
      /** The ACKs sent the first time, in order; absent when none was kept. */
      acks?: string[];
    }
  | { state: "pending"; wait: Promise<string> };

interface Pending {
  waiters: Array<(code: string) => void>;
}

interface Entry {
  /** "" for an entry restored from a version 1 snapshot, which kept no content: it matches any. */
  digest: string;
  code: string;
  expires: number;
  acks: string[];
}

export interface DedupeSnapshot {
  version: 3;
  /** [identity digest, content digest, code, expires epoch ms, ACKs sent (texts, in order)] */
  entries: Array<[string, string, string, number, string[]]>;
}

/** ACKs kept per entry, and the length of each: what an ACK this pack builds can be, with room. */
const MAX_ACKS = 2;
const MAX_ACK_CHARS = 4096;

function ackList(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_ACKS) return undefined;
  for (const a of v)
    if (typeof a !== "string" || a.length > MAX_ACK_CHARS || !a.startsWith("MSH")) return undefined;
  return v as string[];
}

const DIGEST = /^[A-Za-z0-9_-]{43}$/;
const CODES = new Set(["AA", "CA", "AE", "AR", "CE", "CR"]);

/** An accepted message's entry as a shared store keeps it (under its identity digest). */
export interface SharedEntry {
  /** Content digest. */
  d: string;
  /** ACK code: AA or CA. */
  c: string;
  /** The ACKs sent, in order. */
  a: string[];
}

/** The entry a shared store gave back, or undefined when it is not one (absent, or not written by this pack). */
export function sharedEntry(v: unknown): SharedEntry | undefined {
  if (v === null || typeof v !== "object") return undefined;
  const { d, c, a } = v as Record<string, unknown>;
  if (typeof d !== "string" || !DIGEST.test(d) || (c !== "AA" && c !== "CA")) return undefined;
  const acks = ackList(a);
  return acks ? { d, c, a: [...acks] } : undefined;
}

export class DedupeCache {
  private readonly done = new Map<string, Entry>();
  /** By identity and content. */
  private readonly pending = new Map<string, Pending>();
  /** Identities with the flow now, and how many contents of each. */
  private readonly pendingIds = new Map<string, number>();
  /** Set when entries changed since the last snapshot. */
  dirty = false;
  /** Told each accepted entry as it is remembered or gains an ACK, with when it expires (a shared store). */
  onAccepted?: (key: string, entry: SharedEntry, expires: number) => void;

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {}

  get size(): number {
    return this.done.size;
  }

  /** What to do with a message of this identity and content. A "new" one is now pending: settle it. */
  check(key: string, content: string): DedupeState {
    let hit = this.done.get(key);
    if (hit && hit.expires <= this.now()) {
      this.done.delete(key);
      hit = undefined;
    }
    if (hit && (hit.digest === content || hit.digest === "")) {
      return hit.acks.length > 0
        ? { state: "done", code: hit.code, acks: [...hit.acks] }
        : { state: "done", code: hit.code };
    }
    const p = this.pending.get(`${key} ${content}`);
    if (p) return { state: "pending", wait: new Promise<string>((resolve) => p.waiters.push(resolve)) };
    const conflict = hit !== undefined || this.pendingIds.has(key);
    this.pending.set(`${key} ${content}`, { waiters: [] });
    this.pendingIds.set(key, (this.pendingIds.get(key) ?? 0) + 1);
    return { state: "new", conflict };
  }

  /**
   * The original's outcome: remembered when accepted, forgotten otherwise. `ack` is the ACK
   * text sent for it (none when nothing was sent).
   */
  settle(key: string, content: string, code: string, ack?: string): void {
    const waiters = this.unpend(key, content);
    if (code === "AA" || code === "CA") {
      const acks = ack !== undefined && ack.length <= MAX_ACK_CHARS ? [ack] : [];
      const entry = this.remember(key, content, code, acks);
      this.onAccepted?.(key, { d: content, c: code, a: [...acks] }, entry.expires);
    }
    for (const w of waiters) w(code);
  }

  /**
   * A pending message that a shared store knows as accepted elsewhere (another instance, or this
   * one before a restart): remembered here as it was there, and its waiters answered alike.
   */
  adopt(key: string, shared: SharedEntry): void {
    const waiters = this.unpend(key, shared.d);
    this.remember(key, shared.d, shared.c, [...shared.a]);
    for (const w of waiters) w(shared.c);
  }

  /** No longer pending; gives back who waits for its outcome. */
  private unpend(key: string, content: string): Array<(code: string) => void> {
    const id = `${key} ${content}`;
    const p = this.pending.get(id);
    if (!p) return [];
    this.pending.delete(id);
    const n = (this.pendingIds.get(key) ?? 1) - 1;
    if (n > 0) this.pendingIds.set(key, n);
    else this.pendingIds.delete(key);
    return p.waiters;
  }

  private remember(key: string, content: string, code: string, acks: string[]): Entry {
    const entry = { digest: content, code, expires: this.now() + this.windowMs, acks };
    this.done.delete(key);
    this.done.set(key, entry);
    this.dirty = true;
    this.prune();
    return entry;
  }

  /**
   * Adds an ACK sent later for an accepted message (the application ACK after the commit ACK),
   * so that a repeat gets both. Nothing when the entry has gone or holds other content.
   */
  addAck(key: string, content: string, ack: string): void {
    const hit = this.done.get(key);
    if (!hit || hit.digest !== content || hit.acks.length >= MAX_ACKS || ack.length > MAX_ACK_CHARS) return;
    hit.acks.push(ack);
    this.dirty = true;
    this.onAccepted?.(key, { d: hit.digest, c: hit.code, a: [...hit.acks] }, hit.expires);
  }

  /** The ACKs kept for a message (after a repeat waited for its original). */
  acksOf(key: string, content: string): string[] {
    const hit = this.done.get(key);
    return hit && hit.digest === content && hit.expires > this.now() ? [...hit.acks] : [];
  }

  /** Drops expired entries from the oldest on, and the oldest beyond maxEntries. */
  private prune(): void {
    const t = this.now();
    for (const [k, v] of this.done) {
      if (v.expires > t && this.done.size <= this.maxEntries) break;
      this.done.delete(k);
    }
  }

  snapshot(): DedupeSnapshot {
    this.prune();
    this.dirty = false;
    return {
      version: 3,
      entries: [...this.done].map(([k, v]) => [k, v.digest, v.code, v.expires, [...v.acks]]),
    };
  }

  /**
   * Loads a snapshot; entries that are malformed or expired are skipped. A version 2 snapshot
   * (no ACKs kept) is loaded as it is: its repeats get a new ACK with the code kept. A version 1 snapshot
   * (`[MSH-3 NUL MSH-4 NUL MSH-10, code, expires]`, before contents were compared) is migrated:
   * its entries keep answering repeats of their identity, whatever the content, until they
   * expire.
   */
  restore(snap: unknown): void {
    const entries = (snap as { entries?: unknown } | undefined)?.entries;
    if (!Array.isArray(entries)) return;
    const t = this.now();
    const loaded: Array<[string, Entry]> = [];
    for (const e of entries as unknown[]) {
      if (!Array.isArray(e)) continue;
      if (e.length === 4 || e.length === 5) {
        const [key, content, code, expires, rawAcks] = e as unknown[];
        if (typeof key !== "string" || !DIGEST.test(key)) continue;
        if (typeof content !== "string" || !DIGEST.test(content)) continue;
        if (typeof code !== "string" || !CODES.has(code) || typeof expires !== "number") continue;
        const acks = e.length === 5 ? ackList(rawAcks) : [];
        if (!acks) continue;
        if (expires > t) loaded.push([key, { digest: content, code, expires, acks: [...acks] }]);
      } else if (e.length === 3) {
        const [raw, code, expires] = e as unknown[];
        if (typeof raw !== "string" || typeof code !== "string" || !CODES.has(code)) continue;
        if (typeof expires !== "number" || expires <= t) continue;
        const parts = raw.split("\u0000");
        if (parts.length !== 3) continue;
        loaded.push([digest(parts[0], parts[1], parts[2]), { digest: "", code, expires, acks: [] }]);
      }
    }
    // Oldest first, as settle() would have added them, so that prune() drops the oldest.
    loaded.sort((a, b) => a[1].expires - b[1].expires);
    for (const [key, entry] of loaded) {
      if (this.done.has(key)) continue;
      this.done.set(key, entry);
    }
    this.prune();
  }
}
