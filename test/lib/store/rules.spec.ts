import { expect } from "chai";
import { decodeMsg, deriveKey, encodeMsg, newSalt } from "../../../lib/store/codec";
import { QUEUE_DEFAULTS, isRetryable, nextTry } from "../../../lib/store/policy";
import { deadLetterOf, overdue, storeError, storeKey, type DeadRow } from "../../../lib/store/rules";
import { MESSAGE_STORE_STATE } from "../../../lib/store/types";
import { PackError } from "../../../lib/errors";

function thrown(fn: () => unknown): PackError {
  try {
    fn();
  } catch (err) {
    return err as PackError;
  }
  throw new Error("expected a throw");
}

describe("lib/store rules both backends share", () => {
  describe("the stored form of a msg", () => {
    const key = deriveKey("secret", newSalt());

    it("refuses an empty row, a row of an unknown format and a sealed row without a key as corrupt or keyless, by name", () => {
      for (const k of [undefined, key]) {
        const empty = thrown(() => decodeMsg(Buffer.alloc(0), k));
        expect([empty.code, empty.message]).to.deep.equal(["QUEUE_CORRUPT", "stored message is empty"]);
        const unknown = thrown(() => decodeMsg(Buffer.from([7, 0x7b, 0x7d]), k));
        expect([unknown.code, unknown.message]).to.deep.equal([
          "QUEUE_CORRUPT",
          "stored message has unknown format 7",
        ]);
      }
      const sealed = encodeMsg({ payload: "x" }, key);
      const keyless = thrown(() => decodeMsg(sealed));
      expect([keyless.code, keyless.message]).to.deep.equal([
        "QUEUE_KEY",
        "stored message is encrypted and the message store has no encryptionKey",
      ]);
    });

    it("refuses a sealed row under another key as QUEUE_KEY, keeping the cipher's error as the cause", () => {
      const sealed = encodeMsg({ payload: "x" }, key);
      const other = thrown(() => decodeMsg(sealed, deriveKey("another", newSalt())));
      expect([other.code, other.message]).to.deep.equal([
        "QUEUE_KEY",
        "stored message cannot be decrypted with this encryptionKey",
      ]);
      expect(other.cause).to.be.instanceOf(Error);
      expect(decodeMsg(sealed, key)).to.deep.equal({ payload: "x" });
    });

    it("reads a plain row written before the store had a key with the key", () => {
      expect(decodeMsg(encodeMsg({ payload: "old" }), key)).to.deep.equal({ payload: "old" });
    });

    it("gives back nulls and objects that only look like a Buffer as they were, beside a real Buffer", () => {
      const msg = {
        payload: Buffer.from([1, 2, 3]),
        nothing: null,
        list: [null, 1, "two"],
        lookalike: { type: "Other", data: [1, 2] },
        noData: { type: "Buffer", data: "not an array" },
      };
      for (const k of [undefined, key]) {
        const back = decodeMsg(encodeMsg(msg, k), k);
        expect(Buffer.isBuffer(back.payload)).to.equal(true);
        expect(back).to.deep.equal({ ...msg, payload: Buffer.from([1, 2, 3]) });
        expect(Buffer.isBuffer(back.lookalike)).to.equal(false);
        expect(Buffer.isBuffer(back.noData)).to.equal(false);
      }
    });
  });

  describe("the store's key", () => {
    it("derives the key from the secret and the store's salt, and checks it against the store's check", () => {
      const first = storeKey("secret", undefined, undefined);
      expect(first.key).to.have.length(32);
      const { salt, check } = first.seal!;
      expect(storeKey("secret", salt, check)).to.deep.equal({ key: first.key });
      // A salt without a check yet (a store sealed by an older version): the key alone.
      expect(storeKey("secret", salt, undefined)).to.deep.equal({ key: deriveKey("secret", salt) });
      const wrong = thrown(() => storeKey("another", salt, check));
      expect([wrong.code, wrong.message]).to.deep.equal([
        "QUEUE_KEY",
        "the encryptionKey does not match the key this message store was sealed with",
      ]);
      const none = thrown(() => storeKey(undefined, salt, check));
      expect(none.code).to.equal("QUEUE_KEY");
      expect(storeKey(undefined, undefined, undefined)).to.deep.equal({});
    });
  });

  describe("store failures", () => {
    it("names the action and keeps the driver's code under the driver's name, with the error as the cause", () => {
      const driver = Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });
      const err = storeError("sqlite", "enqueue", driver);
      expect([err.code, err.message]).to.deep.equal([
        "QUEUE_STORE",
        "message store: enqueue failed: database is locked",
      ]);
      expect(err.details).to.deep.equal({ sqlite: "SQLITE_BUSY" });
      expect(err.cause).to.equal(driver);
      const pg = storeError("postgres", "claim", Object.assign(new Error("gone"), { code: "57P01" }));
      expect(pg.details).to.deep.equal({ postgres: "57P01" });
    });

    it("gives no details for an error without a text code, and names a thrown value that is no Error", () => {
      const numbered = storeError("sqlite", "read", Object.assign(new Error("odd"), { code: 5 }));
      expect(numbered.details).to.equal(undefined);
      expect(storeError("sqlite", "read", "plain text").message).to.equal(
        "message store: read failed: plain text",
      );
      for (const value of [undefined, null]) {
        const err = storeError("postgres", "open", value);
        expect([err.message, err.details]).to.deep.equal([
          `message store: open failed: ${String(value)}`,
          undefined,
        ]);
      }
      const own = new PackError("QUEUE_KEY", "kept");
      expect(storeError("sqlite", "open", own)).to.equal(own);
    });
  });

  describe("a message past its turn", () => {
    const options = { ...QUEUE_DEFAULTS, dedupeWindowMs: 0, maxAttempts: 3, maxAgeMs: 90_000 };

    it("is expired only once it is older than the maximum age, saying the age in seconds", () => {
      expect(overdue(options, 1, 10_000, 100_000)).to.equal(undefined);
      expect(overdue(options, 1, 10_000, 100_001)).to.deep.equal({
        code: "QUEUE_EXPIRED",
        message: "not delivered within the queue's maximum age (90 s)",
      });
    });

    it("is interrupted once its attempts pass the maximum, counting the interruptions", () => {
      expect(overdue(options, 3, 10_000, 10_000)).to.equal(undefined);
      expect(overdue(options, 4, 10_000, 10_000)).to.deep.equal({
        code: "QUEUE_INTERRUPTED",
        message: "delivery was interrupted 3 times (the runtime stopped while it was in flight)",
      });
    });
  });

  describe("a dead letter", () => {
    const row: DeadRow = {
      id: 7,
      queue: "q",
      key: "k",
      attempt: 2,
      enqueued_at: 100,
      first_try_at: 200,
      last_try_at: 300,
      done_at: 400,
      error_code: "FHIR_HTTP_404",
      error_message: "not found",
    };

    it("is dead since it was finished, else since its last try, else since it was enqueued", () => {
      expect(deadLetterOf(row).deadAt).to.equal(400);
      expect(deadLetterOf({ ...row, done_at: null }).deadAt).to.equal(300);
      expect(deadLetterOf({ ...row, done_at: null, last_try_at: null }).deadAt).to.equal(100);
      expect(deadLetterOf({ ...row, done_at: 0 }).deadAt, "time 0 is a time").to.equal(0);
    });

    it("carries its row's fields, QUEUE_ERROR and an empty message when none was recorded", () => {
      expect(deadLetterOf(row)).to.deep.equal({
        id: 7,
        queue: "q",
        key: "k",
        code: "FHIR_HTTP_404",
        message: "not found",
        attempts: 2,
        enqueuedAt: 100,
        firstTryAt: 200,
        lastTryAt: 300,
        deadAt: 400,
      });
      const bare = deadLetterOf({ ...row, error_code: null, error_message: null });
      expect([bare.code, bare.message]).to.deep.equal(["QUEUE_ERROR", ""]);
    });
  });

  describe("retries", () => {
    const policy = { maxAttempts: 5, maxAgeMs: 60_000, backoffBaseMs: 1000, backoffCapMs: 10_000 };

    it("reads an HTTP status only at the end of a code, and retries 425", () => {
      expect(isRetryable("FHIR_HTTP_425")).to.equal(true);
      expect(isRetryable("FHIR_HTTP_503_BAD_INPUT"), "no status at the end: a bad input").to.equal(false);
    });

    it("retries a code naming a transient failure whatever raised it, and a user's code with such a suffix", () => {
      for (const code of ["FLOW_TIMEOUT", "MAP_NETWORK", "HL7_CLOSED", "MY_FETCH_ABORTED"]) {
        expect(isRetryable(code), code).to.equal(true);
      }
      expect(isRetryable("CLOSED_NETWORK_BAD_INPUT"), "a suffix counts at the end only").to.equal(false);
    });

    it("waits a Retry-After of 0 as asked, and takes the backoff for one that is negative or not finite", () => {
      const at = (retryAfterMs: number) =>
        nextTry(policy, { code: "FHIR_HTTP_503", retryAfterMs }, 1, 0, 100, () => 0);
      expect(at(0)).to.deep.equal({ retryAt: 100 });
      for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(at(bad), String(bad)).to.deep.equal({ retryAt: 600 });
      }
    });

    it("still retries a message whose retry comes exactly at its maximum age, measured from its enqueue", () => {
      expect(
        nextTry(policy, { code: "FHIR_NETWORK", retryAfterMs: 10_000 }, 1, 50_000, 100_000),
      ).to.deep.equal({
        retryAt: 110_000,
      });
      expect(
        nextTry(policy, { code: "FHIR_NETWORK", retryAfterMs: 10_001 }, 1, 50_000, 100_000),
      ).to.deep.equal({
        dead: "age",
      });
    });
  });

  it("names a message store in a node's state property as message-store:<id>, as flows hold it", () => {
    expect(MESSAGE_STORE_STATE).to.equal("message-store:");
  });
});
