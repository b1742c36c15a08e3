export {
  healthBus,
  reportHealth,
  reportQueue,
  reportRefusal,
  HEALTH_EVENT,
  QUEUE_EVENT,
  REFUSAL_EVENT,
  reportCheckpoint,
  CHECKPOINT_EVENT,
} from "./bus";
export type { CheckpointReport, HealthEvent, QueueMetrics, RefusalEvent } from "./bus";
export * from "./config";
export {
  HealthMonitor,
  errorText,
  isCheckpointReport,
  isQueueMetrics,
  isRefusalEvent,
  parseHealthInput,
} from "./monitor";
export type {
  AlertTransition,
  CheckpointSnapshot,
  Evaluation,
  HealthSnapshot,
  IntegrationSnapshot,
  LatencySummary,
  QueueAlertTransition,
  QueueSnapshot,
  RefusalCount,
} from "./monitor";
export { toPrometheus, PROMETHEUS_CONTENT_TYPE } from "./prometheus";
export { answerHealthRequest, validateHealthPath } from "./http";
export type { AnswerContext, HttpAnswer } from "./http";
export { renderDashboard } from "./dashboard";
export { LATENCY_BUCKETS_SECONDS, RELATIVE_ERROR } from "./histogram";
export { ProcessMetrics } from "./process";
export type { EventLoopLag, ProcessSample } from "./process";
