export { compileMapping, checkMapping, ruleLabel } from "./compile";
export {
  builtinMappings,
  builtinIdentifierSystems,
  builtinRules,
  builtinSamples,
  builtinVariables,
  compileBuiltin,
  isBuiltinMappingName,
  PMS_UPDATED_AT_EXTENSION,
} from "./builtins";
export type { BuiltinMappingName } from "./builtins";
export { transformCatalog } from "./transforms";
export type { TransformInfo } from "./transforms";
export { validatorNames } from "./validators";
export { BUILTIN_MAPPING_NAMES, MAP_DIRECTIONS, MAPPING_DIRECTIONS } from "./types";
export type {
  CompileOptions,
  CompiledMapping,
  MapResult,
  MappingDirection,
  MappingError,
  MappingErrorCode,
  MappingIssue,
  MappingRule,
  MappingWarning,
  MappingWarningCode,
} from "./types";
export { PMS_APPOINTMENT_STATUSES } from "./records";
export type { PmsAddress, PmsAppointment, PmsAppointmentStatus, PmsPatient, PmsProvider } from "./records";
export { compileMappingConfig, isMapDirection, mapPayload, refusalsOf, REFUSED_MODES } from "./config";
export type {
  IndexedError,
  IndexedWarning,
  MapDirection,
  MappingConfig,
  MapRefusal,
  PayloadOutcome,
  RefusedMode,
} from "./config";
