import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { isWebhookScheme, type WebhookScheme } from "../../lib/webhook/schemes";
import { VERIFIER_DEFAULTS } from "../../lib/webhook/verifier";
import { numberProp, propText } from "../shared/props";

/** The webhook-verify properties as stored in the flow (editor values are strings). */
export interface WebhookVerifyProps {
  scheme?: string;
  tolerance?: string | number;
  maxBytes?: string | number;
  maxIds?: string | number;
  respond?: boolean | string;
  integration?: string;
  store?: string;
}

export interface WebhookVerifyOptions {
  scheme: WebhookScheme;
  toleranceSeconds: number;
  maxBytes: number;
  maxIds: number;
  respond: boolean;
  integration: string;
  /** Where seen ids are kept (nodes/shared/state.ts); undefined: the durable default. */
  store?: string;
}

export const text = propText;

/** A whole number property; empty gives `fallback`; anything else below `min` is a WEBHOOK_CONFIG error. */
export function integer(name: string, value: unknown, fallback: number, min: number): number {
  return numberProp(value, fallback, { name, code: CODES.WEBHOOK_CONFIG, min });
}

export function optionsOf(props: WebhookVerifyProps): WebhookVerifyOptions {
  const scheme = text(props.scheme) || "pms-hmac";
  if (!isWebhookScheme(scheme))
    throw new PackError(CODES.WEBHOOK_CONFIG, `unknown webhook scheme "${scheme}"`);
  return {
    scheme,
    toleranceSeconds: integer("tolerance", props.tolerance, VERIFIER_DEFAULTS.toleranceSeconds, 1),
    maxBytes: integer("max bytes", props.maxBytes, VERIFIER_DEFAULTS.maxBytes, 1),
    maxIds: integer("max ids", props.maxIds, VERIFIER_DEFAULTS.maxIds, 0),
    respond: props.respond !== false && props.respond !== "false",
    integration: text(props.integration) || "webhook",
    store: text(props.store) || undefined,
  };
}
