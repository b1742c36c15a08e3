/**
 * The rule for a service's base URL, for the runtime (`normalizeBaseUrl`) and the dialogs of the
 * fhir-server and legacy-api config nodes: what is wrong with `text` in words, or undefined.
 */
export function httpUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return "is not a valid URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be http or https";
  if (url.username || url.password) return "must not contain credentials";
  return undefined;
}
