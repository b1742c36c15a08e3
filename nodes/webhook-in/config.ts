import { CODES } from "../../lib/error-codes";
import { PackError } from "../../lib/errors";
import { BODY_DEFAULTS } from "../../lib/webhook/body";
import { integer, text } from "../webhook-verify/config";

/** The webhook-in properties as stored in the flow (editor values are strings). */
export interface WebhookInProps {
  url?: string;
  method?: string;
  maxBytes?: string | number;
  timeout?: string | number;
  maxConcurrent?: string | number;
}

export const WEBHOOK_IN_METHODS = ["post", "put", "patch"] as const;
export type WebhookInMethod = (typeof WEBHOOK_IN_METHODS)[number];

export const WEBHOOK_IN_DEFAULTS = {
  maxBytes: BODY_DEFAULTS.maxBytes,
  timeoutSeconds: BODY_DEFAULTS.timeoutMs / 1000,
  maxConcurrent: 32,
} as const;

export interface WebhookInOptions {
  /** The route's path under httpNodeRoot, with its leading "/". */
  url: string;
  method: WebhookInMethod;
  maxBytes: number;
  timeoutMs: number;
  /** Bodies read at once by this node; one more is answered 503 unread. */
  maxConcurrent: number;
}

function isMethod(value: string): value is WebhookInMethod {
  return (WEBHOOK_IN_METHODS as readonly string[]).includes(value);
}

export function optionsOf(props: WebhookInProps): WebhookInOptions {
  const url = text(props.url);
  if (url === "") throw new PackError(CODES.WEBHOOK_CONFIG, "webhook-in needs a URL");
  if (/[\s?#:*+()]/.test(url)) {
    throw new PackError(
      CODES.WEBHOOK_CONFIG,
      "the URL is a fixed path: no spaces, query, fragment or Express pattern (: * + ? ( ))",
    );
  }
  const method = (text(props.method) || "post").toLowerCase();
  if (!isMethod(method)) {
    throw new PackError(CODES.WEBHOOK_CONFIG, `method must be one of ${WEBHOOK_IN_METHODS.join(", ")}`);
  }
  return {
    url: url.startsWith("/") ? url : `/${url}`,
    method,
    maxBytes: integer("max bytes", props.maxBytes, WEBHOOK_IN_DEFAULTS.maxBytes, 1),
    timeoutMs: integer("body timeout", props.timeout, WEBHOOK_IN_DEFAULTS.timeoutSeconds, 1) * 1000,
    maxConcurrent: integer("max concurrent", props.maxConcurrent, WEBHOOK_IN_DEFAULTS.maxConcurrent, 1),
  };
}
