export * from "./checkpoint";
export { compareCursors, compareMarks, highestMark, isAfter, parseCursor } from "./mark";
export type { Cursor, Mark } from "./mark";
export { MemoryCheckpointStore, storageKey } from "./store";
export type { CheckpointStore } from "./store";
export { formatInstant, parseDuration, parseInstant, resolveInitial } from "./time";
export type { Instant } from "./time";
export { resolveContextStore } from "./stores";
