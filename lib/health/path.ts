/** First path segments that Node-RED's admin API or editor already uses. */
export const RESERVED_FIRST_SEGMENTS: readonly string[] = [
  "auth",
  "comms",
  "context",
  "credentials",
  "debug",
  "diagnostics",
  "editor",
  "favicon.ico",
  "flow",
  "flows",
  "icons",
  "inject",
  "library",
  "locales",
  "nodes",
  "plugins",
  "projects",
  "red",
  "settings",
  "theme",
  "vendor",
];

/** A health-monitor path as configured, trimmed and without a trailing slash. */
export function normalHealthPath(raw: string): string {
  const p = String(raw ?? "").trim();
  return p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p;
}

/**
 * What is wrong with a health-monitor path, or undefined when it is good: it must be
 * `/segment[/segment...]` of letters, digits and `._~-`, at most 100 characters, and not under a
 * path of Node-RED's own admin API.
 */
export function healthPathProblem(raw: string): string | undefined {
  const p = normalHealthPath(raw);
  if (!p.startsWith("/")) return `path must start with "/": ${JSON.stringify(raw)}`;
  if (p.length > 100) return "path must be at most 100 characters";
  const segments = p.slice(1).split("/");
  for (const s of segments) {
    if (!/^[A-Za-z0-9._~-]+$/.test(s) || s === "." || s === "..") {
      return `path ${JSON.stringify(raw)}: each segment must be letters, digits or . _ ~ - (no "..", no empty segment)`;
    }
  }
  if (RESERVED_FIRST_SEGMENTS.includes(segments[0].toLowerCase())) {
    return `path ${JSON.stringify(raw)} is under Node-RED's own /${segments[0]}`;
  }
  return undefined;
}
