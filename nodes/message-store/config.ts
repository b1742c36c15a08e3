import type { Node } from "node-red";
import { isAbsolute, join, resolve } from "node:path";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import type { DeadLetterFilter } from "../../lib/store/types";
import { numberProp } from "../shared/props";
import type { OpenStore } from "../shared/queues";

export interface MessageStoreProps {
  backend?: string;
  file?: string;
  keepDelivered?: string | number;
  synchronous?: string;
}

export interface MessageStoreCredentials {
  encryptionKey?: string;
}

export type MessageStoreNode = Node<MessageStoreCredentials> & {
  open?: OpenStore;
  configError?: string;
};

export const DEFAULT_FILE = "pms-ehr-messages.db";

export function hours(value: unknown): number {
  const prop = { name: "keep delivered", code: CODES.QUEUE_CONFIG, min: 0, integer: false, unit: "hours" };
  return numberProp(value, 0, prop) * 3600_000;
}

/** The store's file: a relative name is under the Node-RED user directory. */
export function storeFile(userDir: string, file: string | undefined): string {
  const name = (file ?? "").trim() || DEFAULT_FILE;
  return isAbsolute(name) ? name : resolve(join(userDir, name));
}

export function filterOf(source: Record<string, unknown>): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  const text = (v: unknown): string | undefined =>
    typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
  const time = (v: unknown, name: string): number | undefined => {
    if (v === undefined || v === null || v === "") return undefined;
    const ms = typeof v === "number" ? v : /^\d+$/.test(String(v)) ? Number(v) : Date.parse(String(v));
    if (!Number.isFinite(ms))
      throw new PackError(CODES.QUEUE_BAD_INPUT, `${name} is not a time: ${String(v)}`);
    return ms;
  };
  if (source.ids !== undefined) {
    const raw = Array.isArray(source.ids) ? source.ids : String(source.ids).split(",");
    filter.ids = raw.map((v) => Number(v));
    if (filter.ids.some((n) => !Number.isSafeInteger(n))) {
      throw new PackError(CODES.QUEUE_BAD_INPUT, "ids must be whole numbers");
    }
  }
  filter.code = text(source.code);
  filter.key = text(source.key);
  filter.from = time(source.from, "from");
  filter.to = time(source.to, "to");
  if (source.limit !== undefined) filter.limit = Number(source.limit) || undefined;
  return filter;
}
