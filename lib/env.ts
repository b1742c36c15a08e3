/**
 * A whole property value that is an environment variable reference, `${NAME}`: Node-RED
 * replaces it with the variable's value when it loads the flow, so an editor accepts it in any
 * field whose literal value it would otherwise check, and a flow file may hold it where a secret
 * belongs.
 */
export const ENV_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** Whether `value`, trimmed, is one `${NAME}` reference. */
export function isEnvReference(value: unknown): boolean {
  return ENV_REFERENCE.test(String(value ?? "").trim());
}
