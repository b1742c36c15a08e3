export * from "./types";
export { QUEUE_DEFAULTS, isRetryable, nextTry, type RetryPolicy } from "./policy";
export { SqliteMessageStore, openSqliteStore, type SqliteStoreOptions } from "./sqlite";
