import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { CODES } from "../error-codes";
import { PackError } from "../errors";
import type { StoredMsg } from "./types";

/**
 * How a stored msg is written: JSON (Buffers kept as Buffers), then, with a key, sealed with
 * AES-256-GCM. The first byte says which, so a store that gains a key later still reads the
 * rows written before it.
 */

const PLAIN = 0;
const SEALED = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key of a store: scrypt of the user's `encryptionKey` with the store's own salt. */
export function deriveKey(secret: string, salt: Buffer): Buffer {
  return scryptSync(secret.normalize("NFC"), salt, 32, { N: 16384, r: 8, p: 1 });
}

export function newSalt(): Buffer {
  return randomBytes(16);
}

function reviver(_key: string, value: unknown): unknown {
  if (
    value !== null &&
    typeof value === "object" &&
    (value as { type?: unknown }).type === "Buffer" &&
    Array.isArray((value as { data?: unknown }).data)
  ) {
    return Buffer.from((value as { data: number[] }).data);
  }
  return value;
}

/** How JSON.stringify writes a Buffer; a text without it has nothing for the reviver to do. */
const BUFFER_TEXT = '"type":"Buffer"';
const BUFFER_MARK = Buffer.from(BUFFER_TEXT);

export function encodeMsg(msg: StoredMsg, key?: Buffer): Buffer {
  return encodeText(JSON.stringify(msg), key);
}

/** encodeMsg of a msg already written as JSON (`JSON.stringify(msg)`). */
export function encodeText(text: string, key?: Buffer): Buffer {
  if (!key) {
    const blob = Buffer.allocUnsafe(1 + Buffer.byteLength(text, "utf8"));
    blob[0] = PLAIN;
    blob.write(text, 1, "utf8");
    return blob;
  }
  const json = Buffer.from(text, "utf8");
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(json), cipher.final()]);
  return Buffer.concat([Buffer.of(SEALED), iv, cipher.getAuthTag(), body]);
}

export function decodeMsg(blob: Buffer, key?: Buffer): StoredMsg {
  if (blob.length === 0) throw new PackError(CODES.QUEUE_CORRUPT, "stored message is empty");
  let json: Buffer;
  if (blob[0] === PLAIN) {
    json = blob.subarray(1);
  } else if (blob[0] === SEALED) {
    if (!key) {
      throw new PackError(
        CODES.QUEUE_KEY,
        "stored message is encrypted and the message store has no encryptionKey",
      );
    }
    const iv = blob.subarray(1, 1 + IV_BYTES);
    const tag = blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAuthTag(tag);
    try {
      json = Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch (err) {
      throw new PackError(
        CODES.QUEUE_KEY,
        "stored message cannot be decrypted with this encryptionKey",
        undefined,
        {
          cause: err,
        },
      );
    }
  } else {
    throw new PackError(CODES.QUEUE_CORRUPT, `stored message has unknown format ${blob[0]}`);
  }
  const text = json.toString("utf8");
  return (json.includes(BUFFER_MARK) ? JSON.parse(text, reviver) : JSON.parse(text)) as StoredMsg;
}

/** The msg that encodeText sealed, from its JSON. */
export function parseText(text: string): StoredMsg {
  return (text.includes(BUFFER_TEXT) ? JSON.parse(text, reviver) : JSON.parse(text)) as StoredMsg;
}
