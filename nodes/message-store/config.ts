import type { Node } from "node-red";
import { isAbsolute, join, resolve } from "node:path";
import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import type { TlsOptions } from "../../lib/fhir/types";
import { checkSchemaName } from "../../lib/store/pg-migrations";
import type { PgStoreOptions } from "../../lib/store/postgres";
import type { DeadLetterFilter } from "../../lib/store/types";
import { numberProp } from "../shared/props";
import type { OpenStore } from "../shared/queues";

export interface MessageStoreProps {
  backend?: string;
  file?: string;
  keepDelivered?: string | number;
  synchronous?: string;
  pgHost?: string;
  pgPort?: string | number;
  pgDatabase?: string;
  pgUser?: string;
  pgSchema?: string;
  /** A core tls-config node: TLS to the server, verified as that node says. */
  tls?: string;
}

export interface MessageStoreCredentials {
  encryptionKey?: string;
  pgPassword?: string;
}

export const BACKENDS = ["sqlite", "postgres"] as const;

/**
 * The PostgreSQL connection from the node's properties (QUEUE_CONFIG naming the property when one is
 * unusable), and the place it names, without the password: postgres://user@host:port/database#schema.
 */
export function pgSettings(
  props: MessageStoreProps,
  credentials: MessageStoreCredentials | undefined,
  tls: TlsOptions | undefined,
): { options: PgStoreOptions; place: string } {
  const text = (value: unknown, name: string, fallback: string): string => {
    const t = String(value ?? "").trim() || fallback;
    if (t.startsWith("${"))
      throw new PackError(CODES.QUEUE_CONFIG, `${name}: environment variable ${t} is not set`);
    return t;
  };
  const host = text(props.pgHost, "host", "127.0.0.1");
  const port = numberProp(props.pgPort, 5432, { name: "port", code: CODES.QUEUE_CONFIG, min: 1, max: 65535 });
  const database = text(props.pgDatabase, "database", "postgres");
  const user = text(props.pgUser, "user", "postgres");
  const schema = checkSchemaName(text(props.pgSchema, "schema", "pms_ehr"));
  const place = `postgres://${encodeURIComponent(user)}@${host}:${port}/${encodeURIComponent(database)}#${schema}`;
  return {
    place,
    options: {
      host,
      port,
      database,
      user,
      password: credentials?.pgPassword || undefined,
      schema,
      ssl: tls ? { ...tls } : undefined,
    },
  };
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
