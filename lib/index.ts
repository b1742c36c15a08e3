export { PackError, isPackError, toCodedError } from "./errors";
export { healthBus, reportHealth, HEALTH_EVENT } from "./health/bus";
export type { HealthEvent } from "./health/bus";
export * from "./mapping";
export {
  CODES,
  ERROR_CODES,
  ERROR_CODE_FAMILIES,
  codesOfNode,
  describeCode,
  fhirHttpCode,
  isErrorCode,
  isFhirHttpCode,
  legacyHttpCode,
} from "./error-codes";
export type { CodeInfo, CodeKind, Codes, ErrorCode, ErrorCodeFamily, PackErrorCode } from "./error-codes";
