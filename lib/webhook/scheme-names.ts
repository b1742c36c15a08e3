/** The signature schemes webhook-verify checks (lib/webhook/schemes.ts implements each). */
export type WebhookScheme = "pms-hmac" | "standard-webhooks" | "stripe" | "github";

export const WEBHOOK_SCHEMES: readonly WebhookScheme[] = [
  "pms-hmac",
  "standard-webhooks",
  "stripe",
  "github",
];
