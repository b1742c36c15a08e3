/**
 * Runs the FHIR sandbox on its own: `node dist/sandbox/fhir/main.js`.
 *
 * Environment: FHIR_PORT (or PORT; default 8080), FHIR_HOST (default 127.0.0.1),
 * FHIR_AUTH=1 to require tokens, FHIR_CLIENT_ID + FHIR_CLIENT_SECRET to register a
 * client_credentials client, FHIR_STATIC_TOKEN for a token valid forever,
 * FHIR_TOKEN_LIFETIME (seconds, default 300).
 */
import type { FhirSandbox, SandboxClient } from "./server";
import { startFhirSandbox } from "./server";

function flag(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes|on)$/i.test(value);
}

let sandbox: FhirSandbox | undefined;
let stopping = false;

function stop(signal: string): void {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the FHIR sandbox`);
  if (!sandbox) process.exit(0);
  sandbox.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

// Registered before start-up, so that a signal during it also ends the process cleanly.
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

async function main(): Promise<void> {
  const env = process.env;
  const port = Number(env.FHIR_PORT ?? env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`Bad port ${env.FHIR_PORT ?? env.PORT}`);
  const clients: SandboxClient[] = [];
  if (env.FHIR_CLIENT_ID && env.FHIR_CLIENT_SECRET) {
    clients.push({ clientId: env.FHIR_CLIENT_ID, clientSecret: env.FHIR_CLIENT_SECRET });
  }
  sandbox = await startFhirSandbox({
    port,
    host: env.FHIR_HOST ?? "127.0.0.1",
    auth: flag(env.FHIR_AUTH),
    tokenLifetimeSeconds: env.FHIR_TOKEN_LIFETIME !== undefined ? Number(env.FHIR_TOKEN_LIFETIME) : undefined,
    clients,
    staticTokens: env.FHIR_STATIC_TOKEN ? [env.FHIR_STATIC_TOKEN] : undefined,
  });
  console.log(`FHIR R4 sandbox: ${sandbox.url}`);
  console.log(`OAuth2 token endpoint: ${sandbox.tokenUrl}`);
}

main().catch((err: unknown) => {
  console.error(`FHIR sandbox failed to start: ${(err as Error).message}`);
  process.exit(1);
});
