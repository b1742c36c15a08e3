export { healthBus, reportHealth, HEALTH_EVENT } from "./bus";
export type { HealthEvent } from "./bus";
export * from "./config";
export { HealthMonitor, errorText, parseHealthInput } from "./monitor";
export type {
  AlertTransition,
  Evaluation,
  HealthSnapshot,
  IntegrationSnapshot,
  LatencySummary,
} from "./monitor";
export { toPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus";
export { answerHealthRequest, validateHealthPath } from "./http";
export type { AnswerContext, HttpAnswer } from "./http";
export { renderDashboard } from "./dashboard";
export { RELATIVE_ERROR } from "./histogram";
