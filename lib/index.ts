export { PackError, isPackError, toCodedError } from "./errors";
export { healthBus, reportHealth, HEALTH_EVENT } from "./health/bus";
export type { HealthEvent } from "./health/bus";
export * from "./mapping";
